//! Two journeys for measuring netra-load itself (`bench/`), not Netra:
//!
//! - **health**: one `GET /health` of the backend, checked, and again: the generator's cost per
//!   request on the simplest endpoint, beside `oha` on the same URL.
//! - **idle-chat**: register, login, open the WebSocket, then hold it (pinging every 5 s) until
//!   the run ends: the generator's memory per connected user.

use std::time::Duration;

use super::journey::{Context, State, Step};
use crate::client::{CallError, Netra};

pub const HEALTH: [Step; 1] = [Step::Health];
pub const IDLE_CHAT: [Step; 4] = [Step::Register, Step::Login, Step::WsConnect, Step::Hold];

pub async fn perform(_ctx: &Context, netra: &Netra, j: &mut State, step: Step) -> Result<(), CallError> {
    match step {
        // Through the same call as every other step: status, JSON and the isolation scanner.
        Step::Health => netra.health().await.map(drop),
        Step::WsConnect => {
            let chat = netra.chat(&j.logged_in()?.access).await?;
            j.chat = Some(chat);
            Ok(())
        }
        Step::Hold => {
            let chat = j.chat.as_mut().ok_or_else(|| CallError::wrong("hold: no connection"))?;
            // Until the run's end, which ends this step (see `journey::run_step`).
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                chat.ping().await?;
            }
        }
        other => Err(CallError::wrong(format!("bench journeys have no step {}", other.name()))),
    }
}
