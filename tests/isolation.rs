//! The isolation checker under load: no false positives against the clean target (several
//! seeds, 200 users), and each isolation fault found with the right kind and evidence naming the
//! user who saw and the user whose data it was.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{report, run, text};

fn isolation_run(extra: &[&str]) -> (Option<i32>, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--profile", "isolation"];
    args.extend(extra);
    let out = run(dir.path(), &args);
    let r = report(dir.path());
    support::assert_schema(&r);
    (out.status.code(), r, text(&out.stdout))
}

fn kinds(r: &Value) -> BTreeSet<&str> {
    r["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect()
}

#[test]
fn the_clean_target_shows_no_leak_at_200_users_whatever_the_seed() {
    for seed in ["7", "8"] {
        let (code, r, stdout) = isolation_run(&["--users", "200", "--run-time", "4s", "--seed", seed]);
        assert!(kinds(&r).is_empty(), "seed {seed}: {:?}", r["findings"]);
        assert_ne!(code, Some(3), "{stdout}");
        let iso = &r["isolation"];
        assert!(iso["responses_scanned"].as_u64().unwrap() > 1000, "{iso}");
        assert!(iso["probes"].as_u64().unwrap() > 20, "{iso}");
        assert_eq!(iso["leaks"], 0);
        for row in iso["matrix"].as_array().unwrap() {
            assert_eq!(row["allowed"], 0, "{row}");
        }
    }
}

/// The findings of `kind`, each of which must name the viewer and the owner.
fn named_findings<'a>(r: &'a Value, kind: &str) -> Vec<&'a Value> {
    let found: Vec<&Value> = r["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == kind).collect();
    for f in &found {
        let users = f["users"].as_array().unwrap();
        assert!(users.len() >= 2, "both users are named: {f}");
        assert!(!f["reproducer"].as_str().unwrap().contains("eyJ"), "{f}");
    }
    found
}

#[test]
fn each_isolation_fault_is_found_as_its_own_kind() {
    let cases = [
        ("idor", "bola"),
        ("list-leak", "list_leak"),
        ("export-leak", "export_leak"),
        ("error-echo", "error_leak"),
    ];
    for (fault, kind) in cases {
        let (code, r, stdout) =
            isolation_run(&["--users", "50", "--run-time", "3s", "--target-fault", fault]);
        assert_eq!(code, Some(3), "{fault}: {stdout}");
        assert_eq!(kinds(&r), BTreeSet::from([kind]), "{fault}");
        let found = named_findings(&r, kind);
        assert!(!found.is_empty());
        if fault == "error-echo" {
            // Over HTTP and over the WebSocket alike: the refusal quotes the owner's title.
            let endpoints: BTreeSet<&str> = found.iter().map(|f| f["endpoint"].as_str().unwrap()).collect();
            assert!(endpoints.contains("WS user_message (other user)"), "{endpoints:?}");
            assert!(endpoints.len() > 1, "{endpoints:?}");
        }
    }
}

#[test]
fn a_rare_websocket_crosstalk_is_found_within_ten_seconds_at_100_users() {
    let (code, r, stdout) =
        isolation_run(&["--users", "100", "--run-time", "10s", "--target-fault", "ws-crosstalk=0.005"]);
    assert_eq!(code, Some(3), "{stdout}");
    assert_eq!(kinds(&r), BTreeSet::from(["ws_crosstalk"]));
    let f = named_findings(&r, "ws_crosstalk")[0];
    assert!(f["endpoint"].as_str().unwrap().contains("WS /ws"), "{f}");
    assert!(r["isolation"]["leaks_per_million"].as_f64().unwrap() > 0.0);
}
