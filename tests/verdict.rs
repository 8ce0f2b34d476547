//! A verdict that never lies: a target that stops answering, stalls, dies or cannot keep an open
//! model's schedule never ends PASS; probes whose set-up fails are retried, and a run whose
//! probes never ran is INCOMPLETE (exit 4); checks that did not run are `<skipped>` in JUnit; the
//! tool's own waits blame nobody. Every run is bounded (a few seconds, a few users, loopback).

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::Value;
use support::{report, run, spawn_target, text};

fn target<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["verdict"]["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| {
        panic!("no target {name}: {}", r["verdict"]["targets"]);
    })
}

fn coverage<'a>(r: &'a Value, check: &str) -> &'a Value {
    r["coverage"].as_array().unwrap().iter().find(|c| c["check"] == check).unwrap_or_else(|| {
        panic!("no check {check}: {}", r["coverage"]);
    })
}

/// Not PASS, and the service targets say why.
fn not_a_pass(out: &std::process::Output, r: &Value) {
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_ne!(r["verdict"]["outcome"], "PASS");
    assert!(!text(&out.stdout).contains("verdict: PASS"), "{}", text(&out.stdout));
}

#[test]
fn a_target_that_stops_answering_for_a_third_of_the_run_never_passes() {
    let dir = tempfile::tempdir().unwrap();
    // Answers for 6 s of 9 s, then nothing at all.
    let out = run(dir.path(), &["-u", "10", "-t", "9s", "--target-fault", "hang=6s"]);
    let r = report(dir.path());
    not_a_pass(&out, &r);
    assert_eq!(target(&r, "availability")["passed"], false, "{}", target(&r, "availability"));
    // The hung journeys are in the latency judged: the max holds the hang.
    let max_us = r["journeys"]["signup-chat"]["max_us"].as_u64().unwrap();
    assert!(max_us >= 2_000_000, "max {max_us} µs");
    assert!(r["service"]["stall_max_us"].as_u64().unwrap() >= 2_000_000, "{}", r["service"]);
    // Back-off hides nothing: while the target hangs, no journey begins and none completes.
    let windows = r["timeline"]["windows"].as_array().unwrap();
    let during: Vec<&Value> = windows.iter().filter(|w| w["start_s"].as_f64().unwrap() >= 7.0).collect();
    let before: Vec<&Value> = windows.iter().filter(|w| w["start_s"].as_f64().unwrap() < 5.0).collect();
    let begun = |ws: &[&Value]| ws.iter().map(|w| w["begun"].as_u64().unwrap()).sum::<u64>();
    assert!(begun(&before) > 0 && begun(&during) == 0, "{windows:?}");
    let unavailable: f64 = during.iter().map(|w| w["unavailable_s"].as_f64().unwrap()).sum();
    assert!(unavailable >= 1.0, "{unavailable} s unavailable");
}

#[test]
fn a_killed_target_never_passes_whatever_the_back_off_hides() {
    let mut standalone = spawn_target();
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("reports");
    let child = std::process::Command::new(support::BIN)
        .args(["--profile", "smoke", "--run-time", "6s", "--no-progress", "--quiet"])
        .args(["--auth-url", &standalone.auth_url, "--backend-url", &standalone.backend_url])
        .arg("--report-dir")
        .arg(&report_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The fault's schedule (not a wait for readiness): dead from 2 s on, for good.
    std::thread::sleep(Duration::from_secs(2));
    standalone.child.kill().unwrap();
    standalone.child.wait().unwrap();
    let out = child.wait_with_output().unwrap();
    let r = report(dir.path());
    not_a_pass(&out, &r);
    assert_eq!(target(&r, "availability")["passed"], false, "{}", target(&r, "availability"));
    assert_eq!(target(&r, "stall.max")["passed"], false, "{}", target(&r, "stall.max"));
}

#[test]
fn a_stalling_target_fails_the_stall_target() {
    let dir = tempfile::tempdir().unwrap();
    // The backend pauses 4 s in every 8 s (the first pause before the users start: the
    // preflight waits it out).
    let out = run(dir.path(), &["-u", "10", "-t", "9s", "--target-fault", "stall=4s/8s"]);
    let r = report(dir.path());
    not_a_pass(&out, &r);
    assert_eq!(target(&r, "stall.max")["passed"], false, "{}", target(&r, "stall.max"));
}

#[test]
fn an_open_model_that_drops_journeys_fails_the_dropped_share() {
    let dir = tempfile::tempdir().unwrap();
    // 40 journeys a second that take over a second each, at most 5 in flight: most are dropped.
    let args = ["-u", "5", "-t", "3s", "--arrival-rate", "40/s", "--target-fault", "latency=200ms"];
    let out = run(dir.path(), &args);
    let r = report(dir.path());
    not_a_pass(&out, &r);
    // FAIL, or INCOMPLETE if the slow target kept a probe from its first answer.
    assert!(matches!(out.status.code(), Some(1 | 4)), "{}", text(&out.stdout));
    let dropped = target(&r, "dropped.rate");
    assert_eq!(dropped["passed"], false, "{dropped}");
    assert!(r["arrival"]["dropped"].as_u64().unwrap() > 0);
}

#[test]
fn targets_that_cannot_apply_are_not_run_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["-u", "5", "-t", "2s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let r = report(dir.path());
    let cohort = target(&r, "cohort.10");
    assert_eq!((cohort["not_run"].as_bool(), cohort["passed"].as_bool()), (Some(true), Some(true)));
    assert!(cohort["reason"].as_str().unwrap().contains("of the run's 5 users"), "{cohort}");
    // The closed model drops nothing: it is not judged on drops at all.
    assert!(r["verdict"]["targets"].as_array().unwrap().iter().all(|t| t["name"] != "dropped.rate"));
    support::assert_schema(&r);

    // Token-refresh has no signup-chat: no cohort is spoken of.
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--profile", "token-refresh", "-u", "5", "-t", "2s"]);
    assert!(!text(&out.stdout).contains("users completed signup-chat"), "{}", text(&out.stdout));
}

#[test]
fn a_persona_no_user_ran_makes_the_run_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    // One user for the chat profile's two personas: one of them never begins.
    let out = run(dir.path(), &["-u", "1", "-t", "2s"]);
    let r = report(dir.path());
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stdout));
    let never: Vec<&Value> =
        r["coverage"].as_array().unwrap().iter().filter(|c| c["incomplete"] == true).collect();
    assert_eq!(never.len(), 1, "{never:?}");
    assert!(never[0]["check"].as_str().unwrap().starts_with("persona "), "{never:?}");
}

#[test]
fn a_chat_run_skips_in_junit_what_it_did_not_exercise_and_passes_only_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["-u", "10", "-t", "3s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("what was checked:"), "{stdout}");
    assert!(stdout.contains("JWT probes:"), "{stdout}");
    let runs: Vec<_> =
        std::fs::read_dir(dir.path().join("reports")).unwrap().map(|e| e.unwrap().path()).collect();
    let xml = std::fs::read_to_string(runs[0].join("junit.xml")).unwrap();
    let junit = junit_parser::from_reader(std::io::Cursor::new(xml.as_bytes())).unwrap();
    let findings = junit.suites.iter().find(|s| s.name == "findings").unwrap();
    let case = |name: &str| findings.cases.iter().find(|c| c.name.rsplit("::").next() == Some(name)).unwrap();
    for skipped in ["no_rate_limit", "quota_not_enforced", "refresh_reuse_accepted", "export_leak"] {
        assert!(case(skipped).status.is_skipped(), "{skipped}: {:?}", case(skipped).status);
    }
    for exercised in ["bola", "data_leak", "jwt_accepted", "list_leak"] {
        assert!(case(exercised).status.is_success(), "{exercised}: {:?}", case(exercised).status);
    }
    let r = report(dir.path());
    let bola = coverage(&r, "finding bola");
    assert!(bola["exercised"].as_u64().unwrap() > 0 && bola["status"] == "passed", "{bola}");
    let quota = coverage(&r, "finding quota_not_enforced");
    assert_eq!(quota["status"], "not_run");
    assert!(quota["reason"].as_str().unwrap().contains("rate-limit"), "{quota}");
    for file in ["report.md", "report.html"] {
        let page = std::fs::read_to_string(runs[0].join(file)).unwrap();
        assert!(page.contains("What was checked") && page.contains("cross-user probes"), "{file}");
    }
}

#[test]
fn an_expiry_wait_cut_by_the_run_end_blames_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("short-tokens.toml");
    let shipped = std::fs::read_to_string("profiles/token-refresh.toml").unwrap();
    std::fs::write(&profile, shipped.replace("[targets]", "[target]\naccess_ttl = \"2s\"\n\n[targets]"))
        .unwrap();
    // 20 users waiting out 3 s expiries in a 5 s run: many are waiting when it ends.
    let out = run(dir.path(), &["--profile", profile.to_str().unwrap(), "-u", "20", "-t", "5s"]);
    let r = report(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(r["errors"].as_array().unwrap().is_empty(), "{}", r["errors"]);
    assert!(r["observations"]["steps_cut_at_end"]["count"].as_u64().unwrap() > 0);
    let expiry = coverage(&r, "finding expired_token_accepted");
    assert_eq!(expiry["status"], "passed", "{expiry}");
}

/// An auth service in front of the embedded one that answers 500 to the probers' sign-ups
/// (their emails say `prober`) while `failing` holds: what a real service did under the load's
/// first burst.
async fn flaky_auth(upstream: String, failing: Arc<dyn Fn() -> bool + Send + Sync>) -> SocketAddr {
    #[derive(Clone)]
    struct Proxy {
        upstream: String,
        client: reqwest::Client,
        failing: Arc<dyn Fn() -> bool + Send + Sync>,
    }
    async fn forward(State(p): State<Proxy>, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
        if parts.uri.path() == "/auth/register" && body.windows(6).any(|w| w == b"prober") && (p.failing)() {
            return Response::builder().status(500).body(Body::from(r#"{"detail":"busy"}"#)).unwrap();
        }
        let url = format!("{}{}", p.upstream, parts.uri.path_and_query().map_or("", |q| q.as_str()));
        let mut upstream = p.client.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            if name != "host" && name != "content-length" {
                upstream = upstream.header(name, value);
            }
        }
        match upstream.send().await {
            Ok(resp) => {
                let status = resp.status();
                let content_type = resp.headers().get("content-type").cloned();
                let bytes = resp.bytes().await.unwrap_or_default();
                let mut out = Response::builder().status(status);
                if let Some(t) = content_type {
                    out = out.header("content-type", t);
                }
                out.body(Body::from(bytes)).unwrap()
            }
            Err(_) => Response::builder().status(502).body(Body::empty()).unwrap(),
        }
    }
    let proxy = Proxy { upstream, client: reqwest::Client::new(), failing };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The token-refresh profile against the auth service alone, behind `failing`.
async fn auth_alone_behind(
    failing: Arc<dyn Fn() -> bool + Send + Sync>,
) -> (std::process::Output, Value, String) {
    let server =
        netra_load::reference::start(netra_load::reference::ReferenceConfig::default()).await.unwrap();
    let addr = flaky_auth(server.auth_url().to_owned(), failing).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let url = format!("http://{addr}");
    let out = tokio::task::spawn_blocking(move || {
        run(&path, &["--profile", "token-refresh", "-u", "5", "-t", "4s", "--auth-url", &url])
    })
    .await
    .unwrap();
    let r = report(dir.path());
    let runs: Vec<_> =
        std::fs::read_dir(dir.path().join("reports")).unwrap().map(|e| e.unwrap().path()).collect();
    let junit = std::fs::read_to_string(runs[0].join("junit.xml")).unwrap();
    server.shutdown().await;
    (out, r, junit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_whose_set_up_fails_at_first_are_retried_and_run() {
    // Failing for a second from the probes' first attempt, then never again.
    let first = Arc::new(OnceLock::new());
    let failing = Arc::new(move || first.get_or_init(Instant::now).elapsed() < Duration::from_secs(1));
    let (out, r, _) = auth_alone_behind(failing).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    let probes = &r["probes"];
    assert!(probes["setup_failures"].as_u64().unwrap() >= 1, "{probes}");
    assert!(probes["rounds"].as_u64().unwrap() >= 1 && probes["checks"].as_u64().unwrap() > 0, "{probes}");
    assert!(probes["started_s"].as_f64().unwrap() > 0.0, "{probes}");
    assert!(stdout.contains("JWT probes: set-up failed"), "{stdout}");
    assert!(text(&out.stderr).contains("set-up attempt 1 failed"), "{}", text(&out.stderr));
    assert_eq!(coverage(&r, "jwt probe `alg none`")["status"], "passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_whose_set_up_fails_throughout_make_the_run_incomplete() {
    let (out, r, junit) = auth_alone_behind(Arc::new(|| true)).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    assert_eq!(r["verdict"]["outcome"], "INCOMPLETE");
    assert!(stdout.contains("verdict: INCOMPLETE"), "{stdout}");
    assert!(stdout.contains("JWT probes: set-up failed"), "{stdout}");
    let alg = coverage(&r, "jwt probe `alg none`");
    assert_eq!((alg["status"].as_str(), alg["incomplete"].as_bool()), (Some("not_run"), Some(true)), "{alg}");
    assert!(alg["reason"].as_str().unwrap().contains("500"), "{alg}");
    // The journeys themselves ran and passed: only the probes are missing.
    assert!(r["verdict"]["targets"].as_array().unwrap().iter().all(|t| t["passed"] == true));
    let junit = junit_parser::from_reader(std::io::Cursor::new(junit.as_bytes())).unwrap();
    let probes = junit.suites.iter().find(|s| s.name == "probes").unwrap();
    assert!(!probes.cases.is_empty() && probes.cases.iter().all(|c| c.status.is_skipped()));
    let findings = junit.suites.iter().find(|s| s.name == "findings").unwrap();
    let jwt = findings.cases.iter().find(|c| c.name.ends_with("jwt_accepted")).unwrap();
    assert!(jwt.status.is_skipped(), "{:?}", jwt.status);
}
