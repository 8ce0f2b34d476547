//! Journey token-refresh against the embedded target: clean, it finds nothing; with a token
//! fault, exactly the matching finding, with evidence that names no secret.

mod support;

use std::collections::BTreeSet;

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

fn kinds(r: &Value) -> BTreeSet<&str> {
    r["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect()
}

/// The finding of `kind` reported at `endpoint`.
fn finding<'a>(r: &'a Value, kind: &str, endpoint: &str) -> &'a Value {
    r["findings"].as_array().unwrap().iter().find(|f| f["kind"] == kind && f["endpoint"] == endpoint).unwrap()
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
    assert_eq!(kinds(&r), BTreeSet::from(["logout_not_revoked"]));
    let f = finding(&r, "logout_not_revoked", "POST /auth/logout");
    assert_eq!(f["count"], 8, "every journey saw it");
    assert!(f["observed"].as_str().unwrap().contains("GET /api/users/profile"));
    assert!(f["reproducer"].as_str().unwrap().contains("<access token of user"));
    assert_eq!(r["verdict"]["exit_code"], 3);
}

#[test]
fn an_accepted_retired_refresh_token_is_the_one_finding() {
    let (code, r) = token_refresh(&["refresh-reuse"]);
    assert_eq!(code, Some(3));
    assert_eq!(kinds(&r), BTreeSet::from(["refresh_reuse_accepted"]));
    let f = finding(&r, "refresh_reuse_accepted", "POST /auth/refresh");
    assert!(f["reproducer"].as_str().unwrap().contains("<retired refresh token of user"));
}

#[test]
fn without_the_journey_only_the_probes_revoked_token_finds_a_logout_that_revokes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["--profile", "smoke", "--target-fault", "no-revoke", "--target-fault", "refresh-reuse"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let r = report(dir.path());
    assert_eq!(kinds(&r), BTreeSet::from(["logout_not_revoked"]));
    let endpoints: BTreeSet<&str> =
        r["findings"].as_array().unwrap().iter().map(|f| f["endpoint"].as_str().unwrap()).collect();
    assert!(endpoints.iter().all(|e| e.ends_with("[revoked by logout]")), "{endpoints:?}");
}

#[test]
fn with_short_lived_access_tokens_the_journey_waits_out_expiry_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("short.toml");
    std::fs::write(
        &profile,
        "[run]\nusers = 2\niterations = 1\n[target]\naccess_ttl = \"2s\"\n\
         [[persona]]\nname = \"refresher\"\njourney = \"token-refresh\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["--profile", profile.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let r = report(dir.path());
    let journey = &r["journeys"]["token-refresh"];
    assert_eq!((journey["count"].as_u64(), journey["failures"].as_u64()), (Some(2), Some(0)));
    let expiry = &journey["steps"]["expiry"];
    assert_eq!(expiry["count"], 2);
    assert!(expiry["p50_us"].as_u64().unwrap() >= 2_000_000, "it waited past the 2 s lifetime: {expiry}");
    assert!(kinds(&r).is_empty());
}
