//! The run over time: per-window counts and latencies in report.json, and the trend target that
//! catches a server slowing down as the run goes on.

mod support;

use support::{report, run, text};

/// One run at a time: a trend compares a run's start with its end, and another run starting
/// beside it on a 2-core box would change its latency halfway through.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const PROFILE: &str = "[run]\nusers = 6\nrun_time = \"12s\"\n[target]\nagent_latency = \"50ms\"\n\
    [[persona]]\nname = \"chatter\"\njourney = \"signup-chat\"\nplan_tier = \"enterprise\"\n\
    [targets]\n\"trend.signup-chat.p50\" = \"< +50%\"\n";

fn timed_run(fault: Option<&str>) -> (Option<i32>, serde_json::Value, String) {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("trend.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let mut args = vec!["--profile", profile.to_str().unwrap()];
    if let Some(f) = fault {
        args.extend(["--target-fault", f]);
    }
    let out = run(dir.path(), &args);
    (out.status.code(), report(dir.path()), text(&out.stdout))
}

#[test]
fn windows_hold_every_journey_and_a_steady_server_keeps_its_trend() {
    let (code, r, stdout) = timed_run(None);
    assert_eq!(code, Some(0), "{stdout}");
    support::assert_schema(&r);
    let windows = r["timeline"]["windows"].as_array().unwrap();
    assert!((12..=14).contains(&windows.len()), "about one window a second: {}", windows.len());
    let in_windows: u64 = windows.iter().filter_map(|w| w["journeys"]["signup-chat"]["count"].as_u64()).sum();
    let journeys = &r["journeys"]["signup-chat"];
    assert_eq!(in_windows, journeys["count"].as_u64().unwrap(), "every journey lands in one window");
    assert_eq!(windows.last().unwrap()["active_users"], 6);
    let target = &r["verdict"]["targets"][0];
    let observed = target["observed"].as_str().unwrap();
    let change = observed.split_whitespace().next().unwrap();
    assert!(target["passed"] == true && change.ends_with('%') && observed.contains(" samples)"), "{target}");
}

#[test]
fn a_server_slowing_down_misses_the_trend_target() {
    let (code, r, stdout) = timed_run(Some("slowdown=10ms"));
    assert_eq!(code, Some(1), "{stdout}");
    let target = &r["verdict"]["targets"][0];
    assert_eq!(target["name"], "trend.signup-chat.p50");
    assert_eq!(target["passed"], false, "{target}");
    let change = target["observed"].as_str().unwrap().split_whitespace().next().unwrap();
    let growth: f64 = change.trim_end_matches('%').parse().unwrap();
    assert!(growth > 50.0, "{target}");
}

/// 10 users through signup-chat for 12 s (a trend needs 10 s of steady phase), every step timed
/// per window: the degradation section. The agent takes 50 ms to reply, so the box is not kept
/// saturated: with users back to back on 2 cores every step's latency is queueing, and another
/// process taking a core late in the run (seen in CI: the last seconds at half the throughput)
/// doubled a steady server's medians.
const DEGRADE: &str = "[run]\nusers = 10\nrun_time = \"12s\"\n[target]\nagent_latency = \"50ms\"\n\
    [[persona]]\nname = \"chatter\"\njourney = \"signup-chat\"\nplan_tier = \"enterprise\"\n\
    [targets]\n\"trend.step.*.p50\" = \"< +50%\"\n";

fn degradation_run(fault: Option<&str>) -> (Option<i32>, serde_json::Value, String) {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("degrade.toml");
    std::fs::write(&profile, DEGRADE).unwrap();
    let mut args = vec!["--profile", profile.to_str().unwrap()];
    if let Some(f) = fault {
        args.extend(["--target-fault", f]);
    }
    let out = run(dir.path(), &args);
    let md = std::fs::read_to_string(support::run_folder(dir.path()).join("report.md")).unwrap();
    let (r, stdout) = (report(dir.path()), text(&out.stdout));
    assert!(md.contains("## Degradation"), "{md}");
    (out.status.code(), r, stdout)
}

fn grown(r: &serde_json::Value, of: &str) -> Vec<String> {
    let grown = r["degradation"]["grown"].as_array().unwrap();
    grown.iter().filter(|t| t["of"] == of).map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_slowing_backend_names_its_steps_and_endpoints_and_nothing_else() {
    // slowdown: every backend answer and agent reply 10 ms slower for each second the target
    // has run; the auth service (register, login) is not slowed.
    let (code, r, stdout) = degradation_run(Some("slowdown=10ms"));
    assert_eq!(code, Some(1), "{stdout}");
    support::assert_schema(&r);
    let backend = ["create_thread", "first_reply", "history", "list_threads", "profile", "ws_connect"];
    assert_eq!(grown(&r, "step"), backend, "{}", r["degradation"]);
    let endpoints = grown(&r, "endpoint");
    assert!(endpoints.contains(&"GET /api/threads/{id}/messages".to_owned()), "{endpoints:?}");
    assert!(endpoints.iter().all(|e| !e.contains("/auth/")), "{endpoints:?}");
    for t in r["degradation"]["grown"].as_array().unwrap() {
        assert!(
            t["first_samples"].as_u64().unwrap() >= 20 && t["last_samples"].as_u64().unwrap() >= 20,
            "{t}"
        );
        assert!(t["last_us"].as_u64().unwrap() > t["first_us"].as_u64().unwrap(), "{t}");
    }
    let target = r["verdict"]["targets"].as_array().unwrap().iter().find(|t| t["name"] == "trend.step.*.p50");
    assert_eq!(target.unwrap()["passed"], false, "{stdout}");
    assert!(
        stdout.contains("degradation:") && stdout.contains("step history (GET /api/threads/{id}/messages)"),
        "{stdout}"
    );

    // A steady server: every step judged, none grown, the run passes.
    let (code, r, stdout) = degradation_run(None);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(r["degradation"]["steps_judged"].as_u64().unwrap() >= 8, "{}", r["degradation"]);
    assert!(r["degradation"]["grown"].as_array().unwrap().is_empty(), "{}", r["degradation"]);
    assert!(stdout.contains("none slowed down"), "{stdout}");
}
