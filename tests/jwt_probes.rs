//! JWT hardening probes: against the clean target every forged token is refused on every
//! surface; against `weak-jwt` the forgeries are found, and nothing else is; against a deployment
//! whose secret is unknown, the probes that need it are reported as skipped.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use support::{BIN, report, run, text};

fn kinds(r: &Value) -> BTreeSet<&str> {
    r["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect()
}

#[test]
fn the_clean_target_refuses_every_forged_token_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "smoke"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let r = report(dir.path());
    let probes = &r["probes"];
    // 10 token probes (the secret of the embedded target is known) x 5 surfaces (verify, me,
    // validate, the backend, the WebSocket), but neither the WebSocket client nor a token in a
    // body goes without `Bearer`; and one wrong password and one pair of twin logins.
    assert_eq!((probes["rounds"].as_u64(), probes["checks"].as_u64()), (Some(1), Some(50)), "{probes}");
    assert_eq!(probes["by_probe"]["wrong password"]["sent"], 1, "{probes}");
    assert_eq!(probes["by_probe"]["twin logins"]["sent"], 1, "{probes}");
    assert_eq!(probes["by_probe"]["no exp"]["sent"], 5, "{probes}");
    assert_eq!(probes["skipped"], serde_json::json!([]));
    assert!(kinds(&r).is_empty());
}

#[test]
fn a_login_that_takes_any_password_is_found_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "smoke", "--target-fault", "any-password"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(!stdout.contains("pw-"), "no password is printed: {stdout}");
    let r = report(dir.path());
    support::assert_schema(&r);
    assert_eq!(kinds(&r), BTreeSet::from(["credential_accepted"]));
    let f = &r["findings"][0];
    assert_eq!(f["endpoint"], "POST /auth/login [wrong password]");
    assert!(f["reproducer"].as_str().unwrap().contains("<a wrong password>"), "{f}");
    assert!(!support::all_text(&dir.path().join("reports")).contains("pw-"), "no password in any report");
}

#[test]
fn a_backend_that_takes_any_signature_is_found_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "smoke", "--target-fault", "weak-jwt"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.starts_with("netra-load") && stdout.contains("FINDING jwt_accepted"), "{stdout}");
    assert!(!stdout.contains("eyJ"), "no token is printed: {stdout}");
    let r = report(dir.path());
    support::assert_schema(&r);
    assert_eq!(kinds(&r), BTreeSet::from(["jwt_accepted"]));
    let endpoints: BTreeSet<&str> =
        r["findings"].as_array().unwrap().iter().map(|f| f["endpoint"].as_str().unwrap()).collect();
    for expected in [
        "GET /api/users/profile [alg none]",
        "GET /api/users/profile [wrong key]",
        "GET /api/users/profile [tampered sub]",
        "GET /ws (upgrade) [alg none]",
    ] {
        assert!(endpoints.contains(expected), "{expected} not in {endpoints:?}");
    }
    assert!(
        endpoints.iter().all(|e| !e.starts_with("GET /auth/verify")),
        "the auth service stays strict: {endpoints:?}"
    );
    assert!(
        endpoints.iter().all(|e| !e.contains("expired") && !e.contains("refresh as access")),
        "{endpoints:?}"
    );
}

#[test]
fn against_a_deployment_with_an_unknown_secret_the_minting_probes_are_skipped() {
    let target = support::spawn_target();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "--profile",
            "smoke",
            "--no-progress",
            "--auth-url",
            &target.auth_url,
            "--backend-url",
            &target.backend_url,
            "--report-dir",
        ])
        .arg(dir.path().join("reports"))
        .env_remove("NETRA_JWT_SECRET")
        .output()
        .unwrap();
    drop(target);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let r = report(dir.path());
    assert_eq!(r["run"]["target"]["kind"], "deployment");
    let skipped = r["probes"]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    assert!(skipped.iter().all(|s| s.as_str().unwrap().contains("needs the signing secret")));
    assert_eq!(
        r["probes"]["checks"], 30,
        "6 probes x 5 surfaces, less the WebSocket and validate without Bearer, one wrong password and twin logins"
    );
}
