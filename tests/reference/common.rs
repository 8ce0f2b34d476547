//! Helpers for the target's contract tests: a target on 127.0.0.1 port 0, an HTTP client, users,
//! hand-made tokens and a WebSocket client with bounded waits.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt, StreamExt};
use netra_load::reference::{self, ReferenceConfig, Secret, Server};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub const SECRET: &str = "contract-test-secret";

/// Every wait in these tests is bounded by this; a test that hits it fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn config() -> ReferenceConfig {
    ReferenceConfig { jwt_secret: Secret::new(SECRET), ..ReferenceConfig::default() }
}

/// A config whose rate limit no test reaches unless it means to.
pub fn roomy() -> ReferenceConfig {
    ReferenceConfig { burst: 100_000, ..config() }
}

pub struct Env {
    pub target: Server,
    pub http: reqwest::Client,
}

pub struct Account {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

pub async fn start(config: ReferenceConfig) -> Env {
    let target = reference::start(config).await.expect("target starts on port 0");
    let http = reqwest::Client::builder().no_proxy().timeout(WAIT).build().unwrap();
    Env { target, http }
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", rand::random::<u64>())
}

impl Env {
    pub fn auth(&self, path: &str) -> String {
        format!("{}{path}", self.target.auth_url())
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}{path}", self.target.backend_url())
    }

    /// Sends a request and returns status, headers and the body as JSON (`Null` when empty,
    /// a JSON string when not JSON).
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request reaches the target");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, body)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, _, b) = self.call(Method::GET, &self.api(path), Some(token), None).await;
        (s, b)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, b) = self.call(Method::POST, &self.api(path), Some(token), Some(body)).await;
        (s, b)
    }

    pub async fn register_as(&self, plan: &str) -> Account {
        let (email, password) = (unique_email(), "correct-horse".to_owned());
        let body = json!({"email": email, "password": password, "plan_tier": plan});
        let (status, _, b) = self.call(Method::POST, &self.auth("/auth/register"), None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "register: {b}");
        Account {
            id: b["user"]["id"].as_str().unwrap().to_owned(),
            email,
            password,
            access: b["access_token"].as_str().unwrap().to_owned(),
            refresh: b["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn register(&self) -> Account {
        self.register_as("free").await
    }

    /// Creates a thread and returns its id.
    pub async fn thread(&self, who: &Account, title: &str) -> String {
        let (status, b) = self.post("/api/threads", &who.access, json!({"title": title})).await;
        assert_eq!(status, StatusCode::CREATED, "create thread: {b}");
        b["id"].as_str().unwrap().to_owned()
    }

    pub async fn ws(&self, token: &str) -> Ws {
        let url = format!("ws://{}/ws", self.target.backend_addr());
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        let (stream, _) = tokio_tungstenite::connect_async(req).await.expect("WebSocket upgrade");
        let mut ws = Ws { stream };
        assert_eq!(ws.next().await["type"], "connection_established");
        ws
    }
}

pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    pub async fn send(&mut self, frame: Value) {
        self.stream.send(Message::Text(frame.to_string().into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, text: String) {
        self.stream.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next frame: JSON for a text frame, `{"closed": code}` when the server closes.
    pub async fn next(&mut self) -> Value {
        loop {
            let frame =
                tokio::time::timeout(WAIT, self.stream.next()).await.expect("a frame within the wait bound");
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str()).expect("server frames are JSON");
                }
                Some(Ok(Message::Close(c))) => {
                    return json!({"closed": c.map(|c| u16::from(c.code))});
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return json!({"closed": null}),
            }
        }
    }

    /// Sends a chat message and collects the frames of the turn, up to `agent_completed`,
    /// `error` or a close.
    pub async fn turn(&mut self, payload: Value) -> Vec<Value> {
        self.send(json!({"type": "user_message", "payload": payload})).await;
        let mut frames = Vec::new();
        loop {
            let f = self.next().await;
            let end = f["type"] == "agent_completed" || f["type"] == "error" || f.get("closed").is_some();
            frames.push(f);
            if end {
                return frames;
            }
        }
    }
}

/// Signs claims with a secret, HS256.
pub fn sign(claims: &Value, secret: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &key).unwrap()
}

/// An unsigned `alg: none` token.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// The claims of a token, unverified.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
