//! Journey signup-chat: register, login, profile, create a thread, open the WebSocket, get the
//! first agent reply, then check the thread's history and that the thread list holds only this
//! user's thread. A fresh user per journey, so no rate limit or quota is ever reached.

use super::journey::{Context, State, Step};
use crate::client::{CallError, Netra};

/// signup-chat followed by the export (journey chat-export).
pub const WITH_EXPORT: [Step; 9] = [
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
pub const STEPS: &[Step] = WITH_EXPORT.as_slice().split_at(8).0;

pub async fn perform(ctx: &Context, netra: &Netra, j: &mut State, step: Step) -> Result<(), CallError> {
    match step {
        Step::Profile => {
            let login = j.logged_in()?;
            let profile = netra.profile(&login.access).await?;
            if profile["user_id"] != login.user_id.as_str() || profile["email"] != j.email.as_str() {
                return Err(CallError::wrong("profile: the answer describes another user"));
            }
            Ok(())
        }
        Step::CreateThread => {
            let token = j.logged_in()?.access.clone();
            let title = format!("netra-load journey {} {}", j.iteration, j.canary);
            let thread = netra.create_thread(&token, &title).await?;
            ctx.isolation.thread_created(&thread, j.user as u32);
            j.thread = Some(thread);
            Ok(())
        }
        Step::WsConnect => {
            let login = j.logged_in()?;
            let chat = netra.chat(&login.access).await?;
            if chat.user_id != login.user_id {
                return Err(CallError::wrong("ws_connect: the connection belongs to another user"));
            }
            ctx.isolation.own(&chat.connection_id, j.user as u32);
            j.chat = Some(chat);
            Ok(())
        }
        Step::FirstReply => {
            let thread = j.thread.clone().ok_or_else(|| CallError::wrong("first_reply: no thread"))?;
            j.message = format!("hello from {} #{} {}", j.email, j.iteration, j.canary);
            let chat = j.chat.as_mut().ok_or_else(|| CallError::wrong("first_reply: not connected"))?;
            let turn = chat.turn(&j.message, Some(&thread)).await?;
            if turn.thread_id != thread || !turn.reply.contains(&j.message) {
                return Err(CallError::wrong("first_reply: the reply does not answer this message"));
            }
            j.reply = turn.reply;
            Ok(())
        }
        Step::History => {
            let (token, thread) = (j.logged_in()?.access.clone(), j.thread.clone().unwrap_or_default());
            let history = netra.messages(&token, &thread).await?;
            let contents: Vec<&str> = history["messages"]
                .as_array()
                .map(|m| m.iter().filter_map(|m| m["content"].as_str()).collect())
                .unwrap_or_default();
            if !contents.contains(&j.message.as_str()) || !contents.contains(&j.reply.as_str()) {
                return Err(CallError::wrong("history: the thread lacks the message or the reply"));
            }
            Ok(())
        }
        Step::ListThreads => {
            let (token, thread) = (j.logged_in()?.access.clone(), j.thread.clone().unwrap_or_default());
            let threads = netra.list_threads(&token).await?;
            let ids: Vec<&str> = threads.iter().filter_map(|t| t["id"].as_str()).collect();
            // An existing account keeps its earlier threads; whether any in the list is another
            // simulated user's is the scanner's business (every id is looked up in the ledger).
            if netra.api().provisioning.reuses_accounts() {
                if !ids.contains(&thread.as_str()) {
                    return Err(CallError::wrong("list_threads: this user's new thread is not listed"));
                }
            } else if ids != [thread.as_str()] {
                return Err(CallError::wrong(format!(
                    "list_threads: expected only this user's thread, got {} threads",
                    ids.len()
                )));
            }
            Ok(())
        }
        Step::Export => {
            let export = netra.export(&j.logged_in()?.access).await?;
            // Foreign data in it is the scanner's business; here: is this user's own data there?
            let text = export.to_string();
            if !text.contains(&j.message) || export["user_id"] != j.logged_in()?.user_id.as_str() {
                return Err(CallError::wrong("export: this user's message or id is missing"));
            }
            Ok(())
        }
        other => Err(CallError::wrong(format!("signup-chat has no step {}", other.name()))),
    }
}
