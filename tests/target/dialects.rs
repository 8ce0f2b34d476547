//! `--dialect s1`: the early real release, as `shared/netra-api.md` Part 2 describes it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use netra_load::target::{Dialect, TargetConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::common::{Env, SECRET, config, sign, start, unique_email};

fn s1() -> TargetConfig {
    TargetConfig { dialect: Dialect::S1, ..config() }
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
