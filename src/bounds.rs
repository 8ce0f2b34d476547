//! The bounds durations and intervals of input are held to, in one place, so that input that
//! would run for years, loop without pause, or keep the embedded target from answering the run's
//! start-up check is refused before anything starts (exit 2), naming the input, its value and
//! the bound. A fault's duration is also held to a day where it is parsed (`reference::faults`).

use std::time::Duration;

use crate::reference::{Fault, Faults, parse_duration_within};

const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// How long one call may take before it counts as a timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long each service's health check may take at the start of a run.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// `-t`, `[run] run_time`: a week at most.
pub const RUN_TIME: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(7 * 24 * 3600));
/// `[isolation] probe_every`: `0ms` probed in a hot loop (6 612 rounds in 2 s); the shipped
/// `isolation` profile probes every 20 ms, so 10 ms is the floor.
pub const PROBE_EVERY: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(3600));
/// `[probes] jwt_every` when not `0s` (only at the start): a round sends a dozen requests.
pub const JWT_EVERY: (Duration, Duration) = (SECOND, DAY);
/// `--access-ttl`, `[target] access_ttl`: tokens carry whole seconds.
pub const ACCESS_TTL: (Duration, Duration) = (SECOND, Duration::from_secs(30 * 24 * 3600));
/// `--refresh-ttl`.
pub const REFRESH_TTL: (Duration, Duration) = (SECOND, Duration::from_secs(365 * 24 * 3600));
/// `--agent-latency`, `[target] agent_latency`: the think time of one chat turn.
pub const AGENT_LATENCY: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(60));

/// The most the embedded target's faults may delay its health check at the start of a run: it
/// must answer within [`HEALTH_TIMEOUT`], with a second to spare.
const STARTUP_DELAY: Duration = HEALTH_TIMEOUT.saturating_sub(SECOND);
/// The most `ws-handshake` may delay the start-up check's WebSocket upgrade (on top of a
/// `latency` of at most [`STARTUP_DELAY`], under [`CALL_TIMEOUT`]).
const HANDSHAKE_DELAY: Duration = Duration::from_secs(5);
/// The least `hang` may wait: the start-up check (health, one user, one upgrade, a few
/// milliseconds on an idle target) must be done before the target stops answering.
const HANG_AFTER: Duration = SECOND;

/// A duration within `bounds`, for clap and profiles.
pub fn within(text: &str, bounds: (Duration, Duration)) -> Result<Duration, String> {
    parse_duration_within(text, bounds.0, bounds.1)
}

/// How far in the past `--start-at` may be (pods scheduled a moment late still start), and how
/// far ahead.
pub const START_LATE: Duration = Duration::from_secs(5);
pub const START_AHEAD: Duration = DAY;

/// `--start-at`: an RFC 3339 time (`2026-12-03T08:30:00Z`) or epoch seconds, at most
/// [`START_LATE`] past and [`START_AHEAD`] ahead of now.
pub fn start_at(text: &str) -> Result<std::time::SystemTime, String> {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = text.trim();
    let at = match t.parse::<u64>() {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => humantime::parse_rfc3339_weak(t).map_err(|_| {
            format!("`{t}` is not a time: write RFC 3339 (2026-12-03T08:30:00Z) or epoch seconds")
        })?,
    };
    let now = SystemTime::now();
    if let Ok(late) = now.duration_since(at)
        && late > START_LATE
    {
        return Err(format!(
            "`{t}` is {} ago: a common start must be in the future (at most {} late)",
            humantime::format_duration(Duration::from_secs(late.as_secs())),
            humantime::format_duration(START_LATE)
        ));
    }
    if at.duration_since(now).is_ok_and(|ahead| ahead > START_AHEAD) {
        return Err(format!("`{t}` is more than {} ahead", humantime::format_duration(START_AHEAD)));
    }
    Ok(at)
}

/// `compare --min-change`: a latency figure's noise, up to a minute.
pub fn min_change(text: &str) -> Result<Duration, String> {
    within(text, (Duration::ZERO, Duration::from_secs(60)))
}

pub fn run_time(text: &str) -> Result<Duration, String> {
    within(text, RUN_TIME)
}

pub fn access_ttl(text: &str) -> Result<Duration, String> {
    within(text, ACCESS_TTL)
}

pub fn refresh_ttl(text: &str) -> Result<Duration, String> {
    within(text, REFRESH_TTL)
}

pub fn agent_latency(text: &str) -> Result<Duration, String> {
    within(text, AGENT_LATENCY)
}

/// Refuses a fault of the embedded target that would keep it from answering the run's start-up
/// check (health, one user, one WebSocket upgrade), naming the fault and its allowed range.
pub fn startable(list: &[Fault], faults: &Faults) -> Result<(), String> {
    let show = |d: Duration| humantime::format_duration(d).to_string();
    let why = format!("the embedded target must answer its start-up check within {}", show(HEALTH_TIMEOUT));
    for fault in list {
        let refused = match fault {
            Fault::Latency(d) if *d > STARTUP_DELAY => {
                format!("{why}, so latency takes 0 to {}", show(STARTUP_DELAY))
            }
            Fault::Stall((pause, _)) if *pause > STARTUP_DELAY => {
                format!("{why}, so the stall's pause takes up to {}", show(STARTUP_DELAY))
            }
            Fault::WsHandshake(d) if *d > HANDSHAKE_DELAY => format!(
                "the start-up check's WebSocket upgrade must finish within {}, so ws-handshake takes 0 to {}",
                show(CALL_TIMEOUT),
                show(HANDSHAKE_DELAY)
            ),
            Fault::Hang(d) if *d < HANG_AFTER => format!(
                "the embedded target would stop answering before the run's start-up check is done, so hang takes {} or more",
                show(HANG_AFTER)
            ),
            _ => continue,
        };
        return Err(format!("`{fault}`: {refused}"));
    }
    // A stall at the start waits on top of the latency.
    let delay = faults.latency.unwrap_or_default() + faults.stall.map_or(Duration::ZERO, |(pause, _)| pause);
    if delay > STARTUP_DELAY {
        return Err(format!(
            "latency and stall together delay the start-up check by {}: {why}, so their sum takes 0 to {}",
            show(delay),
            show(STARTUP_DELAY)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_the_embedded_target_cannot_start_with_are_named_with_their_range() {
        let check = |text: &str| {
            let fault: Fault = text.parse().unwrap();
            startable(&[fault], &Faults::from_list(&[fault]).unwrap())
        };
        // slowdown grows from nothing at the target's start: the start-up check never waits on it.
        for ok in ["latency=4s", "stall=200ms/2s", "hang=1s", "ws-handshake=5s", "slowdown=2s", "idor"] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, range) in [
            ("latency=6s", "0 to 4s"),
            ("stall=5s/8s", "up to 4s"),
            ("hang=0s", "1s or more"),
            ("ws-handshake=20s", "0 to 5s"),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")) && e.contains(range), "{bad}: {e}");
        }
        let both: Vec<Fault> = ["latency=3s", "stall=2s/8s"].iter().map(|f| f.parse().unwrap()).collect();
        assert!(startable(&both, &Faults::from_list(&both).unwrap()).unwrap_err().contains("their sum"));
    }

    #[test]
    fn durations_outside_their_bounds_name_the_value_and_the_bound() {
        assert!(run_time("1000y").unwrap_err().contains("`1000y` is above the limit of 7d"));
        assert_eq!(run_time("7d"), Ok(RUN_TIME.1));
        assert!(within("0ms", PROBE_EVERY).unwrap_err().contains("below the minimum of 10ms"));
        assert!(access_ttl("0s").is_err() && refresh_ttl("2y").is_err() && agent_latency("2m").is_err());
    }
}
