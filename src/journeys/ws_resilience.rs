//! Journey ws-resilience: the connection drops mid-turn (the client cuts it after
//! `agent_started`), the user reconnects (the step's time is the time to recover), and the
//! message and the reply are in the thread's history (polled up to [`RECOVERY_WAIT`]; missing:
//! `message_lost`); then a turn on the new connection works, reconnecting once if the server
//! drops it.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Context, Step, Steps, User};
use crate::client::chat::ChatSession;
use crate::client::{CallError, Failure, Netra};
use crate::findings::{FindingKind, curl};

pub const STEPS: &[Step] = &[
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
/// How many times a turn reconnects after the server dropped it.
const RECONNECTS: u32 = 3;

#[derive(Default)]
pub struct WsResilience {
    thread: Option<String>,
    chat: Option<ChatSession>,
    /// The message of the interrupted turn.
    message: String,
}

impl Steps for WsResilience {
    async fn close(&mut self) {
        super::hang_up(&mut self.chat).await;
    }

    async fn step(&mut self, ctx: &Context, netra: &Netra, user: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::CreateThread => {
                self.thread = Some(super::create_thread(ctx, netra, user).await?);
                Ok(())
            }
            Step::WsConnect => {
                let chat = netra.chat(&user.logged_in()?.access).await?;
                ctx.isolation.own(&chat.connection_id, user.number as u32);
                self.chat = Some(chat);
                Ok(())
            }
            Step::InterruptedTurn => {
                let thread = self.thread()?;
                self.message = format!("interrupted turn {}", user.canary);
                let mut chat = self.chat.take().ok_or_else(|| CallError::wrong("not connected"))?;
                chat.send(&self.message, &thread).await?;
                // Wait until the agent has started, then cut the line, as a lost network would. A
                // server that drops it first has done the same for us.
                let _ = chat.wait_for("agent_started", &thread).await;
                chat.drop_abruptly();
                Ok(())
            }
            Step::Reconnect => {
                self.chat = Some(netra.chat(&user.logged_in()?.access).await?);
                Ok(())
            }
            Step::HistoryAfterDrop => self.history_after_drop(ctx, netra, user).await,
            Step::TurnAfterReconnect => {
                let thread = self.thread()?;
                let content = format!("after reconnecting {}", user.canary);
                let mut chat = self.chat.take().ok_or_else(|| CallError::wrong("not connected"))?;
                // A server that drops the connection again is reconnected to, as a client would,
                // up to `RECONNECTS` times.
                let mut attempt = 0;
                loop {
                    match chat.turn(&content, Some(&thread)).await.map(drop) {
                        Err(e) if e.kind == Failure::WsClosed && attempt < RECONNECTS => {
                            attempt += 1;
                            chat = netra.chat(&user.logged_in()?.access).await?;
                        }
                        outcome => {
                            self.chat = Some(chat);
                            return outcome;
                        }
                    }
                }
            }
            other => Err(CallError::wrong(format!("{} has no step {}", ctx.journey.name, other.name()))),
        }
    }
}

impl WsResilience {
    fn thread(&self) -> Result<String, CallError> {
        self.thread.clone().ok_or_else(|| CallError::wrong("no thread"))
    }

    /// The interrupted message and its reply must both reach the history.
    async fn history_after_drop(&self, ctx: &Context, netra: &Netra, user: &User) -> Result<(), CallError> {
        let (token, thread) = (&user.logged_in()?.access, self.thread()?);
        let deadline = Instant::now() + RECOVERY_WAIT;
        loop {
            let history = netra.messages(token, &thread).await?;
            let messages: Vec<&Value> = history["messages"].as_array().into_iter().flatten().collect();
            let asked_at =
                messages.iter().position(|m| m["role"] == "user" && m["content"] == self.message.as_str());
            // The reply quotes the message where the dialect's do; else it is an answer after it.
            let quotes = netra.api().reply_quotes;
            let answered = asked_at.is_some_and(|at| {
                messages[at + 1..].iter().any(|m| {
                    m["role"] == "assistant"
                        && (!quotes || m["content"].as_str().is_some_and(|c| c.contains(&self.message)))
                })
            });
            let asked = asked_at.is_some();
            if asked && answered {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let what = if asked { "the reply" } else { "the message" };
                let endpoint = "GET /api/threads/{id}/messages";
                let mut f = ctx.finding(FindingKind::MessageLost, user.number, endpoint);
                f.expected =
                    "after a dropped connection the message and its reply are in the thread's history".into();
                f.observed = format!("{what} missing {}s after the drop", RECOVERY_WAIT.as_secs());
                let bearer = format!("<access token of user {}>", user.number);
                let url = netra.backend_url(&netra.api().messages_path(&thread));
                f.reproducer = curl("GET", &url, Some(&bearer), None);
                ctx.findings.report(f);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
