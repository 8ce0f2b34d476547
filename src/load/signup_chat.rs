//! Journey signup-chat: register, login, profile, create a thread, open the WebSocket, get the
//! first agent reply, then check the thread's history and that the thread list holds only this
//! user's thread. A fresh user per journey, so no rate limit or quota is ever reached.

use super::journey::{Context, State, Step};
use crate::client::CallError;

pub const STEPS: [Step; 8] = [
    Step::Register,
    Step::Login,
    Step::Profile,
    Step::CreateThread,
    Step::WsConnect,
    Step::FirstReply,
    Step::History,
    Step::ListThreads,
];

pub async fn perform(ctx: &Context, j: &mut State, step: Step) -> Result<(), CallError> {
    let netra = &ctx.netra;
    match step {
        Step::Register => {
            j.new_identity(&ctx.run_tag);
            netra.register(&j.email, &j.password, &ctx.plan_tier).await.map(drop)
        }
        Step::Login => {
            j.login = Some(netra.login(&j.email, &j.password).await?);
            Ok(())
        }
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
            j.thread =
                Some(netra.create_thread(&token, &format!("netra-load journey {}", j.iteration)).await?);
            Ok(())
        }
        Step::WsConnect => {
            let login = j.logged_in()?;
            let chat = netra.chat(&login.access).await?;
            if chat.user_id != login.user_id {
                return Err(CallError::wrong("ws_connect: the connection belongs to another user"));
            }
            j.chat = Some(chat);
            Ok(())
        }
        Step::FirstReply => {
            let thread = j.thread.clone().ok_or_else(|| CallError::wrong("first_reply: no thread"))?;
            j.message = format!("hello from {} #{}", j.email, j.iteration);
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
            if ids != [thread.as_str()] {
                return Err(CallError::wrong(format!(
                    "list_threads: expected only this user's thread, got {} threads",
                    ids.len()
                )));
            }
            Ok(())
        }
        other => Err(CallError::wrong(format!("signup-chat has no step {}", other.name()))),
    }
}
