//! Concurrency defects: a valid request that fails with a 5xx or a broken exchange under load
//! is noted by its persona and step ([`Suspects`]); after the load, the journey is replayed one
//! user at a time up to that step ([`replay`]). A step that then succeeds every time, often enough
//! that its rate of failure under load could not have spared it by chance, is a
//! `concurrency_error`: a reliability defect (a race on a unique column, a pool too small), not a
//! breach. Its evidence names the endpoint, the load it failed at, a sample answer and a
//! reproducer: N parallel curls, tokens as placeholders.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::runner::{Run, User};
use super::{Context, Step};
use crate::client::{Call, CallError, Failure, Netra};
use crate::findings::FindingKind;

/// Replays of one step at most: a failure rarer than this many can tell is left unjudged.
pub const MAX_REPLAYS: u32 = 50;
/// Failures under load a step needs before it is judged: one or two tell no rate.
const MIN_FAILURES: u64 = 3;
/// Replays of one step at least, however often it failed under load.
const MIN_REPLAYS: u32 = 3;
/// The chance, at most, that a step failing as often as under load would have succeeded in
/// every replay: the finding's margin against a defect that fails at random (small, as several
/// steps may be judged in one run).
const CHANCE: f64 = 0.01;
/// The replays of a whole run stop after this long (a target that stopped answering is no
/// evidence either way).
pub const REPLAY_TIME: Duration = Duration::from_secs(10);
/// Replaying users are numbered from here on (past any run's users).
const REPLAYER: usize = 1_000_000;

/// Whether a failure is one a valid request should never meet: a 5xx, or the exchange broken.
/// A gateway's or an overloaded server's answer (502, 503, 504) says it sheds load: capacity,
/// not a defect of the request.
pub fn suspect(e: &CallError) -> bool {
    matches!(e.kind, Failure::Status(500 | 501 | 505..=599) | Failure::Transport)
}

/// A step's failures under load.
#[derive(Clone, Debug)]
struct Suspect {
    persona: usize,
    step: Step,
    failures: u64,
    call: Option<Call>,
    kind: String,
    sample: String,
    user: usize,
    /// Users active at the first failure, and at most.
    first_active: usize,
    max_active: usize,
    at: Instant,
}

/// Steps that met a suspect failure, by persona index and step.
#[derive(Debug, Default)]
pub struct Suspects {
    seen: Mutex<BTreeMap<(usize, &'static str), Suspect>>,
}

impl Suspects {
    /// `user` of `persona` failed `step` with `e`, with `active` users running.
    pub fn failed(&self, persona: usize, step: Step, user: usize, e: &CallError, active: usize) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let s = seen.entry((persona, step.name())).or_insert_with(|| Suspect {
            persona,
            step,
            failures: 0,
            call: e.call,
            kind: e.kind.as_str().into_owned(),
            sample: e.detail.chars().take(300).collect(),
            user,
            first_active: active,
            max_active: active,
            at: Instant::now(),
        });
        s.failures += 1;
        s.max_active = s.max_active.max(active);
    }

    fn all(&self) -> Vec<Suspect> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }
}

/// Replays one at a time that a step failing `failures` of `attempts` times must pass for the
/// serial successes to be no chance (`None`: too rare a failure to tell within [`MAX_REPLAYS`]).
pub fn replays_needed(failures: u64, attempts: u64) -> Option<u32> {
    if failures < MIN_FAILURES {
        return None;
    }
    // One failure fewer than seen: the rate is not over-read from a few.
    let rate = (failures - 1) as f64 / attempts.max(failures) as f64;
    let needed = (CHANCE.ln() / (1.0 - rate).ln()).ceil();
    (needed <= f64::from(MAX_REPLAYS)).then(|| (needed as u32).max(MIN_REPLAYS))
}

/// What the replays of a step showed.
#[derive(Debug, PartialEq, Eq)]
pub enum Replayed {
    /// The step succeeded every time, alone.
    Passed(u32),
    /// It failed alone too: a defect, but not of concurrency.
    FailedAlone,
    /// A step before it failed, or time ran out: no evidence.
    Unknown,
}

/// Runs `ctx`'s journey as one fresh user up to and including `upto`, recording nothing.
async fn once(ctx: &Context, number: usize, upto: Step) -> Result<bool, CallError> {
    let mut run = Run::begin(ctx, number, 1, Instant::now(), 0);
    let mut result = Ok(false);
    for &step in &ctx.steps {
        match super::runner::perform_alone(ctx, &mut run, step).await {
            // A step that did not apply this time tells nothing of it.
            Ok(applied) if step == upto => {
                result = Ok(applied);
                break;
            }
            Ok(_) => {}
            Err(e) if step == upto => {
                result = Err(e);
                break;
            }
            // A step before it failed: this replay tells nothing.
            Err(_) => break,
        }
    }
    run.close().await;
    result
}

/// Replays `upto` of `ctx`'s journey `times` times, one at a time, with fresh users.
async fn replay_step(ctx: &Context, upto: Step, times: u32, first: usize) -> Replayed {
    let mut passed = 0;
    for k in 0..times {
        match once(ctx, first + k as usize, upto).await {
            Ok(true) => passed += 1,
            Ok(false) => return Replayed::Unknown,
            Err(e) if suspect(&e) => return Replayed::FailedAlone,
            Err(_) => return Replayed::Unknown,
        }
    }
    Replayed::Passed(passed)
}

/// After the load: replays every suspect step one user at a time and reports a
/// `concurrency_error` for each that then always succeeds. `attempts` gives a persona's step's
/// attempts under load. Bounded by [`REPLAY_TIME`] in all.
pub async fn replay(
    contexts: &[&Context],
    suspects: &Suspects,
    attempts: impl Fn(usize, &str) -> u64,
    started: Instant,
) {
    let deadline = Instant::now() + REPLAY_TIME;
    let mut next = REPLAYER;
    // One finding per endpoint (or step): the first persona's suspect step found it.
    let mut judged: Vec<String> = Vec::new();
    for s in suspects.all() {
        let (persona, step) = (s.persona, s.step);
        let Some(ctx) = contexts.iter().find(|c| c.persona == persona) else { continue };
        let endpoint = endpoint(&ctx.netra, s.call, step);
        if judged.contains(&endpoint) {
            continue;
        }
        let tried = attempts(persona, step.name()).max(s.failures);
        let Some(times) = replays_needed(s.failures, tried) else { continue };
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = tokio::time::timeout(left, replay_step(ctx, step, times, next))
            .await
            .unwrap_or(Replayed::Unknown);
        next += times as usize;
        if let Replayed::Passed(n) = outcome {
            judged.push(endpoint.clone());
            report(ctx, &s, step, &endpoint, tried, n, started);
        }
    }
}

/// `METHOD /path` of the call that failed, else the step's name.
fn endpoint(netra: &Netra, call: Option<Call>, step: Step) -> String {
    call.map_or_else(|| format!("step {}", step.name()), |call| netra.endpoint(call))
}

fn report(ctx: &Context, s: &Suspect, step: Step, endpoint: &str, tried: u64, passed: u32, started: Instant) {
    let mut f = ctx.findings.stamp(FindingKind::ConcurrencyError, vec![format!("user {}", s.user)], endpoint);
    f.at_s = s.at.saturating_duration_since(started).as_secs_f64();
    f.active_users = s.first_active;
    f.expected = "a valid request that succeeds on its own succeeds under load too".into();
    f.observed = format!(
        "{} of {tried} {} failed under load ({}, with {}-{} users running; step {} of {}): {}; \
         replayed one user at a time after the load, it succeeded {passed} of {passed} times",
        s.failures,
        if tried == 1 { "attempt" } else { "attempts" },
        s.kind,
        s.first_active,
        s.max_active,
        step.name(),
        ctx.journey.name,
        s.sample
    );
    f.reproducer = match s.call {
        Some(call) => parallel_curls(&ctx.netra, call, s.max_active.max(2)),
        None => format!("# run journey {} with {} users at once", ctx.journey.name, s.max_active.max(2)),
    };
    ctx.findings.report(f);
}

/// `n` parallel curls of `call`, each its own user (`{}` numbers them), tokens as placeholders.
fn parallel_curls(netra: &Netra, call: Call, n: usize) -> String {
    let shape = netra.shape(call);
    let bearer = shape.bearer.map(|b| b.replace('>', " of user {}>"));
    let body = shape.body.map(|b| b.replace("<email>", "race-{}@example.com"));
    let one = crate::findings::curl(shape.method.as_str(), &shape.url, bearer.as_deref(), body.as_deref());
    format!("seq 1 {n} | xargs -P {n} -I{{}} {one}")
}

/// Whether the user's failure is noted for replay: a suspect failure of a valid request.
pub fn note(ctx: &Context, user: &User, step: Step, e: &CallError) {
    if suspect(e) {
        let active = ctx.live.users_started.load(std::sync::atomic::Ordering::Relaxed);
        ctx.suspects.failed(ctx.persona, step, user.number, e, active);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_are_enough_to_rule_out_chance_and_bounded() {
        // Every attempt failed under load: a few successes alone tell.
        assert_eq!(replays_needed(10, 10), Some(MIN_REPLAYS));
        // Half failed (49 of 100 counted): 0.51^7 < 1 %.
        assert_eq!(replays_needed(50, 100), Some(7));
        // One in six: 0.84^27 < 1 %; one in ten 49 replays; fewer needs more than allowed.
        assert_eq!(replays_needed(17, 100), Some(27));
        assert_eq!(replays_needed(10, 100), Some(49));
        assert_eq!(replays_needed(8, 100), None);
        // One or two failures tell no rate, however few the attempts.
        assert_eq!(replays_needed(2, 2), None);
    }

    #[test]
    fn only_5xx_and_broken_exchanges_are_suspect() {
        assert!(suspect(&CallError::new(Failure::Status(500), "x")));
        assert!(suspect(&CallError::new(Failure::Transport, "reset")));
        assert!(!suspect(&CallError::new(Failure::Status(429), "x")));
        assert!(!suspect(&CallError::new(Failure::Status(503), "overloaded")));
        assert!(!suspect(&CallError::new(Failure::Timeout, "x")));
    }
}
