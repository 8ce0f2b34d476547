//! A tester that never hangs and never loses its report: the target dies, comes back, hangs,
//! answers garbage or upgrades slowly, and every run still ends on time (run time + 5 s), writes
//! its report with the failures counted by kind, and exits by its verdict.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{BIN, report, run, spawn_target_at, text};

const SECRET: &str = "reliability-test-secret";

/// The run took at most its run time (and the ramp) plus 5 s, by its own clock and ours.
fn on_time(r: &Value, wall: Duration, run_time_s: f64) {
    let duration = r["run"]["duration_s"].as_f64().unwrap();
    assert!(duration <= run_time_s + 5.0, "the run lasted {duration} s");
    // Process start-up and report writing on a shared machine: a few more seconds of slack.
    assert!(wall < Duration::from_secs_f64(run_time_s + 10.0), "the process took {wall:?}");
}

fn error_count(r: &Value, kind: &str) -> u64 {
    r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["count"].as_u64().unwrap())
        .sum()
}

fn timed(dir: &std::path::Path, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = run(dir, args);
    (out, started.elapsed())
}

#[test]
fn a_target_that_hangs_past_the_call_timeout_cannot_hold_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (out, wall) =
        timed(dir.path(), &["--profile", "smoke", "--run-time", "3s", "--target-fault", "hang=1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let r = report(dir.path());
    on_time(&r, wall, 3.0);
    // Users that had waited on the stuck target fail their journeys (and only those that had
    // just begun a step are merely cut): it is not a pass.
    assert!(error_count(&r, "unanswered_at_end") > 0, "{}", r["errors"]);
}

#[test]
fn garbage_errors_and_drops_are_counted_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let faults = [
        "--target-fault",
        "garbage=0.1",
        "--target-fault",
        "error-rate=0.1",
        "--target-fault",
        "ws-drop=0.1",
    ];
    let (out, wall) = timed(
        dir.path(),
        &[&["--profile", "smoke", "--users", "10", "--run-time", "3s"][..], &faults].concat(),
    );
    // Exit 1, not 3: a 200 with a garbage body is no evidence of a breach.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let r = report(dir.path());
    on_time(&r, wall, 3.0);
    for kind in ["bad_body", "http_500", "ws_closed"] {
        assert!(error_count(&r, kind) > 0, "no `{kind}` counted: {}", r["errors"]);
    }
    let failures = r["journeys"]["signup-chat"]["failures"].as_u64().unwrap();
    let errors: u64 = r["errors"].as_array().unwrap().iter().map(|e| e["count"].as_u64().unwrap()).sum();
    assert_eq!(errors, failures, "one classified error per failed journey");
}

#[test]
fn a_slow_websocket_handshake_is_measured_without_holding_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // The embedded target refuses a handshake its start-up check cannot wait for
    // (tests/refusals.rs); a deployment this slow is found by the preflight's own upgrade: it
    // waits the call timeout, then says so.
    let slow = support::spawn_target_with(&["--fault", "ws-handshake=20s"]);
    let (auth, backend) = (slow.auth_url.as_str(), slow.backend_url.as_str());
    let (out, wall) = timed(
        dir.path(),
        &["--profile", "smoke", "--run-time", "3s", "--auth-url", auth, "--backend-url", backend],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("preflight: the WebSocket upgrade") && stderr.contains("timeout"), "{stderr}");
    assert!(wall < Duration::from_secs(20), "{wall:?}");
    let dir = tempfile::tempdir().unwrap();
    let (out, wall) = timed(
        dir.path(),
        &["--profile", "smoke", "--run-time", "4s", "--target-fault", "ws-handshake=1500ms"],
    );
    // Missed targets (the cohort), or INCOMPLETE: each JWT probe's upgrade takes 1.5 s, so their
    // first round cannot finish in 4 s, and the run says which probes it never sent.
    assert!(matches!(out.status.code(), Some(1 | 4)), "{}", text(&out.stdout));
    let r = report(dir.path());
    on_time(&r, wall, 4.0);
    let ws = r["journeys"]["signup-chat"]["steps"]["ws_connect"]["p50_us"].as_u64().unwrap();
    let profile = r["journeys"]["signup-chat"]["steps"]["profile"]["p50_us"].as_u64().unwrap();
    assert!(ws > 10 * profile, "the slow upgrade shows in ws_connect ({ws} µs vs profile {profile} µs)");
}

/// A standalone target on `addrs` (port 0 the first time), with a fixed secret so that a
/// restarted one accepts the tokens of the first.
fn target(auth: &str, backend: &str) -> support::Target {
    spawn_target_at(auth, backend, &["--jwt-secret", SECRET])
}

fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

#[test]
fn a_killed_target_fails_the_journeys_and_a_restarted_one_is_picked_up_again() {
    // spawn_target_with binds port 0; the restarted target takes the same ports back.
    let mut first = target("127.0.0.1:0", "127.0.0.1:0");
    let (auth, backend) = (first.auth_url.clone(), first.backend_url.clone());
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let child = Command::new(BIN)
        .args(["--profile", "smoke", "--users", "10", "--run-time", "7s", "--no-progress", "--quiet"])
        .args(["--auth-url", &auth, "--backend-url", &backend, "--jwt-secret", SECRET])
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The fault's schedule (not a wait for readiness): down at 1.5 s, back at 3 s.
    std::thread::sleep(Duration::from_millis(1500));
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _second = target(&addr(&auth), &addr(&backend));
    let out = child.wait_with_output().unwrap();
    let wall = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "errors.rate missed: {}", text(&out.stderr));
    let r = report(dir.path());
    on_time(&r, wall, 7.0);
    let down = error_count(&r, "connect") + error_count(&r, "ws_closed") + error_count(&r, "ws_error");
    assert!(down > 0, "the dead target's failures are classified: {}", r["errors"]);
    // Journeys completed again in the run's last windows, after the restart.
    let windows = r["timeline"]["windows"].as_array().unwrap();
    let late: u64 = windows
        .iter()
        .filter(|w| w["start_s"].as_f64().unwrap() >= 5.0)
        .filter_map(|w| w["journeys"]["signup-chat"]["count"].as_u64())
        .sum();
    assert!(late > 0, "no journey completed after the restart: {windows:?}");
}

#[test]
fn a_target_unreachable_from_the_start_is_exit_2_without_a_report() {
    let first = target("127.0.0.1:0", "127.0.0.1:0");
    let (auth, backend) = (first.auth_url.clone(), first.backend_url.clone());
    drop(first);
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "smoke", "--auth-url", &auth, "--backend-url", &backend]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot reach the auth service"), "{}", text(&out.stderr));
    assert!(!dir.path().join("reports").exists());
}
