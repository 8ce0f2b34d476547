//! The platform's other flows: each journey of the flows profile runs clean, and a server that
//! drops WebSocket connections mid-turn is recovered from without losing anything.

mod support;

use support::{report, run, text};

#[test]
fn every_flow_runs_clean_with_every_step_measured() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "flows", "--users", "8", "--iterations", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let r = report(dir.path());
    support::assert_schema(&r);
    let expect = [
        ("consistency", &["register", "login", "auth_me", "profile"][..]),
        ("data-export", &["create_thread", "post_messages", "export", "usage"]),
        (
            "multi-device",
            &[
                "more_devices",
                "connect_devices",
                "chat_all_devices",
                "logout_one_device",
                "others_still_work",
            ],
        ),
        (
            "ws-resilience",
            &["ws_connect", "interrupted_turn", "reconnect", "history_after_drop", "turn_after_reconnect"],
        ),
    ];
    for (journey, steps) in expect {
        let j = &r["journeys"][journey];
        assert_eq!((j["count"].as_u64(), j["failures"].as_u64()), (Some(4), Some(0)), "{journey}: {j}");
        for step in steps {
            assert_eq!(j["steps"][step]["count"], 4, "{journey}.{step}");
        }
    }
    assert_eq!(r["findings"], serde_json::json!([]));
}

#[test]
fn connections_dropped_by_the_server_are_recovered_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("resilience.toml");
    std::fs::write(
        &profile,
        "[run]\nusers = 6\niterations = 3\n[[persona]]\nname = \"p\"\njourney = \"ws-resilience\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["--profile", profile.to_str().unwrap(), "--target-fault", "ws-drop=0.1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let r = report(dir.path());
    let j = &r["journeys"]["ws-resilience"];
    // A drop of the same turn four times running (p = 1e-4) may still fail a journey: allow one.
    assert!(j["count"].as_u64().unwrap() >= 17 && j["failures"].as_u64().unwrap() <= 1, "{j}");
    assert!(r["errors"].as_array().unwrap().iter().all(|e| e["kind"] == "ws_closed"), "{}", r["errors"]);
    assert!(j["steps"]["reconnect"]["p50_us"].as_u64().unwrap() > 0, "time to recover is measured");
    assert!(r["findings"].as_array().unwrap().iter().all(|f| f["kind"] != "message_lost"));
}

#[test]
fn multi_device_follows_the_deployments_fan_out_reading() {
    // A target whose agent answers only the connection that asked: within the contract.
    let profile = |api: &str| {
        format!(
            "[run]\nusers = 3\nrun_time = \"3s\"\n[target]\nws_fanout = \"origin\"\n{api}\
             [[persona]]\nname = \"devices\"\njourney = \"multi-device\"\n[targets]\n\"errors.rate\" = \"< 1%\"\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    // Read as the reference reads it (every connection of the owner), the other devices wait
    // for a turn that never comes to them: the journeys fail.
    std::fs::write(dir.path().join("owner.toml"), profile("")).unwrap();
    let out = run(dir.path(), &["--profile", dir.path().join("owner.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    // Told the deployment's reading, the same target passes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("origin.toml"), profile("[api]\nws_fanout = \"origin\"\n")).unwrap();
    let out = run(dir.path(), &["--profile", dir.path().join("origin.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let r = report(dir.path());
    assert!(r["journeys"]["multi-device"]["count"].as_u64().unwrap() > 0);
    assert!(r["findings"].as_array().unwrap().is_empty(), "{}", r["findings"]);

    // Any other value is refused before the run, naming both readings.
    std::fs::write(dir.path().join("bad.toml"), profile("[api]\nws_fanout = \"everyone\"\n")).unwrap();
    let out = run(dir.path(), &["--profile", dir.path().join("bad.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("owner, origin"), "{}", text(&out.stderr));
}

#[test]
fn foreign_and_earlier_turns_neither_pass_nor_fail_a_devices_or_reconnects_wait() {
    // One agent event in five also reaches another user's connection; a reconnect gets the rest
    // of its interrupted turn; every device gets every turn. Matched by quote (the reference's
    // reading) or, against an agent that answers in words of its own, by the run id of the
    // turn's start.
    for api in ["", "[api]\nreply_quotes = false\n[target]\nreply_quotes = false\n"] {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("turns.toml");
        std::fs::write(
            &profile,
            format!(
                "[run]\nusers = 6\nrun_time = \"3s\"\n{api}\
                 [[persona]]\nname = \"devices\"\njourney = \"multi-device\"\n\
                 [[persona]]\nname = \"reconnects\"\njourney = \"ws-resilience\"\n\
                 [[persona]]\nname = \"chatter\"\njourney = \"signup-chat\"\n"
            ),
        )
        .unwrap();
        let args = ["--profile", profile.to_str().unwrap(), "--target-fault", "ws-crosstalk=0.2"];
        let out = run(dir.path(), &args);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{api}: {stdout}");
        let r = report(dir.path());
        let kinds: Vec<&str> =
            r["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
        assert!(!kinds.is_empty() && kinds.iter().all(|k| *k == "ws_crosstalk"), "{api}: {kinds:?}");
        for (journey, step) in [
            ("multi-device", "chat_all_devices"),
            ("multi-device", "others_still_work"),
            ("ws-resilience", "turn_after_reconnect"),
            ("ws-resilience", "history_after_drop"),
            ("signup-chat", "first_reply"),
            ("signup-chat", "history"),
        ] {
            let s = &r["journeys"][journey]["steps"][step];
            assert!(s["count"].as_u64().unwrap() >= 1, "{api} {journey}.{step}: {s}");
            assert_eq!(s["failures"], 0, "{api} {journey}.{step}: {stdout}");
        }
        assert!(r["isolation"]["other_turn_events"].as_u64().unwrap() > 0, "{api}: {}", r["isolation"]);
    }
}

#[test]
fn a_usage_counter_that_loses_concurrent_messages_is_usage_miscounted() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["--profile", "flows", "--users", "8", "--iterations", "2", "--target-fault", "lost-usage"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let r = report(dir.path());
    let findings = r["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["kind"] == "usage_miscounted"), "{findings:?}");
    let f = &findings[0];
    assert_eq!(f["endpoint"], "POST /api/threads/{id}/messages", "{f}");
    let observed = f["observed"].as_str().unwrap();
    assert!(
        observed.contains("3 messages posted at once were accepted") && observed.contains("from 0 to"),
        "{observed}"
    );
    assert!(f["reproducer"].as_str().unwrap().contains("/api/v1/user/quota"), "{f}");
}
