//! The backend's REST contract: authentication on every route, thread ownership (403 vs 404),
//! messages, the per-user rate limit with its headers, the plan quota and the export.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{config, roomy, start};
use netra_load::reference::{Rate, ReferenceConfig};

const NIL: &str = "00000000-0000-4000-8000-000000000000";

#[tokio::test]
async fn every_protected_route_wants_a_valid_token() {
    let env = start(config()).await;
    let routes = [
        (Method::GET, "/api/users/profile".to_owned()),
        (Method::GET, "/api/threads".to_owned()),
        (Method::POST, "/api/threads".to_owned()),
        (Method::GET, format!("/api/threads/{NIL}")),
        (Method::PUT, format!("/api/threads/{NIL}")),
        (Method::DELETE, format!("/api/threads/{NIL}")),
        (Method::GET, format!("/api/threads/{NIL}/messages")),
        (Method::POST, format!("/api/threads/{NIL}/messages")),
        (Method::GET, "/api/v1/user/quota".to_owned()),
        (Method::GET, "/api/history/export?format=json".to_owned()),
    ];
    for (method, path) in routes {
        for token in [None, Some("not-a-jwt")] {
            let (s, _, b) = env.call(method.clone(), &env.api(&path), token, Some(json!({}))).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}");
            assert!(b["detail"].is_string());
        }
    }
}

#[tokio::test]
async fn profile_describes_the_caller() {
    let env = start(config()).await;
    let who = env.register_as("pro").await;
    let (s, b) = env.get("/api/users/profile", &who.access).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, json!({"user_id": who.id, "email": who.email, "name": b["name"], "plan_tier": "pro"}));
}

#[tokio::test]
async fn threads_belong_to_their_creator() {
    let env = start(roomy()).await;
    let (alice, bob) = (env.register().await, env.register().await);
    let body = json!({"title": "plans", "metadata": {"user_id": bob.id, "topic": "x"}});
    let (s, t) = env.post("/api/threads", &alice.access, body).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(t["metadata"], json!({"user_id": alice.id, "topic": "x"}), "the server sets the owner");
    assert_eq!((t["title"].clone(), t["message_count"].clone()), (json!("plans"), json!(0)));
    let id = t["id"].as_str().unwrap();
    let second = env.thread(&alice, "second").await;

    let (s, list) = env.get("/api/threads", &alice.access).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<_> = list.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.as_str(), id], "newest first");
    let (_, page) = env.get("/api/threads?limit=1&offset=1", &alice.access).await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], id);
    assert_eq!(env.get("/api/threads?limit=ten", &alice.access).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(env.get("/api/threads", &bob.access).await.1, json!([]), "bob sees none of alice's");

    assert_eq!(env.get(&format!("/api/threads/{id}"), &alice.access).await.1["id"], id);
    let path = format!("/api/threads/{id}");
    let mpath = format!("/api/threads/{id}/messages");
    let cases = [
        (Method::GET, path.clone(), None),
        (Method::PUT, path.clone(), Some(json!({"title": "mine now"}))),
        (Method::DELETE, path.clone(), None),
        (Method::GET, mpath.clone(), None),
        (Method::POST, mpath.clone(), Some(json!({"content": "hi"}))),
    ];
    for (method, p, body) in cases {
        let (s, _, b) = env.call(method.clone(), &env.api(&p), Some(&bob.access), body.clone()).await;
        assert_eq!((s, b["detail"].clone()), (StatusCode::FORBIDDEN, json!("Access denied")), "{method} {p}");
        let missing = p.replace(id, NIL);
        let (s, _, _) = env.call(method.clone(), &env.api(&missing), Some(&bob.access), body.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {missing}");
        let junk = p.replace(id, "not-an-id");
        assert_eq!(
            env.call(method.clone(), &env.api(&junk), Some(&bob.access), body).await.0,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(env.get(&path, &alice.access).await.1["title"], "plans", "bob's PUT changed nothing");

    let update = json!({"title": "renamed", "metadata": {"user_id": bob.id}});
    let (s, _, t) = env.call(Method::PUT, &env.api(&path), Some(&alice.access), Some(update)).await;
    assert_eq!(
        (s, t["title"].clone(), t["metadata"]["user_id"].clone()),
        (StatusCode::OK, json!("renamed"), json!(alice.id))
    );
    let (s, _, b) = env.call(Method::DELETE, &env.api(&path), Some(&alice.access), None).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"success": true})));
    assert_eq!(env.get(&path, &alice.access).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.get("/api/threads", &alice.access).await.1.as_array().unwrap().len(), 1);
    let bad = json!({"metadata": "not an object"});
    assert_eq!(env.post("/api/threads", &alice.access, bad).await.0, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn posted_messages_are_stored_and_answered_on_the_websocket() {
    let env = start(roomy()).await;
    let who = env.register().await;
    let thread = env.thread(&who, "t").await;
    let mut ws = env.ws(&who.access).await;
    let (s, m) = env
        .post(&format!("/api/threads/{thread}/messages"), &who.access, json!({"content": "hello there"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        (m["role"].clone(), m["content"].clone(), m["thread_id"].clone()),
        (json!("user"), json!("hello there"), json!(thread))
    );
    let reply = loop {
        let f = ws.next().await;
        if f["type"] == "agent_completed" {
            break f;
        }
    };
    assert_eq!(reply["payload"]["thread_id"], thread.as_str());
    let (s, list) = env.get(&format!("/api/threads/{thread}/messages"), &who.access).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((list["thread_id"].clone(), list["total"].clone()), (json!(thread), json!(2)));
    assert_eq!(list["messages"][0]["content"], "hello there");
    assert_eq!(list["messages"][1]["role"], "assistant");
    assert!(list["messages"][1]["content"].as_str().unwrap().contains("hello there"));
    let empty = json!({"content": "  "});
    assert_eq!(
        env.post(&format!("/api/threads/{thread}/messages"), &who.access, empty).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn the_free_tier_gets_ten_messages_a_day_and_the_quota_says_so() {
    let env = start(roomy()).await;
    let who = env.register().await;
    let path = format!("/api/threads/{}/messages", env.thread(&who, "t").await);
    for i in 1..=10 {
        assert_eq!(
            env.post(&path, &who.access, json!({"content": format!("m{i}")})).await.0,
            StatusCode::CREATED,
            "message {i}"
        );
    }
    let (s, b) = env.post(&path, &who.access, json!({"content": "m11"})).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(b["detail"].as_str().unwrap().to_lowercase().contains("quota exceeded"), "{b}");
    let (_, q) = env.get("/api/v1/user/quota", &who.access).await;
    assert_eq!(q, json!({"plan_tier": "free", "daily_limit": 10, "used": 10, "remaining": 0}));

    let rich = env.register_as("enterprise").await;
    let path = format!("/api/threads/{}/messages", env.thread(&rich, "t").await);
    for i in 1..=11 {
        assert_eq!(
            env.post(&path, &rich.access, json!({"content": format!("m{i}")})).await.0,
            StatusCode::CREATED
        );
    }
    let (_, q) = env.get("/api/v1/user/quota", &rich.access).await;
    assert_eq!(q, json!({"plan_tier": "enterprise", "daily_limit": null, "used": 11, "remaining": null}));
    let pro = env.register_as("pro").await;
    assert_eq!(env.get("/api/v1/user/quota", &pro.access).await.1["daily_limit"], 1000);
}

#[tokio::test]
async fn each_user_has_a_token_bucket_with_headers_and_retry_after() {
    let slow = Rate { count: 1, per: std::time::Duration::from_secs(60) };
    let env = start(ReferenceConfig { burst: 5, rate: slow, ..config() }).await;
    let (greedy, calm) = (env.register().await, env.register().await);
    let url = env.api("/api/users/profile");
    for left in (0..5).rev() {
        let (s, h, _) = env.call(Method::GET, &url, Some(&greedy.access), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h["x-ratelimit-limit"], "5");
        assert_eq!(h["x-ratelimit-remaining"], left.to_string().as_str());
        assert!(h["x-ratelimit-reset"].to_str().unwrap().parse::<u64>().is_ok());
    }
    let (s, h, b) = env.call(Method::GET, &url, Some(&greedy.access), None).await;
    assert_eq!((s, b["detail"].clone()), (StatusCode::TOO_MANY_REQUESTS, json!("Rate limit exceeded")));
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    let (s, h, _) = env.call(Method::GET, &url, Some(&calm.access), None).await;
    assert_eq!(
        (s, h["x-ratelimit-remaining"].to_str().unwrap()),
        (StatusCode::OK, "4"),
        "one user's flood never throttles another"
    );
}

#[tokio::test]
async fn the_bucket_refills_at_the_configured_rate() {
    let fast = Rate { count: 20, per: std::time::Duration::from_secs(1) };
    let env = start(ReferenceConfig { burst: 2, rate: fast, ..config() }).await;
    let who = env.register().await;
    let url = env.api("/api/users/profile");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(env.call(Method::GET, &url, Some(&who.access), None).await.0);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    // Bounded: at 20 tokens a second a token is back within 50 ms; poll until it is, up to 5 s.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let s = env.call(Method::GET, &url, Some(&who.access), None).await.0;
        if s == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "bucket never refilled");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn export_holds_the_callers_threads_and_messages_only() {
    let env = start(roomy()).await;
    let (alice, bob) = (env.register().await, env.register().await);
    let thread = env.thread(&alice, "exported").await;
    env.post(&format!("/api/threads/{thread}/messages"), &alice.access, json!({"content": "alice-secret"}))
        .await;
    env.thread(&bob, "bob's").await;
    let (s, e) = env.get("/api/history/export?format=json", &alice.access).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e["user_id"], alice.id.as_str());
    assert!(e["export_id"].is_string() && e["generated_at"].is_u64());
    let threads = e["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0]["id"], thread.as_str());
    assert_eq!(threads[0]["messages"][0]["content"], "alice-secret");
    assert!(e["message_count"].as_u64().unwrap() >= 1);
    assert_eq!(env.get("/api/history/export", &alice.access).await.0, StatusCode::OK, "json is the default");
    let (s, b) = env.get("/api/history/export?format=csv", &alice.access).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["detail"].as_str().unwrap().contains("csv"));
}
