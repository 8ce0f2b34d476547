//! Journey idle-chat, for measuring netra-load itself (`bench/`), not Netra: register, login,
//! open the WebSocket, then hold it (pinging every 5 s) until the run ends: the generator's
//! memory per connected user.

use std::time::Duration;

use super::{Closing, Context, Performing, Progress, Step, User};
use crate::client::chat::ChatSession;
use crate::client::{CallError, Netra};

pub const STEPS: &[Step] = &[Step::Register, Step::Login, Step::WsConnect, Step::Hold];

#[derive(Default)]
struct IdleChat {
    chat: Option<ChatSession>,
}

pub fn start() -> Box<dyn Progress> {
    Box::<IdleChat>::default()
}

impl Progress for IdleChat {
    fn perform<'a>(
        &'a mut self,
        ctx: &'a Context,
        netra: &'a Netra,
        user: &'a mut User,
        step: Step,
    ) -> Performing<'a> {
        Box::pin(async move {
            match step {
                Step::WsConnect => {
                    self.chat = Some(netra.chat(&user.logged_in()?.access).await?);
                    Ok(())
                }
                Step::Hold => {
                    let chat = self.chat.as_mut().ok_or_else(|| CallError::wrong("hold: no connection"))?;
                    // Until the run's end, which ends this step (see `runner::run_step`).
                    loop {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        chat.ping().await?;
                    }
                }
                other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
            }
        })
    }

    fn close(&mut self) -> Closing<'_> {
        Box::pin(async {
            if let Some(chat) = self.chat.take() {
                chat.close().await;
            }
        })
    }
}
