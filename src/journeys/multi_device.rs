//! Journey multi-device: three logins of one user on three connections; a turn on one reaches
//! all three; logging out one device leaves the other two working and refuses the logged-out
//! one.

use super::{Context, Step, Steps, User};
use crate::client::chat::ChatSession;
use crate::client::{CallError, Login, Method, Netra, StatusCode};

pub const STEPS: &[Step] = &[
    Step::Register,
    Step::Login,
    Step::MoreDevices,
    Step::ConnectDevices,
    Step::ChatAllDevices,
    Step::LogoutOneDevice,
    Step::OthersStillWork,
];

#[derive(Default)]
pub struct MultiDevice {
    /// The other devices' logins (the first device is the user's own login).
    devices: Vec<Login>,
    /// Every device's connection, the first device's first.
    chats: Vec<ChatSession>,
    thread: Option<String>,
}

impl Steps for MultiDevice {
    async fn close(&mut self) {
        for chat in self.chats.drain(..) {
            chat.close().await;
        }
    }

    async fn step(&mut self, ctx: &Context, netra: &Netra, user: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::MoreDevices => {
                for _ in 0..2 {
                    let device = netra.login(&user.email, &user.password).await?;
                    self.devices.push(device);
                }
                Ok(())
            }
            Step::ConnectDevices => {
                let mut tokens = vec![user.logged_in()?.access.clone()];
                tokens.extend(self.devices.iter().map(|d| d.access.clone()));
                for token in tokens {
                    let chat = netra.chat(&token).await?;
                    ctx.isolation.own(&chat.connection_id, user.number as u32);
                    self.chats.push(chat);
                }
                let title = format!("devices {}", user.canary);
                let thread = netra.create_thread(&user.logged_in()?.access, &title).await?;
                ctx.isolation.thread_created(&thread, user.number as u32);
                self.thread = Some(thread);
                Ok(())
            }
            Step::ChatAllDevices => {
                let thread = self.thread()?;
                let content = format!("to every device {}", user.canary);
                let (first, others) =
                    self.chats.split_first_mut().ok_or_else(|| CallError::wrong("no devices"))?;
                first.send(&content, &thread).await?;
                first.wait_for_turn(&thread, &content).await.map_err(|e| e.within("device 1"))?;
                // The other devices get the turn too when events go to every connection of the
                // owner; with `ws_fanout = "origin"` they get nothing (and the scanner sees that
                // nothing foreign reaches them either).
                if netra.api().ws_fanout == crate::reference::WsFanout::Owner {
                    for (n, chat) in others.iter_mut().enumerate() {
                        chat.wait_for_turn(&thread, &content)
                            .await
                            .map_err(|e| e.within(format!("device {}", n + 2)))?;
                    }
                }
                Ok(())
            }
            Step::LogoutOneDevice => netra.logout(&user.logged_in()?.access).await,
            Step::OthersStillWork => {
                let req = netra.backend_request(Method::GET, &netra.api().profile, &user.logged_in()?.access);
                let first = netra.status_of("others_still_work", req).await?;
                if first != StatusCode::UNAUTHORIZED {
                    return Err(CallError::wrong(format!(
                        "others_still_work: the logged-out device got {first}"
                    )));
                }
                for device in &self.devices {
                    netra.profile(&device.access).await?;
                }
                let thread = self.thread()?;
                let chat = self.chats.get_mut(1).ok_or_else(|| CallError::wrong("no second device"))?;
                chat.turn(&format!("still here {}", user.canary), Some(&thread)).await.map(drop)
            }
            other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
        }
    }
}

impl MultiDevice {
    fn thread(&self) -> Result<String, CallError> {
        self.thread.clone().ok_or_else(|| CallError::wrong("no thread"))
    }
}
