//! Property tests (a short fuzzing pass, run with the other tests) over every parser that takes
//! outside input: profiles, target expressions, credentials, report files (loaded, merged and
//! compared), the scanner over response bodies, and WebSocket frames sent to the embedded
//! target. Each must answer, with a value or an error, and never panic.

use std::io::Write;

use netra_load::config::profile;
use netra_load::isolation::scan;
use netra_load::report::{compare, load, merge};
use netra_load::verdict::Threshold;
use proptest::prelude::*;

/// The seed of every property test here: fixed, so that a failure replays (another one with
/// `PROPTEST_RNG_SEED=N`, which proptest's own default configuration reads).
const SEED: u64 = 0x6e65_7472_615f_6c64;

fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let rng_seed = match default.rng_seed {
        proptest::test_runner::RngSeed::Random => proptest::test_runner::RngSeed::Fixed(SEED),
        given => given,
    };
    ProptestConfig { cases: 200, failure_persistence: None, rng_seed, ..default }
}

/// Profile-shaped text: known sections and keys with arbitrary values, and arbitrary lines.
fn profile_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "[run]",
        "[target]",
        "[expect]",
        "[probes]",
        "[isolation]",
        "[api]",
        "[api.mint]",
        "[[persona]]",
        "[targets]",
        "users = ",
        "run_time = ",
        "iterations = ",
        "name = ",
        "journey = ",
        "weight = ",
        "plan_tier = ",
        "\"journey.signup-chat.p99\" = ",
        "\"trend.x.p50\" = ",
        "known_findings = ",
        "provisioning = ",
        "credentials = ",
        "error_message = ",
        "cohort = ",
        "burst = ",
    ]);
    let value = prop_oneof![
        Just(String::new()),
        "[ -~]{0,12}".prop_map(|s| format!("\"{s}\"")),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("\"< 5s\"".to_owned()),
        Just("[\"a\", 1]".to_owned()),
        "[ -~]{0,20}",
    ];
    prop::collection::vec((key, value), 0..14)
        .prop_map(|lines| lines.into_iter().map(|(k, v)| format!("{k}{v}\n")).collect())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn profiles_parse_or_say_why(text in profile_text()) {
        if let Err(e) = profile::parse("fuzz.toml", &text).map_err(|e| e.to_string()) {
            prop_assert!(e.starts_with("bad profile fuzz.toml") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn any_text_is_a_profile_or_an_error(text in "\\PC{0,200}") {
        let _ = profile::parse("fuzz.toml", &text);
    }

    #[test]
    fn target_expressions_parse_or_say_why(name in "[a-z.\\-0-9]{0,30}", rule in "\\PC{0,20}") {
        match Threshold::parse(&name, &rule) {
            // What parses writes itself back in a form that parses to the same target.
            Ok(t) => prop_assert_eq!(Threshold::parse_expr(&t.expr()), Ok(t)),
            Err(e) => prop_assert!(e.starts_with("bad target"), "{}", e),
        }
    }

    #[test]
    fn the_scanner_reads_any_body(body in prop::collection::vec(any::<u8>(), 0..400), canary in any::<u64>()) {
        let mut with = body.clone();
        with.extend_from_slice(scan::canary(canary).as_bytes());
        prop_assert!(scan::canaries(&with).any(|c| c == canary));
        let _ = scan::uuids(&body).count();
    }

    #[test]
    fn credentials_files_load_or_say_why(text in "\\PC{0,200}", toml in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if toml { "users.toml" } else { "users.csv" });
        std::fs::write(&path, &text).unwrap();
        if let Err(e) = netra_load::config::credentials::load(&path).map_err(|e| e.to_string()) {
            prop_assert!(e.starts_with("credentials") || e.starts_with("cannot read"), "{}", e);
        }
    }
}

/// A real report, written once, to mutate.
fn a_report() -> &'static str {
    static REPORT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    REPORT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_netra-load"))
            .args(["--profile", "smoke", "--users", "3", "--quiet", "--report-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        // 3 users cannot make the 10-user cohort: that target is not run (with the reason), not missed.
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let run = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        std::fs::read_to_string(run.join("report.json")).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, ..config() })]

    #[test]
    fn mutated_reports_load_merge_and_compare_or_say_why(
        cut in 0usize..40_000,
        flips in prop::collection::vec((0usize..40_000, any::<u8>()), 0..4),
        swap in prop::sample::select(vec![
            ("\"count\": ", "\"count\": -"), ("\"10\": {", "\"0\": {"), ("\"histogram\": \"", "\"histogram\": \"AAAA"),
            ("\"users\": 3", "\"users\": 0"), ("\"p50_us\": ", "\"p50_us\": 1e400"), ("", ""),
        ]),
    ) {
        let mut text = a_report().replacen(swap.0, swap.1, 1).into_bytes();
        for (at, byte) in flips {
            if let Some(b) = text.get_mut(at) {
                *b = byte;
            }
        }
        if cut < text.len() && cut % 3 == 0 {
            text.truncate(cut);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::File::create(&path).unwrap().write_all(&text).unwrap();
        match load::load(&path) {
            Ok(report) => {
                let limits = compare::Limits {
                    max_regression: 0.1,
                    max_error_increase: 0.01,
                    min_samples: 1,
                    min_change_us: 1000,
                };
                let _ = compare::compare(&report, &report, limits, false);
                // Another run of the same shape (merge refuses one report twice).
                let mut other = report.clone();
                other.run.run_id = "another run".into();
                other.run.started_at.push('+');
                if let Ok(merged) = merge::merge(vec![report, other], true) {
                    let _ = netra_load::report::html::page(&merged);
                    let _ = netra_load::report::junit::render(&merged);
                }
            }
            Err(e) => prop_assert!(!e.to_string().contains('\n'), "{}", e),
        }
    }
}

/// Frames of any shape to the embedded target's WebSocket: each gets an answer, and the
/// connection still works after all of them.
#[tokio::test]
async fn the_targets_websocket_answers_any_frame() {
    use futures_util::{SinkExt, StreamExt};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use tokio_tungstenite::tungstenite::Message;

    let target = netra_load::reference::start(netra_load::reference::ReferenceConfig {
        burst: 100_000,
        ..Default::default()
    })
    .await
    .unwrap();
    let netra = netra_load::client::Netra::new(
        target.auth_url(),
        Some(target.backend_url()),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let email = format!("fuzz-{}@example.com", std::process::id());
    let login = netra.register(&email, "fuzz-password", "enterprise", "fuzz").await.unwrap();
    // A raw WebSocket (not the client's chat session): the frames sent are arbitrary.
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(netra.ws_url())
            .unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {}", login.access).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let wait = std::time::Duration::from_secs(10);
    let next = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| -> serde_json::Value {
        let frame = tokio::time::timeout(wait, ws.next()).await.expect("an answer in time").unwrap().unwrap();
        serde_json::from_str(frame.to_text().unwrap()).unwrap()
    };
    assert_eq!(next(&mut ws).await["type"], "connection_established");

    let frames = prop_oneof![
        "\\PC{0,80}",
        ("[a-z_]{0,14}", "\\PC{0,30}")
            .prop_map(|(t, c)| format!(r#"{{"type": "{t}", "payload": {{"content": "{c}"}}}}"#)),
        "\\PC{0,20}"
            .prop_map(|t| format!(r#"{{"type": "user_message", "payload": {{"thread_id": "{t}"}}}}"#)),
        Just(r#"{"type": "user_message", "payload": null}"#.to_owned()),
        Just(format!(r#"{{"type": "user_message", "payload": {{"content": "{}"}}}}"#, "x".repeat(70_000))),
    ];
    let mut runner = TestRunner::new(ProptestConfig { cases: 60, ..config() });
    for _ in 0..60 {
        let frame = frames.new_tree(&mut runner).unwrap().current();
        ws.send(Message::text(frame.clone())).await.unwrap();
        // Every frame is answered: an error, or a turn that ends with agent_completed.
        loop {
            let answer = next(&mut ws).await;
            match answer["type"].as_str() {
                Some("error" | "agent_completed") => break,
                Some("agent_started" | "agent_thinking") => continue,
                other => panic!("{other:?} answering {frame:?}"),
            }
        }
    }
    ws.send(Message::text(r#"{"type": "ping"}"#)).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "pong", "the connection survived every frame");
    target.shutdown().await;
}
