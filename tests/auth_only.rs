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

/// The s1 profile against an s1 auth service alone, its secret given: no persona can run (minted
/// users have no sessions, the rest needs the backend), so the JWT probes run alone.
fn s1_auth_only(dir: &std::path::Path, auth_url: &str, extra: &[&str]) -> std::process::Output {
    let args = ["--profile", "netra-s1", "--auth-url", auth_url, "--jwt-secret", "s1-secret", "-u", "4"];
    run(dir, &[&args[..], &["--run-time", "2s"], extra].concat())
}

fn covered<'a>(r: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    let rows = r["coverage"].as_array().unwrap();
    rows.iter().find(|c| c["check"] == check).unwrap_or_else(|| panic!("no {check} in {rows:?}"))
}

#[test]
fn an_s1_auth_service_alone_gets_the_jwt_probes_and_says_what_would_run_the_journeys() {
    let target = spawn_target_with(&["--dialect", "s1", "--jwt-secret", "s1-secret"]);
    let dir = tempfile::tempdir().unwrap();
    let out = s1_auth_only(dir.path(), &target.auth_url, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let r = report(dir.path());
    support::assert_schema(&r);
    assert!(r["journeys"].as_object().unwrap().is_empty(), "{}", r["journeys"]);
    // Each skipped persona names what would make it run.
    let skipped = r["skipped"].to_string();
    assert!(
        skipped.contains("(token-refresh): needs refresh tokens")
            && skipped.contains("--provisioning dev-login")
    );
    assert!(skipped.contains("(signup-chat): needs the backend") && skipped.contains("give --backend-url"));
    // The probes were exercised, and are counted; what needs users is not run, not passed.
    let probes = covered(&r, "finding jwt_accepted");
    assert!(probes["exercised"].as_u64().unwrap() > 0 && probes["found"] == 0, "{probes}");
    assert_eq!(covered(&r, "finding ws_crosstalk")["status"], "not_run");
    let targets = r["verdict"]["targets"].as_array().unwrap();
    assert!(targets.iter().all(|t| t["not_run"] == true), "{targets:?}");
    assert!(r["findings"].as_array().unwrap().iter().all(|f| f["kind"] == "logout_not_revoked"));
    assert!(stdout.contains("verdict: PASS"), "{stdout}");

    // An auth service that takes any signature: the probes alone catch it.
    let weak =
        spawn_target_with(&["--dialect", "s1", "--jwt-secret", "s1-secret", "--fault", "weak-auth-jwt"]);
    let dir = tempfile::tempdir().unwrap();
    let out = s1_auth_only(dir.path(), &weak.auth_url, &[]);
    assert_eq!(out.status.code(), Some(3), "{}{}", text(&out.stdout), text(&out.stderr));
    let r = report(dir.path());
    let kinds: std::collections::BTreeSet<&str> =
        r["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["jwt_accepted", "logout_not_revoked"].into(), "{}", r["findings"]);
}

#[test]
fn s1_dev_login_users_run_token_refresh_on_the_auth_service_without_a_false_drift() {
    // Every dev login is a new user id with the one email dev@example.com, which s1 finds users
    // by: `me` may name the first dev user. The email is the identity, and it holds.
    let target = spawn_target_with(&["--dialect", "s1", "--jwt-secret", "s1-secret"]);
    let dir = tempfile::tempdir().unwrap();
    let out = s1_auth_only(dir.path(), &target.auth_url, &["--provisioning", "dev-login"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let r = report(dir.path());
    let j = &r["journeys"]["token-refresh"];
    assert!(j["count"].as_u64().unwrap() > 0 && j["failures"] == 0, "{j}");
    let drift = covered(&r, "finding identity_drift");
    assert!(drift["exercised"].as_u64().unwrap() > 0 && drift["found"] == 0, "{drift}");

    // With a backend, dev-login users (one email) would be one user there: refused, with the way.
    let dir = tempfile::tempdir().unwrap();
    let with_backend = ["--backend-url", target.backend_url.as_str(), "--provisioning", "dev-login"];
    let out = s1_auth_only(dir.path(), &target.auth_url, &with_backend);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("dev-login users all share one email"), "{}", text(&out.stderr));
    assert!(!dir.path().join("reports").exists());

    // Against the fault that really changes the identity, the same run finds it.
    let drifting =
        spawn_target_with(&["--dialect", "s1", "--jwt-secret", "s1-secret", "--fault", "refresh-identity"]);
    let dir = tempfile::tempdir().unwrap();
    let out = s1_auth_only(dir.path(), &drifting.auth_url, &["--provisioning", "dev-login"]);
    assert_eq!(out.status.code(), Some(3), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(report(dir.path())["findings"].to_string().contains("identity_drift"));
}
