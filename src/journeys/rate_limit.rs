//! Journey rate-limit, run by the *abuser* persona: burst `GET /api/users/profile` until the
//! first 429, checking the `X-RateLimit-*` headers on the way and `Retry-After` on the refusal;
//! the successes before it are the observed limit (reported beside the expected burst). Then
//! wait `Retry-After` and check that the user recovers; then, as a fresh free user, send chat
//! messages until refused: the refusal must come at the message after the free quota.
//!
//! No 429 within `NO_LIMIT_FACTOR` times the expected burst is the finding `no_rate_limit`; a
//! quota that never refuses is `quota_not_enforced`. One user's flood throttling *another* user is
//! found by any journey's 429 within its account's own limit, as `noisy_neighbour`, in
//! [`super::runner`].

use std::time::Duration;

use super::{Context, Step, Steps, User};
use crate::client::{CallError, Failure, HeaderMap, Method, Netra, StatusCode};
use crate::findings::{FindingKind, curl};
use crate::metrics::Event;

pub const STEPS: &[Step] = &[Step::Register, Step::Login, Step::Burst, Step::Recover, Step::Quota];

#[derive(Default)]
pub struct RateLimit {
    /// The `Retry-After` of the first 429.
    retry_after: Option<u64>,
}

impl Steps for RateLimit {
    async fn step(&mut self, ctx: &Context, netra: &Netra, user: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::Burst => {
                self.retry_after = burst(ctx, netra, user).await?;
                Ok(())
            }
            Step::Recover => {
                let Some(wait) = self.retry_after else { return Ok(()) }; // no limit: nothing to recover from
                let until = std::time::Instant::now() + Duration::from_secs(wait);
                super::runner::wait_on_purpose(ctx, user, until).await;
                let req = netra.backend_request(Method::GET, &netra.api().profile, &user.logged_in()?.access);
                match netra.status_of("recover", req).await? {
                    s if s.is_success() => Ok(()),
                    s => {
                        Err(CallError::wrong(format!("recover: still {s} after waiting Retry-After {wait}s")))
                    }
                }
            }
            Step::Quota => quota(ctx, netra, user).await,
            other => Err(CallError::wrong(format!("rate-limit has no step {}", other.name()))),
        }
    }
}

/// How far past the expected burst the abuser goes before calling the limit absent.
const NO_LIMIT_FACTOR: u32 = 5;
/// The longest `Retry-After` the journey waits; longer is itself reported as a failure.
const MAX_RETRY_AFTER: u64 = 60;

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Bursts until the first 429; returns its `Retry-After` (`None`: no limit was found).
async fn burst(ctx: &Context, netra: &Netra, user: &User) -> Result<Option<u64>, CallError> {
    let access = user.logged_in()?.access.clone();
    let ceiling = ctx.expect.burst.saturating_mul(NO_LIMIT_FACTOR).max(100);
    let mut successes = 0u32;
    let mut last_remaining = None;
    for _ in 0..ceiling {
        let req = netra.backend_request(Method::GET, &netra.api().profile, &access);
        let (status, headers) = netra.send("burst", req).await?;
        match status {
            s if s.is_success() => {
                successes += 1;
                let (limit, remaining) = (
                    header_u64(&headers, "x-ratelimit-limit"),
                    header_u64(&headers, "x-ratelimit-remaining"),
                );
                let (Some(limit), Some(remaining)) = (limit, remaining) else {
                    // A deployment without any limit sends no headers; only judge them once seen.
                    if last_remaining.is_some() {
                        return Err(CallError::wrong("burst: X-RateLimit-* headers came and went"));
                    }
                    continue;
                };
                if remaining > limit || last_remaining.is_some_and(|last| remaining > last + 1) {
                    return Err(CallError::wrong(format!(
                        "burst: inconsistent headers: remaining {remaining} of limit {limit} after {last_remaining:?}"
                    )));
                }
                if header_u64(&headers, "x-ratelimit-reset").is_none() {
                    return Err(CallError::wrong("burst: X-RateLimit-Reset missing or not a number"));
                }
                last_remaining = Some(remaining);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let expected = Some(u64::from(ctx.expect.burst));
                ctx.recorder.send(Event::Observed {
                    name: "observed_limit",
                    value: u64::from(successes),
                    expected,
                });
                let retry = header_u64(&headers, "retry-after")
                    .ok_or_else(|| CallError::wrong("burst: 429 without a numeric Retry-After"))?;
                if retry == 0 || retry > MAX_RETRY_AFTER {
                    return Err(CallError::wrong(format!(
                        "burst: Retry-After {retry}s is out of 1..={MAX_RETRY_AFTER}"
                    )));
                }
                if header_u64(&headers, "x-ratelimit-remaining").is_some_and(|r| r > 0) {
                    return Err(CallError::wrong("burst: 429 while X-RateLimit-Remaining is above 0"));
                }
                return Ok(Some(retry));
            }
            other => {
                return Err(CallError::new(Failure::Status(other.as_u16()), format!("burst: {other}")));
            }
        }
    }
    let endpoint = "GET /api/users/profile";
    let mut f = ctx.finding(FindingKind::NoRateLimit, user.number, endpoint);
    f.expected = format!("a 429 once a user passes its burst of {}", ctx.expect.burst);
    f.observed = format!("no limit observed up to {ceiling} requests");
    let bearer = format!("<access token of user {}>", user.number);
    let one = curl("GET", &netra.backend_url(&netra.api().profile), Some(&bearer), None);
    f.reproducer = format!("for i in $(seq {ceiling}); do {one} -o /dev/null -w '%{{http_code}}\\n'; done");
    ctx.findings.report(f);
    Ok(None)
}

async fn quota(ctx: &Context, netra: &Netra, user: &User) -> Result<(), CallError> {
    let access = user.logged_in()?.access.clone();
    let mut chat = netra.chat(&access).await?;
    let quota = ctx.expect.free_quota;
    let mut outcome = Ok(());
    // The default thread's id, as the first reply tells it: later turns' answers must be on it.
    let mut thread: Option<String> = None;
    for n in 1..=quota + 1 {
        match chat.default_thread_turn(&format!("quota probe {n} {}", user.canary), thread.as_deref()).await {
            Ok(turn) if n <= quota => {
                if thread.is_none() && !turn.thread_id.is_empty() {
                    thread = Some(turn.thread_id);
                }
            }
            Ok(_) => {
                let mut f = ctx.finding(FindingKind::QuotaNotEnforced, user.number, "WS user_message");
                f.expected = format!(
                    "the free tier's message {} of the day is refused with quota exceeded",
                    quota + 1
                );
                f.observed = format!("message {n} was answered");
                f.reproducer = format!(
                    "# over the WebSocket {} with <access token of user {}>, send {} user_message frames",
                    netra.ws_url(),
                    user.number,
                    quota + 1
                );
                ctx.findings.report(f);
            }
            Err(e) if n > quota && e.kind == Failure::WsQuotaExceeded => {}
            Err(e) if e.kind == Failure::WsQuotaExceeded => {
                outcome = Err(CallError::wrong(format!(
                    "quota: refused at message {n}, expected at {}",
                    quota + 1
                )));
                break;
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    chat.close().await;
    outcome
}
