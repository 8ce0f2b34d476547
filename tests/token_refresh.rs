//! Journey token-refresh against the embedded target: clean, it finds nothing; with a token
//! fault, exactly the matching finding, with evidence that names no secret.

mod support;

use serde_json::Value;
use support::{report, run, text};

/// A small bounded token-refresh run with `faults`; returns exit code and report.
fn token_refresh(faults: &[&str]) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--profile", "token-refresh", "--users", "4", "--iterations", "2"];
    for f in faults {
        args.extend(["--target-fault", f]);
    }
    let out = run(dir.path(), &args);
    let r = report(dir.path());
    support::assert_schema(&r);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("eyJ"), "no token on stdout: {stdout}");
    (out.status.code(), r)
}

fn kinds(r: &Value) -> Vec<&str> {
    r["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect()
}

#[test]
fn the_clean_target_passes_every_lifecycle_check() {
    let (code, r) = token_refresh(&[]);
    assert_eq!(code, Some(0), "{r}");
    assert!(kinds(&r).is_empty());
    let journey = &r["journeys"]["token-refresh"];
    assert_eq!((journey["count"].as_u64(), journey["failures"].as_u64()), (Some(8), Some(0)));
    for step in [
        "register",
        "login",
        "use_access",
        "refresh",
        "use_new_access",
        "reuse_old_refresh",
        "relogin",
        "logout",
        "use_after_logout",
    ] {
        assert_eq!(journey["steps"][step]["count"], 8, "{step}");
    }
}

#[test]
fn a_logout_that_revokes_nothing_is_the_one_finding() {
    let (code, r) = token_refresh(&["no-revoke"]);
    assert_eq!(code, Some(3));
    assert_eq!(kinds(&r), ["logout_not_revoked"]);
    let f = &r["findings"][0];
    assert_eq!(f["count"], 8, "every journey saw it");
    assert!(f["observed"].as_str().unwrap().contains("GET /api/users/profile"));
    assert!(f["reproducer"].as_str().unwrap().contains("<access token of user"));
    assert_eq!(r["verdict"]["exit_code"], 3);
}

#[test]
fn an_accepted_retired_refresh_token_is_the_one_finding() {
    let (code, r) = token_refresh(&["refresh-reuse"]);
    assert_eq!(code, Some(3));
    assert_eq!(kinds(&r), ["refresh_reuse_accepted"]);
    assert!(r["findings"][0]["reproducer"].as_str().unwrap().contains("<retired refresh token of user"));
}

#[test]
fn signup_chat_has_no_lifecycle_checks_so_token_faults_find_nothing_there() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["--profile", "smoke", "--target-fault", "no-revoke", "--target-fault", "refresh-reuse"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(kinds(&report(dir.path())).is_empty());
}
