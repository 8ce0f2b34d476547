//! Journey rate-limit with bystanders, and every shipped profile against the clean target.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{report, run, text};

fn run_profile(profile: &str, extra: &[&str]) -> (Option<i32>, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--profile", profile];
    args.extend(extra);
    let out = run(dir.path(), &args);
    let r = report(dir.path());
    support::assert_schema(&r);
    (out.status.code(), r, text(&out.stdout))
}

fn kinds(r: &Value) -> BTreeSet<String> {
    r["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap().to_owned()).collect()
}

const SMALL: &[&str] = &["--users", "8", "--run-time", "3s"];

#[test]
fn the_abusers_meet_the_limit_they_expect_and_recover() {
    let (code, r, stdout) = run_profile("rate-limit", SMALL);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(kinds(&r).is_empty(), "{:?}", r["findings"]);
    let limit = &r["observations"]["observed_limit"];
    assert_eq!(limit["expected"], 20);
    // The bucket refills at 1/s while the burst runs: 20, or 21 at most.
    assert!(
        (20..=21).contains(&limit["min"].as_u64().unwrap()) && limit["max"].as_u64().unwrap() <= 21,
        "{limit}"
    );
    let order: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let abuser: Vec<&str> =
        order.iter().copied().filter(|s| ["burst", "recover", "quota"].contains(s)).collect();
    assert_eq!(abuser, ["burst", "recover", "quota"], "steps in journey order: {stdout}");
    let steps = &r["journeys"]["rate-limit"]["steps"];
    for step in ["burst", "recover", "quota"] {
        assert!(steps[step]["count"].as_u64().unwrap() >= 1, "{step}: {steps}");
        assert_eq!(steps[step]["failures"], 0, "{step}");
    }
}

#[test]
fn a_shared_bucket_is_found_as_a_noisy_neighbour_and_nothing_else() {
    let (code, r, _) = run_profile("rate-limit", &[SMALL, &["--target-fault", "shared-rate-limit"]].concat());
    assert_eq!(code, Some(3));
    assert_eq!(kinds(&r), BTreeSet::from(["noisy_neighbour".to_owned()]));
}

#[test]
fn no_rate_limit_at_all_is_its_own_finding() {
    let (code, r, stdout) =
        run_profile("rate-limit", &[SMALL, &["--target-fault", "no-rate-limit"]].concat());
    assert_eq!(code, Some(3));
    assert_eq!(kinds(&r), BTreeSet::from(["no_rate_limit".to_owned()]));
    assert!(stdout.contains("no limit observed up to 100 requests"), "{stdout}");
}

#[test]
fn bystanders_at_100_users_never_report_a_noisy_neighbour() {
    for seed in ["1", "2"] {
        let (code, r, stdout) =
            run_profile("rate-limit", &["--users", "100", "--run-time", "3s", "--seed", seed]);
        assert!(kinds(&r).is_empty(), "seed {seed}: {:?}", r["findings"]);
        assert_ne!(code, Some(3), "seed {seed}: {stdout}");
    }
}

#[test]
fn every_shipped_profile_passes_against_the_clean_target_three_times() {
    // No false alarm: not a missed target, not an incomplete check, not a finding (s1's known
    // one aside), run after run.
    let shipped = ["smoke", "chat", "token-refresh", "rate-limit", "mixed", "isolation", "flows"];
    for profile in shipped.into_iter().chain(["netra-s1", "netra-beta"]) {
        for round in 1..=3 {
            let (code, r, stdout) = run_profile(profile, &["--users", "12", "--run-time", "3s"]);
            assert_eq!(code, Some(0), "{profile}, run {round}: {stdout}");
            assert_eq!(r["verdict"]["outcome"], "PASS", "{profile}, run {round}");
            let unknown = r["findings"].as_array().unwrap().iter().filter(|f| f["known"] != true).count();
            assert_eq!(unknown, 0, "{profile}, run {round}: {}", r["findings"]);
            let incomplete: Vec<&Value> =
                r["coverage"].as_array().unwrap().iter().filter(|c| c["incomplete"] == true).collect();
            assert!(incomplete.is_empty(), "{profile}, run {round}: {incomplete:?}");
        }
    }
}

#[test]
fn a_shared_bucket_is_a_noisy_neighbour_to_any_journey_not_only_signup_chat() {
    // No abuser: the users of chat-export and token-refresh drain one bucket together, each far
    // within its own limit.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("shared.toml");
    std::fs::write(
        &profile,
        "[run]\nusers = 6\nrun_time = \"3s\"\n[target]\nburst = 10\nrate_limit = \"60/min\"\n\
         [[persona]]\nname = \"exporter\"\njourney = \"chat-export\"\nweight = 2\n\
         [[persona]]\nname = \"refresher\"\njourney = \"token-refresh\"\n",
    )
    .unwrap();
    let (code, r, stdout) = run_profile(profile.to_str().unwrap(), &["--target-fault", "shared-rate-limit"]);
    assert_eq!(code, Some(3), "{stdout}");
    assert_eq!(kinds(&r), BTreeSet::from(["noisy_neighbour".to_owned()]), "{stdout}");
    let found = r["findings"].as_array().unwrap();
    // Grouped by the endpoint refused, the journey that met it said.
    assert!(found.iter().any(|f| f["observed"].as_str().unwrap().contains("of chat-export")), "{found:?}");
    assert!(found.iter().all(|f| f["endpoint"].as_str().unwrap().contains(" /api/")), "{found:?}");
    let expected = found[0]["expected"].as_str().unwrap();
    assert!(expected.contains("of its own requests in the last 60 s"), "{expected}");
}

#[test]
fn misrouted_replies_are_cross_talk_and_never_answer_a_quota_check() {
    // One agent event in five goes to another user's connection as well. The abusers' free
    // messages and the bystanders' first replies wait among those foreign frames: each must take
    // only its own turn's reply, so the cross-talk is the one finding, quota checks stay right
    // and no step fails on a frame that was not its own.
    let args = ["--users", "12", "--run-time", "4s", "--target-fault", "ws-crosstalk=0.2"];
    let (code, r, stdout) = run_profile("rate-limit", &args);
    assert_eq!(code, Some(3), "{stdout}");
    assert_eq!(kinds(&r), BTreeSet::from(["ws_crosstalk".to_owned()]), "{}", r["findings"]);
    for (journey, step) in [("rate-limit", "quota"), ("signup-chat", "first_reply")] {
        let s = &r["journeys"][journey]["steps"][step];
        assert!(s["count"].as_u64().unwrap() >= 1, "{journey} {step}: {s}");
        assert_eq!(s["failures"], 0, "{journey} {step}: {stdout}");
    }
    // The foreign frames were met while waiting, and read past.
    assert!(r["isolation"]["other_turn_events"].as_u64().unwrap() > 0, "{}", r["isolation"]);
    assert!(stdout.contains("agent events of other turns read past"), "{stdout}");
}
