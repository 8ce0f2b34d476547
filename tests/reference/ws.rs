//! The WebSocket chat: authentication (header and subprotocols), event order, ownership of
//! threads, routing of events to the owner only, ping, bad frames and the quota.

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::common::{config, roomy, start};
use netra_load::reference::{ReferenceConfig, WsFanout};

#[tokio::test]
async fn the_upgrade_is_refused_without_a_valid_token() {
    let env = start(config()).await;
    let url = format!("ws://{}/ws", env.target.backend_addr());
    for auth in [None, Some("Bearer nonsense")] {
        let mut req = url.as_str().into_client_request().unwrap();
        if let Some(a) = auth {
            req.headers_mut().insert("authorization", HeaderValue::from_static(a));
        }
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401)
            }
            other => panic!("expected a 401 refusal, got {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn a_subprotocol_token_works_and_the_server_selects_jwt_auth() {
    let env = start(config()).await;
    let who = env.register().await;
    let mut req = format!("ws://{}/ws", env.target.backend_addr()).into_client_request().unwrap();
    let offer = format!("jwt-auth, jwt.{}", who.access);
    req.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(&offer).unwrap());
    let (mut stream, resp) =
        tokio_tungstenite::connect_async(req).await.expect("upgrade with subprotocol token");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "jwt-auth");
    let Some(Ok(first)) = stream.next().await else { panic!("no first frame") };
    let first: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(first["type"], "connection_established");
    assert_eq!(first["payload"]["user_id"], who.id.as_str());
    assert!(first["payload"]["connection_id"].is_string());
}

#[tokio::test]
async fn a_turn_is_started_thinking_completed_and_quotes_the_message() {
    let env = start(config()).await;
    let who = env.register().await;
    let mut ws = env.ws(&who.access).await;
    let frames = ws.turn(json!({"content": "what is 2+2?"})).await;
    let kinds: Vec<_> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"agent_started"));
    assert_eq!(kinds.last(), Some(&"agent_completed"));
    assert!(kinds[1..kinds.len() - 1].iter().all(|k| *k == "agent_thinking"), "{kinds:?}");
    let (thread, run) = (&frames[0]["payload"]["thread_id"], &frames[0]["payload"]["run_id"]);
    for f in &frames {
        assert_eq!((&f["payload"]["thread_id"], &f["payload"]["run_id"]), (thread, run));
    }
    let reply = frames.last().unwrap()["payload"]["result"]["content"].as_str().unwrap();
    assert!(reply.contains("what is 2+2?"), "{reply}");

    // No thread_id: the default thread, which now holds both messages; naming it again works.
    let (_, msgs) =
        env.get(&format!("/api/threads/{}/messages", thread.as_str().unwrap()), &who.access).await;
    assert_eq!(msgs["total"], 2);
    let again = ws.turn(json!({"content": "and 3+3?", "thread_id": thread})).await;
    assert_eq!(again.last().unwrap()["type"], "agent_completed");
    assert_eq!(again[0]["payload"]["thread_id"], *thread);
}

#[tokio::test]
async fn another_users_thread_is_denied_and_its_events_never_cross() {
    let env = start(roomy()).await;
    let (alice, bob) = (env.register().await, env.register().await);
    let alice_thread = env.thread(&alice, "private").await;
    let (mut alice_ws, mut alice_ws2, mut bob_ws) =
        (env.ws(&alice.access).await, env.ws(&alice.access).await, env.ws(&bob.access).await);

    let denied = bob_ws.turn(json!({"content": "let me in", "thread_id": alice_thread})).await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["type"], "error");
    assert_eq!(denied[0]["payload"]["code"], "ACCESS_DENIED");

    let frames = alice_ws.turn(json!({"content": "secret plan", "thread_id": alice_thread})).await;
    assert_eq!(frames.last().unwrap()["type"], "agent_completed");
    // Both of alice's connections get the turn.
    loop {
        if alice_ws2.next().await["type"] == "agent_completed" {
            break;
        }
    }
    // Events go to strangers (if ever) before the owner, so once alice has them all, a pong
    // that bob receives first proves none of them reached him.
    bob_ws.send(json!({"type": "ping", "payload": {}})).await;
    let next = bob_ws.next().await;
    assert_eq!(next["type"], "pong", "bob received {next}");
    assert!(next["payload"]["server_time"].as_f64().unwrap() > 0.0);
    let unknown =
        bob_ws.turn(json!({"content": "x", "thread_id": "00000000-0000-4000-8000-000000000000"})).await;
    assert_eq!(unknown[0]["payload"]["code"], "INVALID_MESSAGE");
}

#[tokio::test]
async fn with_origin_fanout_a_turn_reaches_only_the_connection_that_sent_it() {
    let env = start(ReferenceConfig { ws_fanout: WsFanout::Origin, ..roomy() }).await;
    let alice = env.register().await;
    let thread = env.thread(&alice, "mine").await;
    let (mut first, mut second) = (env.ws(&alice.access).await, env.ws(&alice.access).await);
    let frames = first.turn(json!({"content": "only here", "thread_id": thread})).await;
    assert_eq!(frames.last().unwrap()["type"], "agent_completed");
    // The turn went to the sender alone: the other connection's next frame is its own pong.
    second.send(json!({"type": "ping", "payload": {}})).await;
    let next = second.next().await;
    assert_eq!(next["type"], "pong", "the other connection received {next}");
}

#[tokio::test]
async fn bad_frames_get_error_codes_and_the_connection_stays_usable() {
    let env = start(config()).await;
    let who = env.register().await;
    let mut ws = env.ws(&who.access).await;
    let cases = [
        ("{not json".to_owned(), "JSON_ERROR"),
        (json!({"type": "dance", "payload": {}}).to_string(), "INVALID_MESSAGE"),
        (json!({"payload": {}}).to_string(), "INVALID_MESSAGE"),
        (json!({"type": "user_message", "payload": {}}).to_string(), "INVALID_MESSAGE"),
        (
            json!({"type": "user_message", "payload": {"content": "x".repeat(9000)}}).to_string(),
            "MESSAGE_TOO_LARGE",
        ),
    ];
    for (text, code) in cases {
        ws.send_raw(text.clone()).await;
        let f = ws.next().await;
        assert_eq!(
            (f["type"].as_str(), f["payload"]["code"].as_str()),
            (Some("error"), Some(code)),
            "{}",
            &text[..text.len().min(60)]
        );
        assert!(f["payload"]["message"].is_string());
    }
    assert_eq!(ws.turn(json!({"content": "still here"})).await.last().unwrap()["type"], "agent_completed");
}

#[tokio::test]
async fn the_eleventh_free_chat_message_is_refused_with_quota_exceeded() {
    let env = start(config()).await;
    let who = env.register().await;
    let mut ws = env.ws(&who.access).await;
    for i in 1..=10 {
        let frames = ws.turn(json!({"content": format!("message {i}")})).await;
        assert_eq!(frames.last().unwrap()["type"], "agent_completed", "message {i}");
    }
    let refused = ws.turn(json!({"content": "message 11"})).await;
    assert_eq!(refused[0]["payload"]["code"], "QUOTA_EXCEEDED");
    assert!(refused[0]["payload"]["message"].as_str().unwrap().to_lowercase().contains("quota exceeded"));
}

#[tokio::test]
async fn shutdown_closes_open_sessions_with_going_away() {
    let env = start(config()).await;
    let who = env.register().await;
    let mut ws = env.ws(&who.access).await;
    let crate::common::Env { target, http: _ } = env;
    let stopping = tokio::spawn(target.shutdown());
    assert_eq!(ws.next().await, json!({"closed": 1001}));
    tokio::time::timeout(crate::common::WAIT, stopping).await.expect("shutdown finishes").unwrap();
}
