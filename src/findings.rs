//! Findings: security results, not timings. A finding names what was broken, who was involved,
//! where, when and under what load, with evidence a person can replay: the request as a curl
//! command with every token replaced by a placeholder, and what was expected vs observed.
//!
//! Plain data: the load code produces findings, the collector deduplicates them by kind and
//! endpoint (counting repeats), the report carries them, and any finding makes the run exit 3.

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
}
