//! `login` provisioning: accounts that exist already, from a credentials file, one per simulated
//! user and the same for all its journeys and runs, against a standalone target.

mod support;

use std::path::Path;

use serde_json::json;
use support::{Target, all_text, report, run, spawn_target, spawn_target_with, text};

/// Registers `n` accounts on `target` and writes them to `dir/users.csv`; returns the passwords.
fn accounts(target: &Target, dir: &Path, n: usize) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let mut csv = String::from("email,password\n");
    let mut passwords = Vec::new();
    for i in 0..n {
        let (email, password) = (format!("acct-{i}@example.com"), format!("pw-{i}-not-for-logs"));
        let body = json!({"email": email, "password": password, "plan_tier": "enterprise"});
        let url = format!("{}/auth/register", target.auth_url);
        let status = runtime.block_on(async { http.post(&url).json(&body).send().await.unwrap().status() });
        assert_eq!(status, 201);
        csv.push_str(&format!("{email},\"{password}\"\n"));
        passwords.push(password);
    }
    std::fs::write(dir.join("users.csv"), csv).unwrap();
    passwords
}

#[test]
fn existing_accounts_run_clean_again_and_again_and_their_passwords_stay_secret() {
    let target = spawn_target();
    let dir = tempfile::tempdir().unwrap();
    let passwords = accounts(&target, dir.path(), 8);
    // The profile names the file relative to itself; the rate-limit persona needs fresh users.
    std::fs::write(
        dir.path().join("accounts.toml"),
        "[run]\nusers = 4\niterations = 2\n[api]\ncredentials = \"users.csv\"\n\
         [[persona]]\nname = \"chatter\"\njourney = \"signup-chat\"\nweight = 3\n\
         [[persona]]\nname = \"abuser\"\njourney = \"rate-limit\"\n",
    )
    .unwrap();
    let urls = ["--auth-url", target.auth_url.as_str(), "--backend-url", target.backend_url.as_str()];
    let mut logs = String::new();
    for round in 0..2 {
        let runs = tempfile::tempdir().unwrap();
        let profile = dir.path().join("accounts.toml");
        let out = run(runs.path(), &[&["--profile", profile.to_str().unwrap()][..], &urls].concat());
        logs.push_str(&(text(&out.stdout) + &text(&out.stderr)));
        // The second round meets every account's threads of the first: still clean.
        assert_eq!(out.status.code(), Some(0), "round {round}: {logs}");
        let r = report(runs.path());
        let j = &r["journeys"]["signup-chat"];
        assert_eq!((j["count"].as_u64(), j["failures"].as_u64()), (Some(8), Some(0)), "{j}");
        assert!(j["steps"].get("register").is_none() && j["steps"]["login"]["count"] == 8, "{j}");
        let skipped = r["skipped"].as_array().unwrap();
        assert!(skipped.len() == 1 && skipped[0].as_str().unwrap().contains("abuser"), "{skipped:?}");
        assert_eq!(r["findings"], json!([]));
        logs.push_str(&all_text(runs.path()));
    }
    for password in &passwords {
        assert!(!logs.contains(password.as_str()), "a password was written out");
    }
}

#[test]
fn too_few_accounts_is_one_clear_line() {
    let target = spawn_target();
    let dir = tempfile::tempdir().unwrap();
    accounts(&target, dir.path(), 6);
    let csv = dir.path().join("users.csv");
    let out = run(
        dir.path(),
        &[
            "--profile",
            "smoke",
            "--users",
            "3",
            "--credentials",
            csv.to_str().unwrap(),
            "--auth-url",
            &target.auth_url,
            "--backend-url",
            &target.backend_url,
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("holds 6 accounts; 3 users need 7") && stderr.contains("--users 2"), "{stderr}");
    // The open model's journeys are fresh users: accounts from a file cannot be.
    let out = run(
        dir.path(),
        &[
            "--profile",
            "smoke",
            "--users",
            "2",
            "--arrival-rate",
            "5/s",
            "--run-time",
            "1s",
            "--credentials",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("open model"), "{}", text(&out.stderr));
}

#[test]
fn existing_accounts_that_empty_their_own_buckets_are_no_noisy_neighbours() {
    // Each account carries its bucket from journey to journey: a bystander-sized journey, over
    // and over, empties it. That is the account's own doing.
    let target = spawn_target_with(&["--burst", "8", "--rate-limit", "30/min"]);
    let dir = tempfile::tempdir().unwrap();
    // Exactly as many accounts as 3 users need (the probers' 4 and one per user).
    accounts(&target, dir.path(), 7);
    std::fs::write(
        dir.path().join("own.toml"),
        "[run]\nusers = 3\nrun_time = \"3s\"\n[expect]\nburst = 8\n[api]\ncredentials = \"users.csv\"\n\
         [[persona]]\nname = \"chatter\"\njourney = \"signup-chat\"\n",
    )
    .unwrap();
    let runs = tempfile::tempdir().unwrap();
    let profile = dir.path().join("own.toml");
    let urls = ["--auth-url", target.auth_url.as_str(), "--backend-url", target.backend_url.as_str()];
    let out = run(runs.path(), &[&["--profile", profile.to_str().unwrap()][..], &urls].concat());
    let r = report(runs.path());
    let stdout = text(&out.stdout);
    let throttled = r["errors"].as_array().unwrap().iter().any(|e| e["kind"] == "http_429");
    assert!(throttled, "the buckets ran dry: {}", r["errors"]);
    assert_eq!(r["findings"], json!([]), "{stdout}");
    assert_ne!(out.status.code(), Some(3), "{stdout}");
}
