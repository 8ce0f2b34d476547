//! The step runner: the rules every journey's steps follow, whoever drives them (the closed
//! model's Goose users or the open model's schedule).
//!
//! - A journey's first step begins it; a step after a failure in the same journey is skipped,
//!   and so is a step that does not apply now (a short-token wait with long tokens), untimed but
//!   counted as not applying.
//!   Steps that never apply to a persona (register, when the dialect does not register) are not
//!   among its steps at all (the plan leaves them out).
//! - Every step is timed; a failed step fails its journey, is counted by kind with a sample, and
//!   the user backs off before its next journey (200 ms, doubling with every failure in a row up
//!   to 3.2 s): a failure that waited on nothing must not spin (ENGINE-NOTES.md), and a dead
//!   target is not hammered.
//! - At the run's end, steps in flight are cut: one that had waited [`UNANSWERED`] or more on the
//!   target fails its journey as `unanswered_at_end` (a target that stopped answering is no pass),
//!   a shorter one is only counted (`steps_cut_at_end`), and so is one waiting on purpose
//!   ([`wait_on_purpose`]: a token's expiry, `Retry-After`): the tool's own wait blames nobody. A
//!   step meant to last until the end (`hold`) is done then.
//! - While a step is in flight, or its user backs off after a failure, work waits on the target
//!   ([`Live::waiting`](super::Live)); a wait on purpose does not count.
//! - Register and login are the same in every journey, as the dialect provisions users; they are
//!   performed here, the other steps by the journey's own [`Progress`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::end::Waiter;
use super::{Context, Live, Progress, Step};
use crate::client::{
    BUDGET_WINDOW, Budget, Call, CallError, Failure, Identity, Login, Netra, Provisioning, Slot,
};
use crate::findings::FindingKind;
use crate::metrics::{Event, Gauge};

/// How long a user waits after a failed journey before starting the next.
const FAILURE_BACKOFF: Duration = Duration::from_millis(200);
/// Failed journeys in a row double the back-off up to this: a target that is down (or
/// restarting) is not hammered, and is picked up again within this once it is back.
const MAX_BACKOFF: Duration = Duration::from_millis(3200);

/// A step still waiting this long when the run ends failed: the target stopped answering.
pub const UNANSWERED: Duration = Duration::from_secs(1);

/// Counts work waiting on the target while it lives ([`Live::waiting`]).
pub struct Waiting<'a>(&'a Gauge);

impl<'a> Waiting<'a> {
    pub fn new(live: &'a Live) -> Waiting<'a> {
        live.waiting.enter();
        Waiting(&live.waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// Waits until `until` on purpose (a token's expiry, `Retry-After`): the target owes no answer
/// meanwhile, so the wait is not work waiting on it, and a run that ends during it cuts the step
/// without blame.
pub async fn wait_on_purpose(ctx: &Context, user: &User, until: Instant) {
    struct Aside<'a>(&'a Gauge);
    impl Drop for Aside<'_> {
        fn drop(&mut self) {
            self.0.enter();
        }
    }
    ctx.live.waiting.leave();
    let _back = Aside(&ctx.live.waiting);
    // Set until the wait is over: if the run ends meanwhile, the runner reads it after the step
    // was dropped.
    user.on_purpose.store(true, Ordering::Relaxed);
    let began = Instant::now();
    tokio::time::sleep_until(until.into()).await;
    // What the step waited on purpose is not time the target took.
    let waited = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
    user.waited_on_purpose_us.fetch_add(waited, Ordering::Relaxed);
    user.on_purpose.store(false, Ordering::Relaxed);
}

/// The simulated user of one journey, what every journey has: who it is and how it logged in.
pub struct User {
    /// The user's number in the whole run, used in names and findings.
    pub number: usize,
    pub iteration: u64,
    pub email: String,
    pub password: String,
    /// The `sub` of minted tokens.
    pub sub: String,
    /// This journey's canary, written into everything its user creates.
    pub canary: String,
    pub login: Option<Login>,
    /// Waiting on purpose now ([`wait_on_purpose`]).
    on_purpose: AtomicBool,
    /// Microseconds the step under way has waited on purpose so far.
    waited_on_purpose_us: AtomicU64,
}

impl User {
    pub fn logged_in(&self) -> Result<&Login, CallError> {
        self.login.as_ref().ok_or_else(|| CallError::wrong("not logged in"))
    }

    /// A fresh email, password, `sub` and canary for this user and iteration.
    fn new_identity(&mut self, ctx: &Context) {
        let email = format!("nl-{}-u{}-i{}@example.com", ctx.run_tag, self.number, self.iteration);
        // With existing accounts, a user keeps its own account from journey to journey.
        let slot = Slot::User(self.number);
        let who = ctx.netra.api().provisioning.identity(Identity::new(email, "", ""), slot);
        (self.email, self.password, self.sub) = (who.email, who.password, who.sub);
        self.canary = ctx.isolation.new_canary(self.number as u32);
    }

    /// What provisioning needs; the name is the canary.
    fn identity(&self, ctx: &Context) -> Identity {
        Identity {
            email: self.email.clone(),
            password: self.password.clone(),
            name: self.canary.clone(),
            plan: ctx.tier().to_owned(),
            sub: self.sub.clone(),
        }
    }
}

/// One journey in progress for one user: the user, the journey's own state, and how it goes.
pub struct Run {
    pub user: User,
    /// The client acting for the user, made once per user and kept from journey to journey (a
    /// step does not touch the count of the shared one). Its budget counts the account's own
    /// requests to the backend: a fresh account's per journey, an existing account's carried
    /// from journey to journey ([`Run::next`]).
    netra: Netra,
    journey: Box<dyn Progress>,
    started: Instant,
    failed: bool,
    /// Journeys failed in a row (kept from journey to journey): the back-off grows with it.
    failures_in_row: u32,
    /// The user's registration with the run's end, kept from journey to journey.
    waiter: Waiter,
}

impl Run {
    /// A new journey of `ctx`'s for user `number`, started at `started` (for the open model:
    /// when the journey was due, so that its latency includes any wait to start it), after
    /// `failures_in_row` failed journeys of this user.
    pub fn begin(
        ctx: &Context,
        number: usize,
        iteration: u64,
        started: Instant,
        failures_in_row: u32,
    ) -> Run {
        let budget = Arc::new(Budget::new(existing_accounts(ctx)));
        let netra = ctx.netra.for_account(number as u32, &budget);
        Run::with(ctx, number, iteration, started, failures_in_row, netra, ctx.end.waiter())
    }

    /// The same user's next journey (its next iteration), started at `started`, after this
    /// one's failures in a row; on the same bucket when the provisioning gives each user one
    /// existing account.
    pub fn next(self, ctx: &Context, started: Instant) -> Run {
        let netra = if existing_accounts(ctx) {
            self.netra
        } else {
            self.netra.on_budget(Arc::new(Budget::new(false)))
        };
        let (number, iteration) = (self.user.number, self.user.iteration + 1);
        Run::with(ctx, number, iteration, started, self.failures_in_row, netra, self.waiter)
    }

    fn with(
        ctx: &Context,
        number: usize,
        iteration: u64,
        started: Instant,
        failures_in_row: u32,
        netra: Netra,
        waiter: Waiter,
    ) -> Run {
        let user = User {
            number,
            iteration,
            email: String::new(),
            password: String::new(),
            sub: String::new(),
            canary: String::new(),
            login: None,
            on_purpose: AtomicBool::new(false),
            waited_on_purpose_us: AtomicU64::new(0),
        };
        let journey = (ctx.journey.start)();
        Run { user, journey, started, failed: false, failures_in_row, netra, waiter }
    }

    /// This user's registration with the run's end.
    pub fn waiter(&self) -> &Waiter {
        &self.waiter
    }

    /// The back-off after this user's failed journeys in a row: doubling, at most 3.2 s.
    pub fn backoff(&self) -> Duration {
        FAILURE_BACKOFF.saturating_mul(1 << self.failures_in_row.saturating_sub(1).min(4)).min(MAX_BACKOFF)
    }

    pub fn failures_in_row(&self) -> u32 {
        self.failures_in_row
    }

    /// Closes what the journey holds open (its WebSockets).
    pub async fn close(&mut self) {
        self.journey.close().await;
    }
}

/// What became of one step.
#[derive(Debug, PartialEq, Eq)]
pub enum Done {
    /// Not run: the journey already failed, or the step does not apply.
    Skipped,
    Ok,
    /// Failed, recorded with its error; the journey ends.
    Failed,
    /// Cut at the run's end.
    Cut,
}

/// Runs `step` of the journey in `run`, records the step (and, at its end or on a failure, the
/// journey) and returns what became of it. `cohort_user` tells distinct users apart for the
/// cohorts.
pub async fn run_step(ctx: &Context, run: &mut Run, step: Step, cohort_user: usize) -> Done {
    let steps = &ctx.steps;
    if step != steps[0] && run.failed {
        return Done::Skipped;
    }
    if !run.journey.applies(step) {
        let (persona, journey) = (ctx.persona, ctx.journey.name);
        ctx.recorder.send(Event::NotApplicable { persona, journey, step: step.name() });
        return Done::Skipped;
    }
    let netra = &run.netra;
    if step == steps[0] {
        ctx.live.journeys_started.incr();
    }
    // Held until the step is over, its connections closed included (a hang-up on a hung target
    // is waiting on it too).
    let _busy = Waiting::new(&ctx.live);
    run.user.waited_on_purpose_us.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let outcome = {
        // Each journey's future is boxed on its own (by its `perform`): one future holding every
        // journey's would be as large as the largest, held by every waiting user (measured: 52.4
        // -> 48.2 KiB per user holding a WebSocket at 5000 users; CPU per request unchanged).
        let perform: super::Performing<'_> = match step {
            Step::Register => Box::pin(register(ctx, netra, &mut run.user)),
            Step::Login | Step::Relogin => Box::pin(login(ctx, netra, &mut run.user)),
            _ => run.journey.perform(ctx, netra, &run.user, step),
        };
        tokio::select! {
            biased;
            outcome = perform => Some(outcome),
            // A step meant to last until the run's end (idle-chat's hold) is done then, not cut.
            () = ctx.end.over(&run.waiter) => (step == Step::Hold).then_some(Ok(())),
        }
    };
    let (journey, persona) = (ctx.journey.name, ctx.persona);
    // One clock read for the step's end, its event and its journey's.
    let now = Instant::now();
    let finish = |run: &Run, ok| Event::Journey {
        persona,
        journey,
        user: cohort_user,
        elapsed: now.saturating_duration_since(run.started),
        ok,
        cohort: ctx.journey.cohort,
    };
    let Some(outcome) = outcome else {
        // Cut at the run's end. A step that had just begun is no evidence either way, nor one
        // waiting on purpose; one that had waited long on the target is a target that stopped
        // answering, and fails its journey.
        run.failed = true;
        run.close().await;
        let waited = now.saturating_duration_since(started);
        let on_purpose = Duration::from_micros(run.user.waited_on_purpose_us.load(Ordering::Relaxed));
        let on_target = waited.saturating_sub(on_purpose);
        if on_target < UNANSWERED || run.user.on_purpose.load(Ordering::Relaxed) {
            ctx.recorder.send(Event::Observed { name: "steps_cut_at_end", value: 1, expected: None });
        } else {
            let message = format!("no answer in the {:.1} s before the run ended", on_target.as_secs_f64());
            ctx.recorder.send(Event::Error {
                step: step.name(),
                kind: Failure::UnansweredAtEnd.as_str(),
                message: message.into(),
            });
            ctx.recorder.send(Event::Step {
                persona,
                journey,
                step: step.name(),
                elapsed: waited,
                ok: false,
            });
            ctx.recorder.send(finish(run, false));
        }
        return Done::Cut;
    };
    let elapsed = now.saturating_duration_since(started);
    let event = Event::Step { persona, journey, step: step.name(), elapsed, ok: outcome.is_ok() };
    match outcome {
        Ok(()) => {
            if step == steps[steps.len() - 1] {
                ctx.recorder.send_two_at(event, finish(run, true), now);
                ctx.live.journeys_done.incr();
                run.failures_in_row = 0;
                run.close().await;
            } else {
                ctx.recorder.send_at(event, now);
            }
            Done::Ok
        }
        Err(e) => {
            ctx.recorder.send_at(event, now);
            super::concurrency::note(ctx, &run.user, step, &e);
            if let Some(within) = neighbours_doing(ctx, run, &e, now) {
                noisy_neighbour(ctx, &run.user, step, &e, within);
            }
            run.failed = true;
            run.failures_in_row = run.failures_in_row.saturating_add(1);
            run.close().await;
            // The report names the step beside the sample; details that name it too drop it.
            let message = e.detail.strip_prefix(step.name()).and_then(|rest| rest.strip_prefix(": "));
            let message = message.unwrap_or(&e.detail).into();
            ctx.recorder.send(Event::Error { step: step.name(), kind: e.kind.as_str(), message });
            ctx.recorder.send(finish(run, false));
            ctx.live.journeys_failed.incr();
            Done::Failed
        }
    }
}

/// Performs `step` of the journey in `run` as [`run_step`] does, but records nothing, shows
/// nothing to the scanner (the run's figures are made) and heeds no run's end: a replay after
/// the load (`super::concurrency`). Gives whether the step applied (one that does not is passed
/// over).
pub async fn perform_alone(ctx: &Context, run: &mut Run, step: Step) -> Result<bool, CallError> {
    if !run.journey.applies(step) {
        return Ok(false);
    }
    let netra = run.netra.unwatched();
    match step {
        Step::Register => register(ctx, &netra, &mut run.user).await,
        Step::Login | Step::Relogin => login(ctx, &netra, &mut run.user).await,
        _ => run.journey.perform(ctx, &netra, &run.user, step).await,
    }
    .map(|()| true)
}

/// Every journey starts with a fresh user: its own rate-limit bucket and quota, and a canary.
/// How the user comes to exist is the dialect's provisioning (register, dev login, minted
/// tokens, existing accounts).
async fn register(ctx: &Context, netra: &Netra, user: &mut User) -> Result<(), CallError> {
    user.new_identity(ctx);
    netra.sign_up(&user.identity(ctx)).await
}

async fn login(ctx: &Context, netra: &Netra, user: &mut User) -> Result<(), CallError> {
    if user.email.is_empty() {
        // No register step ran (the dialect does not register): the identity starts here.
        user.new_identity(ctx);
    }
    let login = netra.sign_in(&user.identity(ctx)).await?;
    ctx.isolation.own(&login.user_id, user.number as u32);
    user.login = Some(login);
    Ok(())
}

/// Whether the users' accounts exist already (from a credentials file): one per user, the same
/// from journey to journey.
fn existing_accounts(ctx: &Context) -> bool {
    matches!(ctx.netra.api().provisioning, Provisioning::Login(_))
}

/// A rate-limit refusal of an account within its own limit: the account's own requests in the
/// window and the limit they were within. Judged on the backend's calls only (the limit is on
/// its `/api`; an auth service's limits, by IP or otherwise, are not the account's), and not
/// on posting a message, whose 429 is the daily quota's.
fn neighbours_doing(ctx: &Context, run: &Run, e: &CallError, now: Instant) -> Option<(usize, u32)> {
    let backend = e.call.is_some_and(|c| c != Call::PostMessage && c.to_backend(ctx.netra.has_backend()));
    let quota = e.detail.to_ascii_lowercase().contains("quota");
    if e.kind != Failure::Status(429) || !backend || quota {
        return None;
    }
    run.netra.budget()?.within(ctx.expect.burst, now)
}

/// A user throttled while within its own limit: rate-limit isolation is broken.
fn noisy_neighbour(ctx: &Context, user: &User, step: Step, e: &CallError, (spent, limit): (usize, u32)) {
    // By the endpoint refused, whichever journey's step met it (a backend call: `neighbours_doing`).
    let endpoint = e.call.map_or_else(|| step.name().to_owned(), |call| ctx.netra.endpoint(call));
    let mut f = ctx.finding(FindingKind::NoisyNeighbour, user.number, &endpoint);
    f.users = vec![format!("user {} (victim)", user.number)];
    let window = BUDGET_WINDOW.as_secs();
    f.expected = format!(
        "an account within its own limit ({spent} of its own requests in the last {window} s, within {limit}) is never throttled"
    );
    f.observed = format!("429 at step {} of {}: {}", step.name(), ctx.journey.name, e.detail);
    f.reproducer = "# run an abuser that floods GET /api/users/profile with its own token, and meanwhile \
        GET /api/users/profile with another, fresh user's token: it gets 429"
        .into();
    ctx.findings.report(f);
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
