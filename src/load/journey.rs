//! Journeys as Goose transactions: one transaction per step, the journey's state in the Goose
//! user's session data. A step that fails ends its journey (the remaining steps of that
//! iteration are skipped) and is counted by kind; the run goes on. Security results found on the
//! way are [`Finding`]s, reported to the run's [`FindingSink`]; they do not fail the step.
//!
//! Every failure backs off before returning: a user whose steps fail without waiting on anything
//! would spin and eat memory (ENGINE-NOTES.md, the spinning-failure footgun).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Expect, bench, flows, rate_limit, signup_chat, token_refresh};
use crate::client::chat::ChatSession;
use crate::client::{CallError, Identity, Login, Netra, Slot};
use crate::findings::{Finding, FindingSink};
use crate::isolation::Isolation;
use crate::metrics::{Event, Recorder};

/// How long a user waits after a failed journey before starting the next.
const FAILURE_BACKOFF: Duration = Duration::from_millis(200);
/// Failed journeys in a row double the back-off up to this: a target that is down (or
/// restarting) is not hammered, and is picked up again within this once it is back.
const MAX_BACKOFF: Duration = Duration::from_millis(3200);

/// A step still waiting this long when the run ends failed: the target stopped answering.
const UNANSWERED: Duration = Duration::from_secs(1);

/// Resolves when the run is over (its time is up, or it was interrupted).
pub async fn stopped(stop: &tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop.clone();
    let _ = stop.wait_for(|s| *s).await;
}

/// Counters the progress display reads while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    pub users_started: AtomicUsize,
    pub journeys_done: AtomicU64,
    pub journeys_failed: AtomicU64,
}

/// The journeys this build can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JourneyKind {
    SignupChat,
    /// signup-chat, then the export, which must hold this user's data and no one else's.
    ChatExport,
    TokenRefresh,
    RateLimit,
    Consistency,
    DataExport,
    MultiDevice,
    WsResilience,
    /// Measuring netra-load itself (`bench/`): `GET /health`, and a user holding a WebSocket.
    Health,
    IdleChat,
}

pub const JOURNEYS: &[&str] = &[
    "signup-chat",
    "chat-export",
    "token-refresh",
    "rate-limit",
    "consistency",
    "data-export",
    "multi-device",
    "ws-resilience",
    "health",
    "idle-chat",
];

impl JourneyKind {
    pub fn parse(name: &str) -> Option<JourneyKind> {
        match name {
            "signup-chat" => Some(JourneyKind::SignupChat),
            "chat-export" => Some(JourneyKind::ChatExport),
            "token-refresh" => Some(JourneyKind::TokenRefresh),
            "rate-limit" => Some(JourneyKind::RateLimit),
            "consistency" => Some(JourneyKind::Consistency),
            "data-export" => Some(JourneyKind::DataExport),
            "multi-device" => Some(JourneyKind::MultiDevice),
            "ws-resilience" => Some(JourneyKind::WsResilience),
            "health" => Some(JourneyKind::Health),
            "idle-chat" => Some(JourneyKind::IdleChat),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            JourneyKind::SignupChat => "signup-chat",
            JourneyKind::ChatExport => "chat-export",
            JourneyKind::TokenRefresh => "token-refresh",
            JourneyKind::RateLimit => "rate-limit",
            JourneyKind::Consistency => "consistency",
            JourneyKind::DataExport => "data-export",
            JourneyKind::MultiDevice => "multi-device",
            JourneyKind::WsResilience => "ws-resilience",
            JourneyKind::Health => "health",
            JourneyKind::IdleChat => "idle-chat",
        }
    }

    pub fn steps(self) -> &'static [Step] {
        match self {
            JourneyKind::SignupChat => signup_chat::STEPS,
            JourneyKind::ChatExport => &signup_chat::WITH_EXPORT,
            JourneyKind::TokenRefresh => &token_refresh::STEPS,
            JourneyKind::RateLimit => &rate_limit::STEPS,
            JourneyKind::Consistency => &flows::CONSISTENCY,
            JourneyKind::DataExport => &flows::DATA_EXPORT,
            JourneyKind::MultiDevice => &flows::MULTI_DEVICE,
            JourneyKind::WsResilience => &flows::WS_RESILIENCE,
            JourneyKind::Health => &bench::HEALTH,
            JourneyKind::IdleChat => &bench::IDLE_CHAT,
        }
    }
}

/// Every step of every journey.
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
    UseAccess,
    Refresh,
    UseNewAccess,
    ReuseOldRefresh,
    Relogin,
    Logout,
    UseAfterLogout,
    Burst,
    Recover,
    Quota,
    Expiry,
    Export,
    AuthMe,
    PostMessages,
    MoreDevices,
    ConnectDevices,
    ChatAllDevices,
    LogoutOneDevice,
    OthersStillWork,
    InterruptedTurn,
    Reconnect,
    HistoryAfterDrop,
    TurnAfterReconnect,
    Health,
    Hold,
}

impl Step {
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
            Step::UseAccess => "use_access",
            Step::Refresh => "refresh",
            Step::UseNewAccess => "use_new_access",
            Step::ReuseOldRefresh => "reuse_old_refresh",
            Step::Relogin => "relogin",
            Step::Logout => "logout",
            Step::UseAfterLogout => "use_after_logout",
            Step::Burst => "burst",
            Step::Recover => "recover",
            Step::Quota => "quota",
            Step::Expiry => "expiry",
            Step::Export => "export",
            Step::AuthMe => "auth_me",
            Step::PostMessages => "post_messages",
            Step::MoreDevices => "more_devices",
            Step::ConnectDevices => "connect_devices",
            Step::ChatAllDevices => "chat_all_devices",
            Step::LogoutOneDevice => "logout_one_device",
            Step::OthersStillWork => "others_still_work",
            Step::InterruptedTurn => "interrupted_turn",
            Step::Reconnect => "reconnect",
            Step::HistoryAfterDrop => "history_after_drop",
            Step::TurnAfterReconnect => "turn_after_reconnect",
            Step::Health => "health",
            Step::Hold => "hold",
        }
    }

    /// The label Goose's own tables show before the step's name.
    pub fn transport(self) -> &'static str {
        match self {
            Step::WsConnect
            | Step::FirstReply
            | Step::Quota
            | Step::ConnectDevices
            | Step::ChatAllDevices
            | Step::InterruptedTurn
            | Step::Reconnect
            | Step::TurnAfterReconnect
            | Step::Hold => "WS",
            _ => "HTTP",
        }
    }
}

/// What every step of one persona shares.
pub struct Context {
    pub netra: Netra,
    pub recorder: Recorder,
    pub live: Arc<Live>,
    pub findings: Arc<FindingSink>,
    pub isolation: Arc<Isolation>,
    pub journey: JourneyKind,
    pub persona: usize,
    pub plan_tier: String,
    /// What the deployment's limits are expected to be.
    pub expect: Expect,
    /// Makes emails unique to this run.
    pub run_tag: String,
    /// Added to Goose's user numbers (see [`super::Plan::first_user`]).
    pub first_user: usize,
    /// The run's start, for the time of findings.
    pub started: Instant,
    /// Set when the run is over: steps in flight are cut, so that the run ends on time even
    /// when the target hangs.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl Context {
    /// A finding stamped with the time and the load at this moment.
    pub fn finding(&self, kind: &str, severity: &str, user: usize, endpoint: &str) -> Finding {
        let (at_s, active) =
            (self.started.elapsed().as_secs_f64(), self.live.users_started.load(Ordering::Relaxed));
        Finding::new(kind, severity, vec![format!("user {user}")], endpoint, at_s, active)
    }
}

/// One journey in progress for one Goose user: what its steps hand to each other.
#[derive(Default)]
pub struct State {
    /// The Goose user's number (`weighted_users_index`), used in names and findings.
    pub user: usize,
    pub iteration: u64,
    started: Option<Instant>,
    failed: bool,
    /// Journeys failed in a row (kept from journey to journey): the back-off grows with it.
    failures_in_row: u32,
    pub email: String,
    pub password: String,
    /// The `sub` of minted tokens.
    pub sub: String,
    /// This journey's canary, written into everything its user creates.
    pub canary: String,
    pub login: Option<Login>,
    /// The pair a refresh gave, and the refresh token it retired.
    pub renewed: Option<Login>,
    pub retired_refresh: Option<String>,
    pub thread: Option<String>,
    pub chat: Option<ChatSession>,
    pub message: String,
    pub reply: String,
    /// The `Retry-After` of the abuser's first 429.
    pub retry_after: Option<u64>,
    /// What one step saw for the next to compare (consistency).
    pub seen: Option<serde_json::Value>,
    /// Messages sent over HTTP (data-export).
    pub sent: Vec<String>,
    /// The other devices' logins and every device's connection (multi-device).
    pub devices: Vec<Login>,
    pub device_chats: Vec<ChatSession>,
}

impl State {
    pub fn logged_in(&self) -> Result<&Login, CallError> {
        self.login.as_ref().ok_or_else(|| CallError::wrong("not logged in"))
    }

    /// A fresh email, password, `sub` and canary for this user and iteration.
    pub fn new_identity(&mut self, ctx: &Context) {
        let email = format!("nl-{}-u{}-i{}@example.com", ctx.run_tag, self.user, self.iteration);
        // With existing accounts, a user keeps its own account from journey to journey.
        let who = ctx.netra.api().provisioning.identity(Identity::new(email, "", ""), Slot::User(self.user));
        (self.email, self.password, self.sub) = (who.email, who.password, who.sub);
        self.canary = ctx.isolation.new_canary(self.user as u32);
    }

    /// What provisioning needs; the name is the canary. The abuser is always on the free tier.
    pub fn identity(&self, ctx: &Context) -> Identity {
        let plan = if ctx.journey == JourneyKind::RateLimit { "free" } else { ctx.plan_tier.as_str() };
        Identity {
            email: self.email.clone(),
            password: self.password.clone(),
            name: self.canary.clone(),
            plan: plan.to_owned(),
            sub: self.sub.clone(),
        }
    }

    pub async fn close_chat(&mut self) {
        if let Some(chat) = self.chat.take() {
            chat.close().await;
        }
        for chat in self.device_chats.drain(..) {
            chat.close().await;
        }
    }
}

/// What became of one step.
pub enum Done {
    /// Not run: the journey already failed, or the step does not apply.
    Skipped,
    Ok,
    /// Failed, recorded with its error; the journey ends.
    Failed,
    /// Cut at the run's end.
    Cut,
}

/// Runs `step` of the journey in `state`, records the step (and, at its end or on a failure,
/// the journey) and returns what became of it. `cohort_user` tells distinct users apart for the
/// cohorts. Used by the Goose users ([`super::users`]) and the open model ([`super::open`]).
pub async fn run_step(ctx: &Context, state: &mut State, step: Step, cohort_user: usize) -> Done {
    let steps = ctx.journey.steps();
    if (step != steps[0] && (state.failed || state.started.is_none())) || !applies(ctx, step, state) {
        return Done::Skipped;
    }
    let netra = ctx.netra.for_viewer(state.user as u32);
    let started = Instant::now();
    // Each journey's future is boxed on its own: one future holding every journey's would be as
    // large as the largest, held by every waiting user (measured: 52.4 -> 48.2 KiB per user
    // holding a WebSocket at 5000 users; CPU per request unchanged within noise).
    type Performing<'a> =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), CallError>> + Send + 'a>>;
    let perform: Performing<'_> = match (step, ctx.journey) {
        (Step::Register, _) => Box::pin(register(ctx, &netra, state)),
        (Step::Login | Step::Relogin, _) => Box::pin(login(ctx, &netra, state)),
        (_, JourneyKind::SignupChat | JourneyKind::ChatExport) => {
            Box::pin(signup_chat::perform(ctx, &netra, state, step))
        }
        (_, JourneyKind::TokenRefresh) => Box::pin(token_refresh::perform(ctx, &netra, state, step)),
        (_, JourneyKind::RateLimit) => Box::pin(rate_limit::perform(ctx, &netra, state, step)),
        (
            _,
            JourneyKind::Consistency
            | JourneyKind::DataExport
            | JourneyKind::MultiDevice
            | JourneyKind::WsResilience,
        ) => Box::pin(flows::perform(ctx, &netra, state, step)),
        (_, JourneyKind::Health | JourneyKind::IdleChat) => {
            Box::pin(bench::perform(ctx, &netra, state, step))
        }
    };
    let outcome = tokio::select! {
        biased;
        outcome = perform => Some(outcome),
        // A step meant to last until the run's end (idle-chat's hold) is done then, not cut.
        () = stopped(&ctx.stop) => (step == Step::Hold).then_some(Ok(())),
    };
    let journey = ctx.journey.name();
    let persona = ctx.persona;
    // One clock read for the step's end, its event and its journey's.
    let now = Instant::now();
    let finish = |state: &State, ok| Event::Journey {
        persona,
        journey,
        user: cohort_user,
        elapsed: state.started.map_or(Duration::ZERO, |s| now.saturating_duration_since(s)),
        ok,
    };
    let Some(outcome) = outcome else {
        // Cut at the run's end. A step that had just begun is no evidence either way; one that
        // had waited long is a target that stopped answering, and fails its journey.
        ctx.recorder.send(Event::Observed { name: "steps_cut_at_end", value: 1 });
        state.failed = true;
        state.close_chat().await;
        let waited = now.saturating_duration_since(started);
        if waited >= UNANSWERED {
            let kind = "unanswered_at_end".to_owned();
            let message = format!(
                "{}: no answer in the {:.1} s before the run ended",
                step.name(),
                waited.as_secs_f64()
            );
            ctx.recorder.send(Event::Error { kind, message });
            ctx.recorder.send(Event::Step {
                persona,
                journey,
                step: step.name(),
                elapsed: waited,
                ok: false,
            });
            ctx.recorder.send(finish(state, false));
        }
        return Done::Cut;
    };
    let elapsed = now.saturating_duration_since(started);
    let event = Event::Step { persona, journey, step: step.name(), elapsed, ok: outcome.is_ok() };
    match outcome {
        Ok(()) => {
            if step == steps[steps.len() - 1] {
                ctx.recorder.send_two_at(event, finish(state, true), now);
                ctx.live.journeys_done.fetch_add(1, Ordering::Relaxed);
                state.failures_in_row = 0;
                state.close_chat().await;
            } else {
                ctx.recorder.send_at(event, now);
            }
            Done::Ok
        }
        Err(e) => {
            ctx.recorder.send_at(event, now);
            if ctx.journey == JourneyKind::SignupChat
                && e.kind == "http_429"
                && ctx.expect.burst > BYSTANDER_CALLS
            {
                noisy_neighbour(ctx, state, step, &e);
            }
            state.failed = true;
            state.failures_in_row = state.failures_in_row.saturating_add(1);
            state.close_chat().await;
            let message = format!("{}: {}", step.name(), e.detail);
            ctx.recorder.send(Event::Error { kind: e.kind, message });
            ctx.recorder.send(finish(state, false));
            ctx.live.journeys_failed.fetch_add(1, Ordering::Relaxed);
            Done::Failed
        }
    }
}

impl State {
    /// A new journey's state for `user`, started at `started` (for the open model: when the
    /// journey was due, so that its latency includes any wait to start it).
    pub fn begin(user: usize, iteration: u64, started: Instant, failures_in_row: u32) -> State {
        State { user, iteration, started: Some(started), failures_in_row, ..State::default() }
    }

    /// The back-off after this user's failed journeys in a row: doubling, at most 3.2 s.
    pub fn backoff(&self) -> Duration {
        FAILURE_BACKOFF.saturating_mul(1 << self.failures_in_row.saturating_sub(1).min(4)).min(MAX_BACKOFF)
    }

    pub fn failures_in_row(&self) -> u32 {
        self.failures_in_row
    }
}

/// Every journey starts with a fresh user: its own rate-limit bucket and quota, and a canary.
/// The abuser is always on the free tier, whose quota it checks. How the user comes to exist is
/// the dialect's provisioning (register, dev login, minted tokens).
async fn register(ctx: &Context, netra: &Netra, j: &mut State) -> Result<(), CallError> {
    j.new_identity(ctx);
    netra.sign_up(&j.identity(ctx)).await
}

async fn login(ctx: &Context, netra: &Netra, j: &mut State) -> Result<(), CallError> {
    if j.email.is_empty() {
        // No register step ran (the dialect does not register): the identity starts here.
        j.new_identity(ctx);
    }
    let login = netra.sign_in(&j.identity(ctx)).await?;
    ctx.isolation.own(&login.user_id, j.user as u32);
    j.login = Some(login);
    Ok(())
}

/// Steps that only make sense sometimes; a step that does not apply is skipped unrecorded.
fn applies(ctx: &Context, step: Step, state: &State) -> bool {
    match step {
        Step::Register => ctx.netra.api().provisioning.registers(),
        Step::Expiry => token_refresh::expiry_applies(state),
        _ => true,
    }
}

/// A signup-chat journey makes at most this many `/api` calls, each user being fresh: below any
/// sane burst, so a 429 there can only be someone else's flood.
const BYSTANDER_CALLS: u32 = 6;

/// A bystander throttled while within its own limit: quota isolation is broken.
fn noisy_neighbour(ctx: &Context, state: &State, step: Step, e: &CallError) {
    let mut f = ctx.finding("noisy_neighbour", "high", state.user, &format!("{} (signup-chat)", step.name()));
    f.expected = format!(
        "a user within its own limit (at most {BYSTANDER_CALLS} calls of a burst of {}) is never throttled",
        ctx.expect.burst
    );
    f.observed = format!("429 at step {}: {}", step.name(), e.detail);
    f.reproducer = "# run an abuser that floods GET /api/users/profile with its own token, and meanwhile \
        GET /api/users/profile with another, fresh user's token: it gets 429"
        .into();
    ctx.findings.report(f);
}
