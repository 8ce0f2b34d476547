//! Journey idle-chat, for measuring netra-load itself (`bench/`), not Netra: register, login,
//! open the WebSocket, then hold it (pinging every 5 s) until the run ends: the generator's
//! memory per connected user.

use std::time::Duration;

use super::{Context, Step, Steps, User};
use crate::client::chat::ChatSession;
use crate::client::{CallError, Netra};

pub const STEPS: &[Step] = &[Step::Register, Step::Login, Step::WsConnect, Step::Hold];

#[derive(Default)]
pub struct IdleChat {
    chat: Option<ChatSession>,
}

impl Steps for IdleChat {
    async fn step(&mut self, ctx: &Context, netra: &Netra, user: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::WsConnect => {
                self.chat = Some(netra.chat(&user.logged_in()?.access).await?);
                Ok(())
            }
            Step::Hold => {
                let chat = self.chat.as_mut().ok_or_else(|| CallError::wrong("hold: no connection"))?;
                // Until the run's end, which ends this step (see `runner::run_step`).
                loop {
                    let until = std::time::Instant::now() + Duration::from_secs(5);
                    super::runner::wait_on_purpose(ctx, user, until).await;
                    chat.ping().await?;
                }
            }
            other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
        }
    }

    async fn close(&mut self) {
        super::hang_up(&mut self.chat).await;
    }
}
