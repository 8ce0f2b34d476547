//! Findings: security results, not timings. A finding names what was broken, who was involved,
//! where, when and under what load, with evidence a person can replay: the request as a curl
//! command with every token replaced by a placeholder, and what was expected vs observed.
//!
//! Plain data: the load code produces findings, the collector deduplicates them by kind and
//! endpoint (counting repeats), the report carries them, and any finding makes the run exit 3.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// e.g. `logout_not_revoked`, `refresh_reuse_accepted`.
    pub kind: String,
    /// `high` or `medium`.
    pub severity: String,
    /// Who was involved, as `user N` (Goose user numbers), never emails or tokens.
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

/// Every kind of finding netra-load reports.
pub const KINDS: &[&str] = &[
    "refresh_reuse_accepted",
    "reuse_family_not_revoked",
    "logout_not_revoked",
    "expired_token_accepted",
    "no_rate_limit",
    "quota_not_enforced",
    "noisy_neighbour",
    "message_lost",
    "jwt_accepted",
    "jwt_server_error",
    "list_leak",
    "export_leak",
    "ws_crosstalk",
    "data_leak",
    "bola",
];

impl Finding {
    /// A finding of `kind` at `endpoint`, stamped with the time since the run's start and the
    /// users running then; evidence is filled in by the caller.
    pub fn new(
        kind: &str,
        severity: &str,
        users: Vec<String>,
        endpoint: &str,
        at_s: f64,
        active_users: usize,
    ) -> Finding {
        Finding {
            kind: kind.to_owned(),
            severity: severity.to_owned(),
            users,
            endpoint: endpoint.to_owned(),
            at_s,
            active_users,
            expected: String::new(),
            observed: String::new(),
            reproducer: String::new(),
            count: 1,
            known: false,
        }
    }
}

const MAX_USERS_NAMED: usize = 10;

/// Findings of the run, deduplicated by (kind, endpoint) with a count. Findings are rare, so a
/// mutex is no cost here.
#[derive(Debug, Default)]
pub struct FindingSink(Mutex<BTreeMap<(String, String), Finding>>);

impl FindingSink {
    pub fn report(&self, finding: Finding) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = (finding.kind.clone(), finding.endpoint.clone());
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
        self.0.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
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
    fn every_kind_is_explained_in_the_readme() {
        let readme = include_str!("../README.md");
        for kind in super::KINDS {
            assert!(readme.contains(&format!("`{kind}`")), "README's findings table lacks `{kind}`");
        }
    }
}
