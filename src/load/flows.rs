//! The platform's other flows from its test plans, each a journey of its own:
//!
//! - **consistency**: the auth service's `/auth/me` and the backend's profile agree on id and email.
//! - **data-export**: three messages posted over HTTP are all in the export, whose
//!   `message_count` matches the messages it holds (foreign data is the scanner's business).
//! - **multi-device**: three logins of one user on three connections; a turn on one reaches all
//!   three; logging out one device leaves the other two working and refuses the logged-out one.
//! - **ws-resilience**: the connection drops mid-turn (the client cuts it after `agent_started`),
//!   the user reconnects (the step's time is the time to recover), and the message and the reply
//!   are in the thread's history (polled up to [`RECOVERY_WAIT`]; missing: `message_lost`); then a
//!   turn on the new connection works, reconnecting once if the server drops it.

use std::time::{Duration, Instant};

use crate::client::{Method, StatusCode};
use serde_json::Value;

use super::journey::{Context, State, Step};
use crate::client::chat::ChatSession;
use crate::client::{CallError, Netra};

pub const CONSISTENCY: [Step; 4] = [Step::Register, Step::Login, Step::AuthMe, Step::Profile];
pub const DATA_EXPORT: [Step; 5] =
    [Step::Register, Step::Login, Step::CreateThread, Step::PostMessages, Step::Export];
pub const MULTI_DEVICE: [Step; 7] = [
    Step::Register,
    Step::Login,
    Step::MoreDevices,
    Step::ConnectDevices,
    Step::ChatAllDevices,
    Step::LogoutOneDevice,
    Step::OthersStillWork,
];
pub const WS_RESILIENCE: [Step; 8] = [
    Step::Register,
    Step::Login,
    Step::CreateThread,
    Step::WsConnect,
    Step::InterruptedTurn,
    Step::Reconnect,
    Step::HistoryAfterDrop,
    Step::TurnAfterReconnect,
];

/// How long the reply of an interrupted turn may take to show in the history.
pub const RECOVERY_WAIT: Duration = Duration::from_secs(5);
const MESSAGES: usize = 3;
/// How many times a turn reconnects after the server dropped it.
const RECONNECTS: u32 = 3;

pub async fn perform(ctx: &Context, netra: &Netra, j: &mut State, step: Step) -> Result<(), CallError> {
    match step {
        Step::AuthMe => {
            let me = netra.me(&j.logged_in()?.access).await?;
            j.seen = Some(me);
            Ok(())
        }
        Step::Profile => {
            let profile = netra.profile(&j.logged_in()?.access).await?;
            let me = j.seen.take().unwrap_or_default();
            if profile["user_id"] != me["id"] || profile["email"] != me["email"] {
                return Err(CallError::wrong(format!(
                    "profile: the backend says {} / {}, the auth service {} / {}",
                    profile["user_id"], profile["email"], me["id"], me["email"]
                )));
            }
            Ok(())
        }
        Step::CreateThread => {
            let title = format!("netra-load {} {}", ctx.journey.name(), j.canary);
            let thread = netra.create_thread(&j.logged_in()?.access, &title).await?;
            ctx.isolation.thread_created(&thread, j.user as u32);
            j.thread = Some(thread);
            Ok(())
        }
        Step::PostMessages => {
            let (token, thread) = (j.logged_in()?.access.clone(), thread(j)?);
            for n in 1..=MESSAGES {
                let content = format!("export message {n} {}", j.canary);
                netra.post_message(&token, &thread, &content).await?;
                j.sent.push(content);
            }
            Ok(())
        }
        Step::Export => {
            let export = netra.export(&j.logged_in()?.access).await?;
            let contents: Vec<&str> = export["threads"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|t| t["messages"].as_array().into_iter().flatten())
                .filter_map(|m| m["content"].as_str())
                .collect();
            if let Some(missing) = j.sent.iter().find(|m| !contents.contains(&m.as_str())) {
                return Err(CallError::wrong(format!("export: lacks the message `{missing}`")));
            }
            if export["message_count"].as_u64() != Some(contents.len() as u64) {
                return Err(CallError::wrong(format!(
                    "export: message_count {} but {} messages in it",
                    export["message_count"],
                    contents.len()
                )));
            }
            Ok(())
        }
        Step::MoreDevices => {
            for _ in 0..2 {
                let device = netra.login(&j.email, &j.password).await?;
                j.devices.push(device);
            }
            Ok(())
        }
        Step::ConnectDevices => {
            let mut tokens = vec![j.logged_in()?.access.clone()];
            tokens.extend(j.devices.iter().map(|d| d.access.clone()));
            for token in tokens {
                let chat = netra.chat(&token).await?;
                ctx.isolation.own(&chat.connection_id, j.user as u32);
                j.device_chats.push(chat);
            }
            let thread =
                netra.create_thread(&j.logged_in()?.access, &format!("devices {}", j.canary)).await?;
            ctx.isolation.thread_created(&thread, j.user as u32);
            j.thread = Some(thread);
            Ok(())
        }
        Step::ChatAllDevices => {
            let thread = thread(j)?;
            let content = format!("to every device {}", j.canary);
            let (first, others) =
                j.device_chats.split_first_mut().ok_or_else(|| CallError::wrong("no devices"))?;
            first.send(&content, &thread).await?;
            for (n, chat) in std::iter::once(first).chain(others).enumerate() {
                chat.wait_for("agent_completed", &thread)
                    .await
                    .map_err(|e| CallError::new(e.kind, format!("device {}: {}", n + 1, e.detail)))?;
            }
            Ok(())
        }
        Step::LogoutOneDevice => netra.logout(&j.logged_in()?.access).await,
        Step::OthersStillWork => {
            let req = netra.backend_request(Method::GET, &netra.api().profile, &j.logged_in()?.access);
            let first = netra.status_of("others_still_work", req).await?;
            if first != StatusCode::UNAUTHORIZED {
                return Err(CallError::wrong(format!(
                    "others_still_work: the logged-out device got {first}"
                )));
            }
            for device in &j.devices {
                netra.profile(&device.access).await?;
            }
            let thread = thread(j)?;
            let chat = j.device_chats.get_mut(1).ok_or_else(|| CallError::wrong("no second device"))?;
            chat.turn(&format!("still here {}", j.canary), Some(&thread)).await.map(drop)
        }
        Step::InterruptedTurn => {
            let thread = thread(j)?;
            j.message = format!("interrupted turn {}", j.canary);
            let mut chat = j.chat.take().ok_or_else(|| CallError::wrong("not connected"))?;
            chat.send(&j.message, &thread).await?;
            // Wait until the agent has started, then cut the line, as a lost network would. A
            // server that drops it first has done the same for us.
            let _ = chat.wait_for("agent_started", &thread).await;
            chat.drop_abruptly();
            Ok(())
        }
        Step::WsConnect => {
            let chat = netra.chat(&j.logged_in()?.access).await?;
            ctx.isolation.own(&chat.connection_id, j.user as u32);
            j.chat = Some(chat);
            Ok(())
        }
        Step::Reconnect => {
            j.chat = Some(netra.chat(&j.logged_in()?.access).await?);
            Ok(())
        }
        Step::HistoryAfterDrop => history_after_drop(ctx, netra, j).await,
        Step::TurnAfterReconnect => {
            let thread = thread(j)?;
            let content = format!("after reconnecting {}", j.canary);
            let mut chat = j.chat.take().ok_or_else(|| CallError::wrong("not connected"))?;
            // A server that drops the connection again is reconnected to, as a client would,
            // up to `RECONNECTS` times.
            let mut attempt = 0;
            loop {
                match answered_turn(&mut chat, &content, &thread).await {
                    Err(e) if e.kind == "ws_closed" && attempt < RECONNECTS => {
                        attempt += 1;
                        chat = netra.chat(&j.logged_in()?.access).await?;
                    }
                    outcome => {
                        j.chat = Some(chat);
                        return outcome;
                    }
                }
            }
        }
        other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name(), other.name()))),
    }
}

/// A turn whose reply answers `content`: the new connection also receives the rest of the
/// interrupted turn (events go to all of a user's connections), which is skipped.
async fn answered_turn(chat: &mut ChatSession, content: &str, thread: &str) -> Result<(), CallError> {
    let mut turn = chat.turn(content, Some(thread)).await?;
    for _ in 0..3 {
        if turn.reply.contains(content) {
            return Ok(());
        }
        let next = chat.wait_for("agent_completed", thread).await?;
        turn.reply = next["payload"]["result"]["content"].as_str().unwrap_or_default().to_owned();
    }
    Err(CallError::wrong("turn_after_reconnect: no reply to this message"))
}

fn thread(j: &State) -> Result<String, CallError> {
    j.thread.clone().ok_or_else(|| CallError::wrong("no thread"))
}

/// The interrupted message and its reply must both reach the history.
async fn history_after_drop(ctx: &Context, netra: &Netra, j: &mut State) -> Result<(), CallError> {
    let (token, thread) = (j.logged_in()?.access.clone(), thread(j)?);
    let deadline = Instant::now() + RECOVERY_WAIT;
    loop {
        let history = netra.messages(&token, &thread).await?;
        let messages: Vec<&Value> = history["messages"].as_array().into_iter().flatten().collect();
        let asked = messages.iter().any(|m| m["role"] == "user" && m["content"] == j.message.as_str());
        let answered = messages.iter().any(|m| {
            m["role"] == "assistant" && m["content"].as_str().is_some_and(|c| c.contains(&j.message))
        });
        if asked && answered {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let what = if asked { "the reply" } else { "the message" };
            let mut f = ctx.finding("message_lost", "medium", j.user, "GET /api/threads/{id}/messages");
            f.expected =
                "after a dropped connection the message and its reply are in the thread's history".into();
            f.observed = format!("{what} missing {}s after the drop", RECOVERY_WAIT.as_secs());
            let bearer = format!("<access token of user {}>", j.user);
            f.reproducer = crate::findings::curl(
                "GET",
                &netra.backend_url(&netra.api().messages_path(&thread)),
                Some(&bearer),
                None,
            );
            ctx.findings.report(f);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
