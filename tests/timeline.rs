//! The run over time: per-window counts and latencies in report.json, and the trend target that
//! catches a server slowing down as the run goes on.

mod support;

use support::{report, run, text};

const PROFILE: &str = "[run]\nusers = 6\nrun_time = \"4s\"\n[target]\nagent_latency = \"50ms\"\n\
    [[persona]]\nname = \"chatter\"\njourney = \"signup-chat\"\nplan_tier = \"enterprise\"\n\
    [targets]\n\"trend.signup-chat.p50\" = \"< +50%\"\n";

fn timed_run(fault: Option<&str>) -> (Option<i32>, serde_json::Value, String) {
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
    assert!((4..=6).contains(&windows.len()), "about one window a second: {}", windows.len());
    let in_windows: u64 = windows.iter().filter_map(|w| w["journeys"]["signup-chat"]["count"].as_u64()).sum();
    let journeys = &r["journeys"]["signup-chat"];
    assert_eq!(in_windows, journeys["count"].as_u64().unwrap(), "every journey lands in one window");
    assert_eq!(windows.last().unwrap()["active_users"], 6);
    let target = &r["verdict"]["targets"][0];
    assert!(target["passed"] == true && target["observed"].as_str().unwrap().ends_with('%'), "{target}");
}

#[test]
fn a_server_slowing_down_misses_the_trend_target() {
    let (code, r, stdout) = timed_run(Some("slowdown=10ms"));
    assert_eq!(code, Some(1), "{stdout}");
    let target = &r["verdict"]["targets"][0];
    assert_eq!(target["name"], "trend.signup-chat.p50");
    assert_eq!(target["passed"], false, "{target}");
    let growth: f64 = target["observed"].as_str().unwrap().trim_end_matches('%').parse().unwrap();
    assert!(growth > 50.0, "{target}");
}
