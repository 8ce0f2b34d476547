//! Journeys as Goose transactions: one transaction per step, the journey's state in the Goose
//! user's session data. A step that fails ends its journey (the remaining steps of that
//! iteration are skipped) and is counted by kind; the run goes on.
//!
//! Every failure backs off before returning: a user whose steps fail without waiting on anything
//! would spin and eat memory (ENGINE-NOTES.md, the spinning-failure footgun).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use goose::prelude::*;
use tokio::sync::Mutex;

use crate::client::chat::ChatSession;
use crate::client::{CallError, Login, Netra};
use crate::metrics::{Event, Recorder};

/// How long a user waits after a failed journey before starting the next.
const FAILURE_BACKOFF: Duration = Duration::from_millis(200);

/// Counters the progress display reads while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    pub users_started: AtomicUsize,
    pub journeys_done: AtomicU64,
    pub journeys_failed: AtomicU64,
}

/// What every step of one persona shares.
pub struct Context {
    pub netra: Netra,
    pub recorder: Recorder,
    pub live: Arc<Live>,
    pub persona: usize,
    pub plan_tier: String,
    /// Makes emails unique to this run.
    pub run_tag: String,
}

/// The steps of signup-chat, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Register,
    Login,
    Profile,
    CreateThread,
    WsConnect,
    FirstReply,
    History,
    ListThreads,
}

pub const SIGNUP_CHAT: &str = "signup-chat";

impl Step {
    pub const SIGNUP_CHAT: [Step; 8] = [
        Step::Register,
        Step::Login,
        Step::Profile,
        Step::CreateThread,
        Step::WsConnect,
        Step::FirstReply,
        Step::History,
        Step::ListThreads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Register => "register",
            Step::Login => "login",
            Step::Profile => "profile",
            Step::CreateThread => "create_thread",
            Step::WsConnect => "ws_connect",
            Step::FirstReply => "first_reply",
            Step::History => "history",
            Step::ListThreads => "list_threads",
        }
    }

    /// The label Goose's own tables show before the step's name.
    fn transport(self) -> &'static str {
        match self {
            Step::WsConnect | Step::FirstReply => "WS",
            _ => "HTTP",
        }
    }
}

/// One journey in progress for one Goose user.
#[derive(Default)]
struct Journey {
    iteration: u64,
    started: Option<Instant>,
    failed: bool,
    email: String,
    password: String,
    login: Option<Login>,
    thread: Option<String>,
    chat: Option<ChatSession>,
    message: String,
    reply: String,
}

/// Goose session data must be `Clone`: the journey lives behind a per-user mutex (never
/// contended: one user runs one transaction at a time).
#[derive(Clone, Default)]
struct Session(Arc<Mutex<Journey>>);

/// A Goose transaction running `step` with `ctx`.
pub fn transaction(ctx: Arc<Context>, step: Step) -> Transaction {
    let name = step.name();
    Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let ctx = ctx.clone();
        Box::pin(async move { run_step(&ctx, user, step).await })
    }))
    .set_name(name)
}

async fn run_step(ctx: &Context, user: &mut GooseUser, step: Step) -> TransactionResult {
    if user.get_session_data::<Session>().is_none() {
        user.set_session_data(Session::default());
        ctx.live.users_started.fetch_add(1, Ordering::Relaxed);
    }
    let session = user.get_session_data_unchecked::<Session>().clone();
    let mut journey = session.0.lock().await;
    if step == Step::SIGNUP_CHAT[0] {
        let iteration = journey.iteration + 1;
        if let Some(chat) = journey.chat.take() {
            chat.close().await;
        }
        *journey = Journey { iteration, started: Some(Instant::now()), ..Journey::default() };
    } else if journey.failed || journey.started.is_none() {
        return Ok(());
    }
    let started = Instant::now();
    let outcome = perform(ctx, user.weighted_users_index, &mut journey, step).await;
    let elapsed = started.elapsed();
    let ok = outcome.is_ok();
    ctx.recorder.send(Event::Step {
        persona: ctx.persona,
        journey: SIGNUP_CHAT,
        step: step.name(),
        elapsed,
        ok,
    });
    let error_text = outcome.as_ref().err().map(ToString::to_string);
    user.record_custom_request_duration(
        step.transport(),
        step.name(),
        elapsed,
        ok,
        None,
        error_text.as_deref(),
    )
    .await?;
    let journey_elapsed = journey.started.map_or(Duration::ZERO, |s| s.elapsed());
    let finish = |ok| Event::Journey {
        persona: ctx.persona,
        journey: SIGNUP_CHAT,
        user: user.weighted_users_index,
        elapsed: journey_elapsed,
        ok,
    };
    match outcome {
        Ok(()) => {
            if step == Step::SIGNUP_CHAT[Step::SIGNUP_CHAT.len() - 1] {
                ctx.recorder.send(finish(true));
                ctx.live.journeys_done.fetch_add(1, Ordering::Relaxed);
                if let Some(chat) = journey.chat.take() {
                    chat.close().await;
                }
            }
            Ok(())
        }
        Err(e) => {
            journey.failed = true;
            if let Some(chat) = journey.chat.take() {
                chat.close().await;
            }
            drop(journey);
            ctx.recorder.send(Event::Error {
                kind: e.kind.clone(),
                message: format!("{}: {}", step.name(), e.detail),
            });
            ctx.recorder.send(finish(false));
            ctx.live.journeys_failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(FAILURE_BACKOFF).await;
            Err(Box::new(TransactionError::Custom(e.to_string())))
        }
    }
}

async fn perform(ctx: &Context, user: usize, j: &mut Journey, step: Step) -> Result<(), CallError> {
    let netra = &ctx.netra;
    match step {
        Step::Register => {
            j.email = format!("nl-{}-u{user}-i{}@example.com", ctx.run_tag, j.iteration);
            j.password = format!("pw-{:016x}", rand::random::<u64>());
            netra.register(&j.email, &j.password, &ctx.plan_tier).await.map(drop)
        }
        Step::Login => {
            j.login = Some(netra.login(&j.email, &j.password).await?);
            Ok(())
        }
        Step::Profile => {
            let login = logged_in(j)?;
            let profile = netra.profile(&login.access).await?;
            if profile["user_id"] != login.user_id.as_str() || profile["email"] != j.email.as_str() {
                return Err(CallError::wrong("profile: the answer describes another user"));
            }
            Ok(())
        }
        Step::CreateThread => {
            let token = logged_in(j)?.access.clone();
            j.thread =
                Some(netra.create_thread(&token, &format!("netra-load journey {}", j.iteration)).await?);
            Ok(())
        }
        Step::WsConnect => {
            let login = logged_in(j)?;
            let chat = netra.chat(&login.access).await?;
            if chat.user_id != login.user_id {
                return Err(CallError::wrong("ws_connect: the connection belongs to another user"));
            }
            j.chat = Some(chat);
            Ok(())
        }
        Step::FirstReply => {
            let thread = j.thread.clone().ok_or_else(|| CallError::wrong("first_reply: no thread"))?;
            let chat = j.chat.as_mut().ok_or_else(|| CallError::wrong("first_reply: not connected"))?;
            j.message = format!("hello from {} #{}", j.email, j.iteration);
            let turn = chat.turn(&j.message, Some(&thread)).await?;
            if turn.thread_id != thread || !turn.reply.contains(&j.message) {
                return Err(CallError::wrong("first_reply: the reply does not answer this message"));
            }
            j.reply = turn.reply;
            Ok(())
        }
        Step::History => {
            let (token, thread) = (logged_in(j)?.access.clone(), j.thread.clone().unwrap_or_default());
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
            let (token, thread) = (logged_in(j)?.access.clone(), j.thread.clone().unwrap_or_default());
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
    }
}

fn logged_in(j: &Journey) -> Result<&Login, CallError> {
    j.login.as_ref().ok_or_else(|| CallError::wrong("not logged in"))
}
