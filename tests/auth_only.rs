//! An auth service tested by itself: only `--auth-url`. token-refresh runs on the auth endpoints,
//! what needs the backend is skipped with the reason, and the JWT probes go to the auth service.

mod support;

use support::{report, run, spawn_target, spawn_target_with, text};

fn auth_only(dir: &std::path::Path, auth_url: &str) -> std::process::Output {
    run(dir, &["--profile", "mixed", "--auth-url", auth_url, "--users", "6", "--iterations", "2"])
}

#[test]
fn an_auth_service_alone_runs_token_refresh_and_says_what_it_skipped() {
    let target = spawn_target();
    let dir = tempfile::tempdir().unwrap();
    let out = auth_only(dir.path(), &target.auth_url);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let r = report(dir.path());
    support::assert_schema(&r);
    assert_eq!(r["run"]["target"]["kind"], "auth-service");
    let journeys: Vec<&String> = r["journeys"].as_object().unwrap().keys().collect();
    assert_eq!(journeys, ["token-refresh"], "only token-refresh can run on the auth service");
    let j = &r["journeys"]["token-refresh"];
    assert!(j["count"].as_u64().unwrap() > 0 && j["failures"] == 0, "{j}");
    let skipped: Vec<&str> = r["skipped"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(skipped.iter().any(|s| s.contains("(signup-chat): needs the backend")), "{skipped:?}");
    assert!(skipped.iter().any(|s| s.contains("WebSocket reconnect is skipped")), "{skipped:?}");
    // The profile's signup-chat targets are neither met nor missed.
    let targets = r["verdict"]["targets"].as_array().unwrap();
    let signup = targets.iter().find(|t| t["name"] == "journey.signup-chat.p99").unwrap();
    assert!(signup["not_run"] == true && signup["observed"] == "not run", "{signup}");
    assert!(text(&out.stdout).contains("not run"), "{}", text(&out.stdout));
    // Three subjects' probes, each on the auth service only.
    let checks = r["probes"]["checks"].as_u64().unwrap();
    assert!(checks > 0 && checks < 27, "{}", r["probes"]);
}

#[test]
fn an_auth_service_that_does_not_revoke_is_caught_on_its_own_endpoints() {
    let target = spawn_target_with(&["--fault", "no-revoke"]);
    let dir = tempfile::tempdir().unwrap();
    let out = auth_only(dir.path(), &target.auth_url);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let r = report(dir.path());
    let findings = r["findings"].as_array().unwrap();
    // Both the journey (after its own logout) and the JWT probes see it, on the auth service.
    let journey =
        findings.iter().find(|f| f["endpoint"] == "POST /auth/logout").expect("the journey's finding");
    assert!(journey["observed"].as_str().unwrap().contains("GET /auth/verify"), "{journey}");
    assert!(findings.iter().any(|f| f["endpoint"] == "GET /auth/verify [revoked by logout]"), "{findings:?}");
    assert!(findings.iter().all(|f| f["kind"] == "logout_not_revoked"), "{findings:?}");
    assert!(!r["findings"].to_string().contains("/api/"), "no backend call in an auth-only run");
}

#[test]
fn a_backend_without_its_auth_service_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--backend-url", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("give --auth-url too"), "{}", text(&out.stderr));
}
