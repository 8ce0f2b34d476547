//! `netra-load run` end to end: the real binary against the embedded target, with small bounded
//! runs (10 users, one journey each, or two seconds).

use std::process::Command;
use std::time::{Duration, Instant};

use netra_load::metrics::Histogram;

mod support;
use support::{BIN, report, run, text};

#[test]
fn a_smoke_run_passes_and_its_histograms_count_the_completed_journeys() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "smoke"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    assert!(!stdout.contains("users launched"), "Goose's own lines stay off stdout: {stdout}");
    let r = report(dir.path());
    support::assert_schema(&r);
    let mut broken = r.clone();
    broken["verdict"]["exit_code"] = serde_json::json!(7);
    broken.as_object_mut().unwrap().remove("journeys");
    assert!(!support::schema().is_valid(&broken), "the schema catches a broken report");
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["tool"]["name"], "netra-load");
    assert_eq!(
        (r["run"]["profile"].as_str(), r["run"]["ended_by"].as_str()),
        (Some("smoke"), Some("iterations"))
    );
    assert_eq!(r["run"]["target"]["kind"], "embedded");
    let journey = &r["journeys"]["signup-chat"];
    assert_eq!((journey["count"].as_u64(), journey["failures"].as_u64()), (Some(10), Some(0)));
    let histogram = Histogram::from_base64(journey["histogram"].as_str().unwrap()).unwrap();
    assert_eq!(histogram.count(), 10, "the stored histogram holds every completed journey");
    let steps = journey["steps"].as_object().unwrap();
    let names = [
        "register",
        "login",
        "profile",
        "create_thread",
        "ws_connect",
        "first_reply",
        "history",
        "list_threads",
    ];
    assert_eq!(steps.len(), names.len());
    for name in names {
        assert_eq!(steps[name]["count"], 10, "{name}");
        assert!(steps[name]["p50_us"].as_u64().unwrap() <= steps[name]["max_us"].as_u64().unwrap());
    }
    assert!(r["cohorts"]["10"]["completed_us"].as_u64().unwrap() > 0);
    assert_eq!(r["verdict"]["exit_code"], 0);
    assert!(r["verdict"]["targets"].as_array().unwrap().iter().all(|t| t["passed"] == true));
    assert_eq!(r["findings"], serde_json::json!([]));
}

#[test]
fn added_latency_shows_in_every_backend_step_and_not_in_the_auth_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "smoke", "--target-fault", "latency=50ms"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    let r = report(dir.path());
    let steps = &r["journeys"]["signup-chat"]["steps"];
    for backend in ["profile", "create_thread", "ws_connect", "first_reply", "history", "list_threads"] {
        assert!(steps[backend]["p50_us"].as_u64().unwrap() >= 50_000, "{backend}: {}", steps[backend]);
    }
    assert_eq!(r["run"]["target"]["faults"], serde_json::json!(["latency=50ms"]));
}

#[test]
fn injected_server_errors_are_counted_by_kind_and_miss_the_error_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "smoke", "--target-fault", "error-rate=0.5"]);
    // FAIL; or INCOMPLETE when every step that checks something (e.g. the thread list, for
    // list_leak) met a 500, and so that check never ran.
    assert!(matches!(out.status.code(), Some(1 | 4)), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("errors.rate < 1%"), "{}", text(&out.stdout));
    let r = report(dir.path());
    let errors = r["errors"].as_array().unwrap();
    let http_500 = errors.iter().find(|e| e["kind"] == "http_500").expect("500s are counted");
    let failures = r["journeys"]["signup-chat"]["failures"].as_u64().unwrap();
    assert!(failures > 0 && http_500["count"].as_u64().unwrap() <= failures, "{errors:?}");
    assert!(http_500["sample"].as_str().unwrap().contains("500"));
    let rate =
        r["verdict"]["targets"].as_array().unwrap().iter().find(|t| t["name"] == "errors.rate").unwrap();
    assert_eq!(rate["passed"], false);
}

#[test]
fn an_impossible_target_exits_1_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("strict.toml");
    std::fs::write(
        &profile,
        "[run]\nusers = 3\niterations = 1\n[[persona]]\nname = \"p\"\njourney = \"signup-chat\"\n[targets]\n\"step.register.p50\" = \"< 1us\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["--profile", profile.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL") && stdout.contains("step.register.p50"), "{stdout}");
    assert_eq!(report(dir.path())["verdict"]["exit_code"], 1);
}

#[test]
fn a_timed_run_ends_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(dir.path(), &["--profile", "smoke", "--users", "5", "--run-time", "2s"]);
    assert!(started.elapsed() < Duration::from_secs(20), "bounded: {:?}", started.elapsed());
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    let r = report(dir.path());
    assert_eq!(r["run"]["ended_by"], "run_time");
    assert_eq!(r["run"]["users"], 5);
    assert!(
        r["journeys"]["signup-chat"]["count"].as_u64().unwrap() > 5,
        "users ran journeys again and again"
    );
}

#[test]
fn the_run_time_includes_the_ramp_and_the_summary_says_both() {
    // 6 users at 2/s would take 3 s to start: a 2 s run starts about 4 and then stops.
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "smoke", "-u", "6", "-r", "2", "--run-time", "2s"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    assert!(stderr.contains("is longer than the run time (2 s), which includes it"), "{stderr}");
    let r = report(dir.path());
    assert_eq!(r["run"]["ended_by"], "run_time");
    let started =
        r["timeline"]["windows"].as_array().unwrap().iter().map(|w| w["active_users"].as_u64().unwrap());
    assert!(started.max().unwrap() < 6, "the ramp was cut at the run time: {}", r["timeline"]);
    assert_eq!(r["timeline"]["ramp_s"], 2.0);
    // Not 2 s plus the 3 s ramp (the run's end waits a little for the probes' round).
    assert!(r["run"]["duration_s"].as_f64().unwrap() < 4.5, "{}", r["run"]);
    assert!(stdout.contains("(ramp 2.0 s, steady 0.0 s)"), "{stdout}");

    // A ramp inside the run time: both phases said.
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "smoke", "-u", "2", "-r", "2", "--run-time", "2s"]);
    assert!(text(&out.stdout).contains("(ramp 1.0 s, steady 1.0 s)"), "{}", text(&out.stdout));
    assert!(!text(&out.stderr).contains("longer than the run time"), "{}", text(&out.stderr));
    let md = std::fs::read_to_string(support::run_folder(dir.path()).join("report.md")).unwrap();
    assert!(md.contains("(ramp 1.0 s, steady 1.0 s)"), "{md}");
}

/// Exit 2, promptly, with one line on stderr containing every needle, and no report.
fn refused(args: &[&str], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let persona = "[[persona]]\nname = \"p\"\njourney = \"signup-chat\"\n";
    let files = [
        ("bad.toml", format!("[run]\nuserz = 3\n{persona}")),
        ("syntax.toml", format!("[run]\nrun_time = \"2s\n{persona}")),
        ("persona.toml", format!("{persona}[targets]\n\"persona.q.p99\" = \"< 1s\"\n")),
        ("step.toml", format!("{persona}[targets]\n\"step.frist_reply.p99\" = \"< 1s\"\n")),
        ("duration.toml", format!("[run]\nrun_time = \"5 parsecs\"\n{persona}")),
        ("arrival.toml", format!("[run]\narrival_rate = \"fast\"\n{persona}")),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let started = Instant::now();
    let out = run(dir.path(), args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(15), "{args:?} took {:?}", started.elapsed());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{args:?}: `{needle}` not in {stderr}");
    }
    assert!(!dir.path().join("reports").exists(), "no report for a refused run");
}

#[test]
fn bad_input_and_unreachable_targets_exit_2_with_one_line() {
    refused(&["--users", "0"], &["--users"]);
    refused(&["--increase-rate", "0"], &["increase rate"]);
    refused(&["--profile", "zero-cohort.toml"], &["zero-cohort.toml", "cohort"]);
    refused(&["--profile", "smok"], &["no profile `smok`", "did you mean `smoke`"]);
    refused(&["--profile", "bad.toml"], &["bad.toml:2", "userz", "did you mean `users`"]);
    refused(&["--run-time", "2s", "--iterations", "1"], &["--iterations"]);
    refused(&["--backend-url", "http://127.0.0.1:1"], &["give --auth-url too"]);
    // An auth URL alone tests the auth service by itself: it must answer.
    refused(
        &["--profile", "token-refresh", "--auth-url", "http://127.0.0.1:1"],
        &["cannot reach the auth service at http://127.0.0.1:1/health"],
    );
    refused(
        &[
            "--auth-url",
            "http://127.0.0.1:1",
            "--backend-url",
            "http://127.0.0.1:1",
            "--target-fault",
            "idor",
        ],
        &["--target-fault"],
    );
    refused(
        &["--auth-url", "http://127.0.0.1:1", "--backend-url", "http://127.0.0.1:1"],
        &["cannot reach", "127.0.0.1:1"],
    );
    refused(&["run", "--target-fault", "nonsense"], &["unknown fault"]);
    refused(&["--profile", "syntax.toml"], &["syntax.toml:2:15", "invalid basic string"]);
    refused(&["--profile", "persona.toml"], &["persona.toml:5", "no persona `q`", "did you mean `p`?"]);
    refused(&["--profile", "step.toml"], &["no step `frist_reply`", "did you mean `first_reply`?"]);
    refused(&["--profile", "duration.toml"], &["duration.toml", "5 parsecs"]);
    refused(&["--profile", "arrival.toml"], &["arrival_rate", "fast"]);
    refused(&["--arrival-rate", "fast"], &["--arrival-rate"]);
    refused(&["--arrival-rate", "10/s", "--iterations", "2"], &["--iterations"]);
    refused(&["--auth-url", "ftp://x", "--backend-url", "http://127.0.0.1:1"], &["ftp://x", "http://"]);
}

#[test]
fn a_profile_that_cannot_run_against_the_deployment_is_refused_before_any_request_with_each_reason() {
    // chat's two personas run signup-chat, which needs the backend, and its JWT probes are off
    // (with them on, they alone would run). The auth URL is never asked: the refusal comes
    // before any request (port 1 would answer nothing).
    let dir = tempfile::tempdir().unwrap();
    let chat = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/chat.toml")).unwrap();
    let profile = dir.path().join("chat-no-probes.toml");
    std::fs::write(&profile, format!("{chat}\n[probes]\njwt = false\n")).unwrap();
    let started = Instant::now();
    let out = run(dir.path(), &["--profile", profile.to_str().unwrap(), "--auth-url", "http://127.0.0.1:1"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    assert!(lines[0].contains("every persona would be skipped"), "{stderr}");
    assert_eq!(lines.len(), 1 + 2 + 1, "a line per persona of chat, and the probes': {stderr}");
    assert!(lines[3].contains("JWT probes cannot run either"), "{stderr}");
    for (line, persona) in lines[1..].iter().zip(["free-chatter", "enterprise-chatter"]) {
        assert!(line.contains(&format!("persona `{persona}` (signup-chat): needs the backend")), "{line}");
    }
    assert!(!stderr.contains("cannot reach"), "{stderr}");
    assert!(!dir.path().join("reports").exists(), "no report for a refused run");
}

/// A 60 s run of 5 users, once every user runs (a progress line says so).
fn running(dir: &std::path::Path) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(BIN)
        .args(["--profile", "smoke", "--users", "5", "--run-time", "60s", "--report-dir"])
        .arg(dir.join("reports"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Without a terminal, progress comes as a line every 5 s.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains("users 5/5") => return (child, rx),
            Ok(_) => continue,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no progress line showed every user running: {e}");
            }
        }
    }
}

fn signal(child: &std::process::Child, name: &str) {
    assert!(Command::new("kill").args([name, &child.id().to_string()]).status().unwrap().success());
}

#[test]
fn sigint_or_sigterm_ends_the_run_early_with_a_report_and_exit_130() {
    for sig in ["-INT", "-TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let (child, _) = running(dir.path());
        let interrupted = Instant::now();
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        assert!(
            interrupted.elapsed() < Duration::from_secs(5),
            "{sig}: stopped in {:?}",
            interrupted.elapsed()
        );
        assert_eq!(out.status.code(), Some(130), "{sig}: {:?}", out.status);
        let r = report(dir.path());
        assert_eq!(r["run"]["ended_by"], "interrupted", "{sig}");
        assert!(r["run"]["duration_s"].as_f64().unwrap() < 30.0);
        assert!(r["journeys"]["signup-chat"]["count"].as_u64().unwrap() > 0, "{sig}: what ran is reported");
    }
}

#[test]
fn a_second_interrupt_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (child, stderr) = running(dir.path());
    // Back to back, from this process (two `kill` processes leave the run time to finish its
    // report in between), and two kinds (two pending SIGINTs would merge into one).
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: signals to our own child process.
    unsafe {
        assert_eq!(libc::kill(pid, libc::SIGINT), 0);
        assert_eq!(libc::kill(pid, libc::SIGTERM), 0);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let said: Vec<String> = stderr.try_iter().collect();
    assert!(said.iter().any(|l| l.contains("interrupted again")), "{said:?}");
}

#[test]
fn a_backend_without_the_websocket_is_caught_by_the_preflight() {
    // The auth service answers /health like a backend, but has no /ws: a dialect mismatch.
    let target = support::spawn_target();
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["--profile", "smoke", "--auth-url", &target.auth_url, "--backend-url", &target.auth_url],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("preflight: the WebSocket upgrade at ws://") && stderr.contains("404"),
        "{stderr}"
    );
    assert!(!dir.path().join("reports").exists());
}
