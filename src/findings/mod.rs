//! Findings: security results, not timings. A finding names what was broken, who was involved,
//! where, when and under what load, with evidence a person can replay: the request as a curl
//! command with every token replaced by a placeholder, and what was expected vs observed.
//!
//! Plain data: journeys and probes stamp findings in one place ([`FindingSink::stamp`]: the time
//! since the run's start and the users running then), the sink deduplicates them by kind and
//! endpoint (counting repeats), the report carries them, and any finding not known to the
//! profile makes the run exit 3. The kinds are one table ([`FindingKind`], `kinds.rs`).

mod kinds;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use kinds::{FindingKind, Severity};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// Who was involved, as `user N` (Goose user numbers) or `the prober`, never emails or
    /// tokens; where two are involved, with their roles: `(viewer)` and `(owner)` of the data
    /// seen, `(attacker)` and `(victim)` of an access allowed.
    pub users: Vec<String>,
    /// `METHOD /path` or a WebSocket frame type.
    pub endpoint: String,
    /// Seconds from the run's start to the first occurrence.
    pub at_s: f64,
    /// Users running at that moment.
    pub active_users: usize,
    pub expected: String,
    pub observed: String,
    /// The request as a curl command; tokens are `<access token of user N>` and the like.
    pub reproducer: String,
    /// How many times this kind was seen at this endpoint.
    pub count: u64,
    /// A kind the profile lists as known (`[expect] known_findings`): reported, but it does not
    /// make the run a breach.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub known: bool,
}

const MAX_USERS_NAMED: usize = 10;

/// The run's findings, deduplicated by (kind, endpoint) with a count, and the one place
/// findings are stamped with their time and load. Findings are rare, so a mutex is no cost here.
#[derive(Debug)]
pub struct FindingSink {
    found: Mutex<BTreeMap<(&'static str, String), Finding>>,
    started: Instant,
    /// Users running now (the load engine counts them).
    active: Arc<AtomicUsize>,
}

impl FindingSink {
    /// A sink for a run that started at `started`, with `active` users running at any moment.
    pub fn new(started: Instant, active: Arc<AtomicUsize>) -> FindingSink {
        FindingSink { found: Mutex::default(), started, active }
    }

    /// A finding of `kind` involving `users` at `endpoint`, stamped with the time since the run's
    /// start and the users running now; the caller adds the evidence, then reports it.
    pub fn stamp(&self, kind: FindingKind, users: Vec<String>, endpoint: &str) -> Finding {
        Finding {
            kind,
            severity: kind.severity(),
            users,
            endpoint: endpoint.to_owned(),
            at_s: self.started.elapsed().as_secs_f64(),
            active_users: self.active.load(Ordering::Relaxed),
            expected: String::new(),
            observed: String::new(),
            reproducer: String::new(),
            count: 1,
            known: false,
        }
    }

    pub fn report(&self, finding: Finding) {
        let mut all = self.found.lock().unwrap_or_else(|e| e.into_inner());
        // Keyed by the kind's name: findings are listed in the order of their names.
        let key = (finding.kind.as_str(), finding.endpoint.clone());
        match all.get_mut(&key) {
            Some(seen) => {
                seen.count += 1;
                // Name a few of the users involved, not thousands.
                for user in finding.users {
                    if seen.users.len() < MAX_USERS_NAMED && !seen.users.contains(&user) {
                        seen.users.push(user);
                    }
                }
            }
            None => {
                all.insert(key, Finding { count: 1, ..finding });
            }
        }
    }

    pub fn all(&self) -> Vec<Finding> {
        self.found.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }
}

/// A curl command for `method url` with a bearer placeholder and an optional JSON body.
pub fn curl(method: &str, url: &str, bearer: Option<&str>, body: Option<&str>) -> String {
    let mut cmd = format!("curl -sS -X {method} '{url}'");
    if let Some(token) = bearer {
        cmd.push_str(&format!(" -H 'Authorization: Bearer {token}'"));
    }
    if let Some(body) = body {
        cmd.push_str(&format!(" -H 'content-type: application/json' -d '{body}'"));
    }
    cmd
}

#[cfg(test)]
mod tests {
    #[test]
    fn curl_commands_carry_placeholders_only() {
        let c = super::curl(
            "POST",
            "http://127.0.0.1:1/auth/refresh",
            None,
            Some(r#"{"refresh_token": "<refresh token of user 3>"}"#),
        );
        assert_eq!(
            c,
            r#"curl -sS -X POST 'http://127.0.0.1:1/auth/refresh' -H 'content-type: application/json' -d '{"refresh_token": "<refresh token of user 3>"}'"#
        );
    }

    #[test]
    fn findings_are_stamped_with_their_kinds_severity_and_counted_once_per_endpoint() {
        let active = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(7));
        let sink = super::FindingSink::new(std::time::Instant::now(), active);
        for user in 0..20 {
            let f = sink.stamp(super::FindingKind::NoRateLimit, vec![format!("user {user}")], "GET /x");
            sink.report(f);
        }
        sink.report(sink.stamp(super::FindingKind::Bola, vec![], "GET /y"));
        let all = sink.all();
        assert_eq!(all.len(), 2);
        let (bola, limit) = (&all[0], &all[1]);
        assert_eq!((bola.kind.as_str(), limit.kind.as_str()), ("bola", "no_rate_limit"));
        assert_eq!((limit.count, limit.users.len(), limit.active_users), (20, 10, 7));
        assert_eq!(limit.severity, super::Severity::Medium);
    }
}
