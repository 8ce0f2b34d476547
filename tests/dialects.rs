//! Real deployments' dialects: the netra-s1 profile against the embedded target speaking s1, and
//! a dialect mismatch caught by the preflight.

mod support;

use std::collections::BTreeSet;

use support::{report, run, spawn_target_with, text};

#[test]
fn the_s1_profile_runs_against_an_s1_target_and_reports_what_s1_really_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "netra-s1", "--users", "8", "--run-time", "3s"]);
    let stdout = text(&out.stdout);
    // s1's logout revokes nothing: the JWT probes' logged-out token is accepted, and only that;
    // the profile knows it, so it is reported as known and the run passes.
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("KNOWN FINDING logout_not_revoked"), "{stdout}");
    let r = report(dir.path());
    support::assert_schema(&r);
    let kinds: BTreeSet<&str> =
        r["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["logout_not_revoked"]));
    assert!(r["findings"].as_array().unwrap().iter().all(|f| f["known"] == true));
    for journey in ["signup-chat", "ws-resilience"] {
        let j = &r["journeys"][journey];
        assert!(j["count"].as_u64().unwrap() > 0 && j["failures"] == 0, "{journey}: {j}");
        assert!(j["steps"].get("register").is_none(), "s1 has no register step: {j}");
    }
    let skipped = r["skipped"].as_array().unwrap();
    assert!(skipped.len() == 1 && skipped[0].as_str().unwrap().contains("refresher"), "{skipped:?}");
    assert_eq!(r["isolation"]["leaks"], 0, "unique minted users: no collapsed identities");
}

#[test]
fn a_dialect_mismatch_is_caught_by_the_preflight() {
    let target = spawn_target_with(&["--dialect", "s1"]);
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["--profile", "smoke", "--auth-url", &target.auth_url, "--backend-url", &target.backend_url],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("preflight: cannot register and log in one user at")
            && stderr.contains("/auth/register")
            && stderr.contains("404"),
        "{stderr}"
    );
}

#[test]
fn minting_against_a_deployment_needs_the_secret() {
    let target = spawn_target_with(&["--dialect", "s1"]);
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["--profile", "netra-s1", "--auth-url", &target.auth_url, "--backend-url", &target.backend_url],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--jwt-secret"), "{stderr}");
}

#[test]
fn the_beta_profile_runs_clean_against_a_beta_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "netra-beta", "--users", "8", "--run-time", "3s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let r = report(dir.path());
    support::assert_schema(&r);
    assert_eq!(r["findings"], serde_json::json!([]));
    for journey in ["signup-chat", "token-refresh", "data-export"] {
        let j = &r["journeys"][journey];
        assert!(j["count"].as_u64().unwrap() > 0 && j["failures"] == 0, "{journey}: {j}");
    }
    // The WebSocket refusal after the upgrade still counts as a refusal for the JWT probes.
    assert!(r["probes"]["checks"].as_u64().unwrap() >= 27, "{}", r["probes"]);
}
