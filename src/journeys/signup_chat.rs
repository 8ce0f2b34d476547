//! Journey signup-chat: register, login, profile, create a thread, open the WebSocket, get the
//! first agent reply, then check the thread's history and that the thread list holds only this
//! user's thread. A fresh user per journey, so no rate limit or quota is ever reached.
//!
//! Journey chat-export is signup-chat followed by the export, which must hold this user's own
//! message (foreign data in it is the scanner's business).

use super::{Context, Step, Steps, User};
use crate::client::chat::ChatSession;
use crate::client::{CallError, Netra};

/// signup-chat followed by the export (journey chat-export).
pub const WITH_EXPORT: &[Step] = &[
    Step::Register,
    Step::Login,
    Step::Profile,
    Step::CreateThread,
    Step::WsConnect,
    Step::FirstReply,
    Step::History,
    Step::ListThreads,
    Step::Export,
];

/// signup-chat: the export's steps without the export.
pub const STEPS: &[Step] = WITH_EXPORT.split_at(8).0;

#[derive(Default)]
pub struct SignupChat {
    thread: Option<String>,
    chat: Option<ChatSession>,
    message: String,
    reply: String,
}

impl Steps for SignupChat {
    async fn close(&mut self) {
        super::hang_up(&mut self.chat).await;
    }

    async fn step(&mut self, ctx: &Context, netra: &Netra, user: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::Profile => {
                let login = user.logged_in()?;
                let profile = netra.profile(&login.access).await?;
                if profile["user_id"] != login.user_id.as_str() || profile["email"] != user.email.as_str() {
                    return Err(CallError::wrong("profile: the answer describes another user"));
                }
                Ok(())
            }
            Step::CreateThread => {
                let token = &user.logged_in()?.access;
                let title = format!("netra-load journey {} {}", user.iteration, user.canary);
                let thread = netra.create_thread(token, &title).await?;
                ctx.isolation.thread_created(&thread, user.number as u32);
                self.thread = Some(thread);
                Ok(())
            }
            Step::WsConnect => {
                let login = user.logged_in()?;
                let chat = netra.chat(&login.access).await?;
                if chat.user_id != login.user_id {
                    return Err(CallError::wrong("ws_connect: the connection belongs to another user"));
                }
                ctx.isolation.own(&chat.connection_id, user.number as u32);
                self.chat = Some(chat);
                Ok(())
            }
            Step::FirstReply => {
                let thread = self.thread.clone().ok_or_else(|| CallError::wrong("first_reply: no thread"))?;
                self.message = format!("hello from {} #{} {}", user.email, user.iteration, user.canary);
                let chat =
                    self.chat.as_mut().ok_or_else(|| CallError::wrong("first_reply: not connected"))?;
                let turn = chat.turn(&self.message, Some(&thread)).await?;
                // That it answers this message is the turn's matching (client/turn.rs).
                if turn.thread_id != thread {
                    return Err(CallError::wrong("first_reply: the reply does not answer this message"));
                }
                self.reply = turn.reply;
                Ok(())
            }
            Step::History => {
                let thread = self.thread.as_deref().unwrap_or_default();
                let history = netra.messages(&user.logged_in()?.access, thread).await?;
                let contents: Vec<&str> = history["messages"]
                    .as_array()
                    .map(|m| m.iter().filter_map(|m| m["content"].as_str()).collect())
                    .unwrap_or_default();
                if !contents.contains(&self.message.as_str()) || !contents.contains(&self.reply.as_str()) {
                    return Err(CallError::wrong("history: the thread lacks the message or the reply"));
                }
                Ok(())
            }
            Step::ListThreads => {
                let thread = self.thread.as_deref().unwrap_or_default();
                let threads = netra.list_threads(&user.logged_in()?.access).await?;
                let ids: Vec<&str> = threads.iter().filter_map(|t| t["id"].as_str()).collect();
                // An existing account keeps its earlier threads; whether any in the list is
                // another simulated user's is the scanner's business (every id is looked up in
                // the ledger).
                if netra.api().provisioning.reuses_accounts() {
                    if !ids.contains(&thread) {
                        return Err(CallError::wrong("list_threads: this user's new thread is not listed"));
                    }
                } else if ids != [thread] {
                    return Err(CallError::wrong(format!(
                        "list_threads: expected only this user's thread, got {} threads",
                        ids.len()
                    )));
                }
                Ok(())
            }
            Step::Export => {
                let login = user.logged_in()?;
                let export = netra.export(&login.access).await?;
                // Foreign data in it is the scanner's business; here: is this user's own data
                // there?
                let text = export.to_string();
                if !text.contains(&self.message) || export["user_id"] != login.user_id.as_str() {
                    return Err(CallError::wrong("export: this user's message or id is missing"));
                }
                Ok(())
            }
            other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
        }
    }
}
