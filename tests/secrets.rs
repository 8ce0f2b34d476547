//! No secret in any output: a whole run folder, stdout and stderr (with every crate logging at
//! debug level, tungstenite at trace) hold neither the JWT secret, nor a password, nor any token (every token the
//! target issues is a JWT: `eyJ...`).

mod support;

use std::process::Command;

use support::{BIN, all_text, text};

const SECRET: &str = "netra-secret-under-test-7f3a";

/// Where `needle` first shows in `text`, with some context.
fn around(text: &str, at: usize) -> &str {
    let (mut start, mut end) = (at.saturating_sub(80), (at + 80).min(text.len()));
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    &text[start..end]
}

#[test]
fn no_secret_password_or_token_reaches_a_report_or_a_log() {
    for profile in ["mixed", "flows"] {
        let dir = tempfile::tempdir().unwrap();
        let reports = dir.path().join("reports");
        let out = Command::new(BIN)
            .args(["--profile", profile, "--users", "12", "--run-time", "3s", "--no-progress"])
            .args(["--target-fault", "no-revoke", "--report-dir", reports.to_str().unwrap()])
            .env("NETRA_JWT_SECRET", SECRET)
            // tungstenite's trace level writes the WebSocket upgrade request whole.
            .env("RUST_LOG", "debug,tungstenite=trace")
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 3)), "{profile}: {}", text(&out.stderr));
        let all = format!("{}{}{}", text(&out.stdout), text(&out.stderr), all_text(&reports));
        assert!(all.len() > 10_000, "{profile}: the run said enough to be worth searching");
        assert!(all.contains("logout_not_revoked"), "{profile}: findings (with their reproducers) are there");
        if let Some(at) = all.find(SECRET) {
            panic!("{profile}: the JWT secret: {}", around(&all, at));
        }
        // Passwords netra-load makes are `pw-` and 16 hex digits.
        for (at, _) in all.match_indices("pw-") {
            let candidate = all[at + 3..].chars().take(16).collect::<String>();
            assert!(
                !(candidate.len() == 16 && candidate.chars().all(|c| c.is_ascii_hexdigit())),
                "{profile}: a password: {}",
                around(&all, at)
            );
        }
        // A JWT: a base64url header beginning `{"` (eyJ), a dot, a payload.
        for (at, _) in all.match_indices("eyJ") {
            let token: String =
                all[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
            assert!(
                token.matches('.').count() < 2 || token.len() < 40,
                "{profile}: a token: {}",
                around(&all, at)
            );
        }
    }
}
