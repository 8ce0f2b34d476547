//! `--dialect s1`: the early real release, as `docs/netra-api.md` Part 2 describes it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use netra_load::reference::{Dialect, ReferenceConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::common::{Env, SECRET, config, sign, start, unique_email};

fn s1() -> ReferenceConfig {
    ReferenceConfig { dialect: Dialect::S1, ..config() }
}

/// A token as an s1 tester mints it: unique `sub` and `email`, no `jti`, no `aud`.
fn minted(extra: Value) -> (String, String) {
    let sub = uuid_like();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut claims = json!({
        "sub": sub, "email": unique_email(), "permissions": ["read", "write"], "iat": now, "exp": now + 600,
        "token_type": "access", "iss": "netra-auth-service",
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    (sign(&claims, SECRET), sub)
}

fn uuid_like() -> String {
    let h = format!("{:032x}", rand::random::<u128>());
    format!("{}-{}-4{}-8{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..])
}

#[tokio::test]
async fn s1_has_no_register_and_its_dev_login_collapses_users_by_email() {
    let env = start(s1()).await;
    let body = json!({"email": unique_email(), "password": "long-enough"});
    let (s, _, _) = env.call(Method::POST, &env.auth("/auth/register"), None, Some(body)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, first) = env.call(Method::POST, &env.auth("/auth/dev/login"), None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, _, second) = env.call(Method::POST, &env.auth("/auth/dev/login"), None, None).await;
    assert_ne!(first["user"]["id"], second["user"]["id"], "each call mints a new user id");
    let (s, profile) = env.get("/api/users/profile", second["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(profile["user_id"], first["user"]["id"], "the backend maps by email: the trap");
}

#[tokio::test]
async fn s1_accepts_minted_tokens_with_unique_users_and_refuses_an_audience() {
    let env = start(s1()).await;
    let (token, sub) = minted(json!({}));
    let (s, profile) = env.get("/api/users/profile", &token).await;
    assert_eq!((s, profile["user_id"].as_str()), (StatusCode::OK, Some(sub.as_str())));
    let (other, other_sub) = minted(json!({}));
    assert_eq!(env.get("/api/users/profile", &other).await.1["user_id"], other_sub.as_str());
    let (with_aud, _) = minted(json!({"aud": "netra-platform"}));
    assert_eq!(env.get("/api/users/profile", &with_aud).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn s1_threads_live_behind_the_slash_and_errors_have_its_shape() {
    let env = start(s1()).await;
    let (alice, _) = minted(json!({}));
    let (bob, _) = minted(json!({}));
    let no_redirect =
        reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = no_redirect.get(env.api("/api/threads?limit=5")).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(resp.headers()["location"], "/api/threads/?limit=5");
    let (s, t) = env.post("/api/threads/", &alice, json!({"title": "s1"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, h, _) = env.call(Method::GET, &env.api("/api/threads/"), Some(&alice), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!h.contains_key("x-ratelimit-limit"), "s1 enforces no rate limit");
    let (s, err) = env.get(&format!("/api/threads/{}", t["id"].as_str().unwrap()), &bob).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!((err["error"].clone(), err["error_code"].clone()), (json!(true), json!("FORBIDDEN")));
    assert!(err["message"].is_string() && err.get("detail").is_none(), "{err}");
}

#[tokio::test]
async fn s1_logout_revokes_nothing() {
    let env = start(s1()).await;
    let (_, _, pair) = env.call(Method::POST, &env.auth("/auth/dev/login"), None, None).await;
    let token = pair["access_token"].as_str().unwrap();
    let (s, _, _) = env.call(Method::POST, &env.auth("/auth/logout"), Some(token), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(env.get("/api/users/profile", token).await.0, StatusCode::OK);
}

async fn s1_ws(
    env: &Env,
    origin: Option<&str>,
    protocols: Option<String>,
    path: &str,
) -> Result<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>, u16>
{
    let mut req = format!("ws://{}{path}", env.target.backend_addr()).into_client_request().unwrap();
    if let Some(origin) = origin {
        req.headers_mut().insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    if let Some(p) = protocols {
        req.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(&p).unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn s1_websocket_wants_its_path_origin_and_base64url_tokens_and_speaks_start_agent() {
    let env = start(s1()).await;
    let (token, sub) = minted(json!({}));
    let b64 = format!("jwt-auth, jwt.{}", URL_SAFE_NO_PAD.encode(&token));
    let origin = Some("http://localhost:3000");
    assert_eq!(s1_ws(&env, origin, Some(b64.clone()), "/ws").await.err(), Some(404));
    assert_eq!(s1_ws(&env, None, Some(b64.clone()), "/ws/secure").await.err(), Some(403));
    assert_eq!(
        s1_ws(&env, Some("http://evil.example"), Some(b64.clone()), "/ws/secure").await.err(),
        Some(403)
    );
    let raw = format!("jwt-auth, jwt.{token}");
    assert_eq!(
        s1_ws(&env, origin, Some(raw), "/ws/secure").await.err(),
        Some(403),
        "raw subprotocol tokens are s1's no"
    );
    let mut ws = s1_ws(&env, origin, Some(b64), "/ws/secure").await.expect("upgrade");
    let hello: Value = serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(
        (hello["type"].as_str(), hello["payload"]["user_id"].as_str()),
        (Some("connection_established"), Some(sub.as_str()))
    );
    let mut ws = crate::common::Ws { stream: ws };
    ws.send(json!({"type": "start_agent", "payload": {"user_request": "plan my week"}})).await;
    let reply = loop {
        let f = ws.next().await;
        if f["type"] == "agent_completed" || f["type"] == "error" {
            break f;
        }
    };
    assert!(reply["payload"]["result"]["content"].as_str().unwrap().contains("plan my week"), "{reply}");
}

fn beta() -> ReferenceConfig {
    ReferenceConfig { dialect: Dialect::Beta, ..config() }
}

#[tokio::test]
async fn beta_tokens_carry_its_audience_and_a_token_without_it_is_refused() {
    let env = start(beta()).await;
    let who = env.register().await;
    let claims = crate::common::claims_of(&who.access);
    assert_eq!(
        (claims["aud"].as_str(), claims["env"].is_string(), claims["jti"].is_string()),
        (Some("netra-platform"), true, true)
    );
    assert_eq!(env.get("/api/users/profile", &who.access).await.0, StatusCode::OK);
    let mut no_aud = claims.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(env.get("/api/users/profile", &sign(&no_aud, SECRET)).await.0, StatusCode::UNAUTHORIZED);
    let (s, h, _) = env.call(Method::GET, &env.api("/api/threads"), Some(&who.access), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!h.contains_key("x-ratelimit-limit"), "beta enforces no rate limit");
    assert_eq!(env.get("/api/threads/", &who.access).await.0, StatusCode::OK, "with the slash too");
    let (s, _, _) = env.call(Method::POST, &env.auth("/auth/logout"), Some(&who.access), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        env.get("/api/users/profile", &who.access).await.0,
        StatusCode::UNAUTHORIZED,
        "beta's logout revokes"
    );
}

#[tokio::test]
async fn beta_posts_message_bodies_and_exports_csv() {
    let env = start(beta()).await;
    let who = env.register().await;
    let thread = env.thread(&who, "beta").await;
    let (s, m) = env
        .post(&format!("/api/threads/{thread}/messages"), &who.access, json!({"message": "hello, \"beta\""}))
        .await;
    assert_eq!((s, m["content"].as_str()), (StatusCode::CREATED, Some("hello, \"beta\"")));
    let resp = env
        .http
        .get(env.api("/api/history/export?format=csv"))
        .bearer_auth(&who.access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/csv");
    let csv = resp.text().await.unwrap();
    assert!(csv.starts_with("thread_id,message_id,role,content,created_at\n"), "{csv}");
    assert!(csv.contains("\"hello, \"\"beta\"\"\""), "quotes doubled: {csv}");
}

#[tokio::test]
async fn beta_websocket_upgrades_then_refuses_a_bad_token_and_speaks_chat_message() {
    let env = start(beta()).await;
    let url = format!("ws://{}/ws", env.target.backend_addr());
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("jwt-auth, jwt.not-a-token"));
    let (stream, _) = tokio_tungstenite::connect_async(req).await.expect("beta upgrades first");
    let mut ws = crate::common::Ws { stream };
    let first = ws.next().await;
    assert_eq!(
        (first["type"].as_str(), first["payload"]["code"].as_str()),
        (Some("error"), Some("AUTH_FAILED"))
    );
    assert_eq!(ws.next().await, json!({"closed": 1008}));

    let who = env.register().await;
    let mut req = url.as_str().into_client_request().unwrap();
    let offer = format!("jwt-auth, jwt.{}", who.access);
    req.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(&offer).unwrap());
    let (stream, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut ws = crate::common::Ws { stream };
    assert_eq!(ws.next().await["type"], "connection_established");
    ws.send(json!({"type": "chat_message", "payload": {"content": "beta chat"}})).await;
    let done = loop {
        let f = ws.next().await;
        if f["type"] == "agent_completed" || f["type"] == "error" {
            break f;
        }
    };
    assert!(done["payload"]["result"]["content"].as_str().unwrap().contains("beta chat"), "{done}");
}
