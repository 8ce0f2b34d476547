//! The WebSocket chat at `GET /ws`.
//!
//! The token comes in `Authorization: Bearer` or in the subprotocols `jwt-auth, jwt.<token>`
//! (the server then selects `jwt-auth`); without a valid one the upgrade is refused with 401.
//! Each connection has a reader (this task) and a writer task fed by a channel, so agent turns
//! and other connections' events can reach it without touching the socket.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::agent::{self, Outbox, Outgoing, frame};
use super::config::Dialect;
use super::error::ApiError;
use super::state::{Service, Shared, bearer};
use super::store::{Denied, Role, User, new_id};

/// The only `Origin` the s1 WebSocket accepts.
pub const S1_ORIGIN: &str = "http://localhost:3000";

/// Chat frames longer than this get `MESSAGE_TOO_LARGE`.
pub const MAX_CHAT_BYTES: usize = 8192;
/// Frames longer than this are not read at all: the connection is closed.
const MAX_FRAME_BYTES: usize = 1 << 20;
/// Small socket buffers keep a thousand idle connections cheap (ENGINE-NOTES.md).
const BUFFER_BYTES: usize = 8 * 1024;

pub async fn upgrade(State(p): State<Shared>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Some(late) = p.config.faults.ws_handshake {
        tokio::time::sleep(late).await;
    }
    let s1 = p.config.dialect == Dialect::S1;
    // s1 refuses with 403, checks the Origin, and carries subprotocol tokens base64url-encoded.
    let refuse = |detail: &'static str| {
        let status = if s1 { StatusCode::FORBIDDEN } else { StatusCode::UNAUTHORIZED };
        ApiError::new(status, detail).into_response()
    };
    if s1 && headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) != Some(S1_ORIGIN) {
        return refuse("Origin not allowed");
    }
    let token = match (bearer(&headers), subprotocol_token(&headers)) {
        (Some(token), _) => Some(token.to_owned()),
        (None, Some(sub)) if s1 => {
            URL_SAFE_NO_PAD.decode(sub).ok().and_then(|bytes| String::from_utf8(bytes).ok())
        }
        (None, sub) => sub.map(str::to_owned),
    };
    let user = token
        .as_deref()
        .ok_or_else(|| ApiError::unauthorized("Not authenticated"))
        .and_then(|t| p.authenticate(t, Service::Backend).map(|(user, _)| user));
    let user = match user {
        Ok(user) => user,
        // beta accepts the upgrade first, then refuses with an `error` frame and close 1008.
        Err(e) if p.config.dialect == Dialect::Beta => {
            return ws
                .protocols(["jwt-auth"])
                .on_upgrade(move |socket| refuse_after_upgrade(socket, e.detail.into_owned()));
        }
        Err(_) if s1 => return refuse("Invalid token"),
        Err(e) => return e.into_response(),
    };
    ws.protocols(["jwt-auth"])
        .read_buffer_size(BUFFER_BYTES)
        .write_buffer_size(BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| session(p, user, socket))
}

async fn refuse_after_upgrade(mut socket: WebSocket, detail: String) {
    let frame = frame("error", json!({"code": "AUTH_FAILED", "message": detail}));
    let _ = socket.send(Message::Text(frame.into())).await;
    let close = CloseFrame { code: 1008, reason: "authentication failed".into() };
    let _ = socket.send(Message::Close(Some(close))).await;
}

/// The token of a `jwt.<token>` subprotocol, if one was offered.
fn subprotocol_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("jwt."))
        .filter(|t| !t.is_empty())
}

async fn session(p: Shared, user: Arc<User>, socket: WebSocket) {
    let connection = new_id();
    let (outbox, mut queue) = mpsc::channel::<Outgoing>(64);
    let (mut sink, mut stream) = socket.split();
    let hello = frame("connection_established", json!({"connection_id": connection, "user_id": user.id}));
    // Joined before the hello goes out: a connection said to be established gets every event
    // from then on (another device's turn begun the moment this one connected included). What
    // the others send meanwhile waits in the outbox until the writer below starts, after the
    // hello.
    p.connections.add(user.id, connection, outbox.clone());
    if sink.send(Message::Text(hello.into())).await.is_err() {
        p.connections.remove(user.id, connection);
        return;
    }
    tokio::spawn(async move {
        while let Some(out) = queue.recv().await {
            let message = match out {
                Outgoing::Frame(text) => Message::Text(text.into()),
                Outgoing::Close(code, reason) => {
                    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
                }
            };
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
    });
    let mut shutdown = p.shutdown.clone();
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => handle_text(&p, &user, connection, &outbox, text.as_str()).await,
                Some(Ok(Message::Binary(_))) => {
                    reply_error(&outbox, "INVALID_MESSAGE", "binary frames are not supported: send JSON text").await;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {} // protocol pings are answered by the socket itself
            },
            _ = async { shutdown.wait_for(|down| *down).await.map(|_| ()) } => {
                let _ = outbox.send(Outgoing::Close(1001, "server shutting down")).await;
                break;
            }
        }
    }
    // The writer ends once the last sender (ours, the registry's, a turn's) is gone.
    p.connections.remove(user.id, connection);
}

async fn reply(outbox: &Outbox, kind: &str, payload: Value) {
    let _ = outbox.send(Outgoing::Frame(frame(kind, payload))).await;
}

async fn reply_error(outbox: &Outbox, code: &str, message: impl Into<String>) {
    reply(outbox, "error", json!({"code": code, "message": message.into()})).await;
}

async fn handle_text(p: &Shared, user: &Arc<User>, connection: Uuid, outbox: &Outbox, text: &str) {
    if text.len() > MAX_CHAT_BYTES {
        let message = format!("message of {} bytes exceeds the {MAX_CHAT_BYTES}-byte limit", text.len());
        return reply_error(outbox, "MESSAGE_TOO_LARGE", message).await;
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return reply_error(outbox, "JSON_ERROR", format!("invalid JSON: {e}")).await,
    };
    match value.get("type").and_then(Value::as_str) {
        Some("ping") => reply(outbox, "pong", json!({"server_time": server_time()})).await,
        Some("user_message") => user_message(p, user, connection, outbox, &value["payload"]).await,
        Some("chat_message") if p.config.dialect == Dialect::Beta => {
            user_message(p, user, connection, outbox, &value["payload"]).await
        }
        // s1's first message of a conversation: the same turn, the text under `user_request`.
        Some("start_agent") if p.config.dialect == Dialect::S1 => {
            let mut payload = value["payload"].clone();
            payload["content"] = payload["user_request"].take();
            user_message(p, user, connection, outbox, &payload).await
        }
        Some(other) => {
            reply_error(outbox, "INVALID_MESSAGE", format!("unknown message type `{other}`")).await
        }
        None => reply_error(outbox, "INVALID_MESSAGE", "a frame needs a string `type`").await,
    }
}

fn server_time() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

async fn user_message(p: &Shared, user: &Arc<User>, connection: Uuid, outbox: &Outbox, payload: &Value) {
    let Some(content) = payload.get("content").and_then(Value::as_str).filter(|c| !c.trim().is_empty())
    else {
        return reply_error(outbox, "INVALID_MESSAGE", "`payload.content` must be a non-empty string").await;
    };
    let thread = match payload.get("thread_id") {
        None | Some(Value::Null) => p.store.default_thread(user),
        Some(raw) => {
            let Some(id) = raw.as_str().and_then(|s| s.parse::<Uuid>().ok()) else {
                return reply_error(outbox, "INVALID_MESSAGE", "`payload.thread_id` must be a thread id")
                    .await;
            };
            match p.store.thread_mut(user.id, id, false).map(|_| ()) {
                Ok(()) => id,
                Err(Denied::Forbidden) => {
                    // The `error-echo` fault quotes the thread's title, as over HTTP.
                    let title = p.config.faults.error_echo.then(|| p.store.title_of(id)).flatten();
                    let message = match title {
                        Some(title) => format!("Access denied to thread '{title}'"),
                        None => "Access denied to this thread".to_owned(),
                    };
                    return reply_error(outbox, "ACCESS_DENIED", message).await;
                }
                Err(Denied::NotFound) => {
                    return reply_error(outbox, "INVALID_MESSAGE", format!("thread {id} not found")).await;
                }
            }
        }
    };
    if !p.count_message(user).await {
        return reply_error(outbox, "QUOTA_EXCEEDED", agent::QUOTA_EXCEEDED_MESSAGE).await;
    }
    p.store.append(thread, Role::User, content.to_owned());
    agent::spawn_turn(p.clone(), user.id, thread, Some((user.id, connection)), content.to_owned());
}
