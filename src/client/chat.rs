//! A WebSocket chat session: connect with a bearer token, send `user_message`, wait for the end
//! of the turn (`agent_completed` or `error`), timing the first event and the whole turn.
//!
//! Sockets read 1 KiB at a time and buffer 4 KiB of writes (the defaults of 128 KiB each way
//! dominate memory at a thousand users; the read buffer is what every held connection keeps,
//! and the handshake of [`super::upgrade`] leaves it at that size) and use TCP_NODELAY (small
//! frames otherwise wait ~40 ms for a delayed ACK).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::api::{Api, Transport};
use super::turn::{Belongs, TurnOf};
use super::upgrade::{self, Refused, Socket};
use super::{CallError, Failure, Seen, Watcher};

/// What one read takes from the socket (a larger frame is read in several) and what a held
/// connection keeps: frames here are small JSON events.
const READ_BYTES: usize = 1024;
const WRITE_BYTES: usize = 4 * 1024;

pub struct ChatSession {
    stream: Socket,
    timeout: Duration,
    watch: Option<(Arc<dyn Watcher>, u32)>,
    api: Arc<Api>,
    /// Chat messages sent on this connection (the first may have another type).
    sent: u32,
    pub connection_id: String,
    pub user_id: String,
}

/// One finished turn.
#[derive(Debug)]
pub struct Turn {
    pub thread_id: String,
    pub reply: String,
    /// From sending to the first event of the turn.
    pub first_event: Duration,
}

impl ChatSession {
    /// Connects to `base` (`ws://host:port`) as the dialect says (path, `Origin`, how the token
    /// travels); with `watch`, every frame received is shown to the watcher as seen by that viewer.
    pub async fn connect(
        base: &str,
        api: Arc<Api>,
        token: &str,
        timeout: Duration,
        watch: Option<(Arc<dyn Watcher>, u32)>,
    ) -> Result<ChatSession, CallError> {
        let bad = |e: String| CallError::new(Failure::WsError, format!("ws_connect: {e}"));
        let url = match api.transport {
            Transport::Query => format!("{base}{}?token={token}", api.ws_path),
            _ => format!("{base}{}", api.ws_path),
        };
        let mut req = url.into_client_request().map_err(|e| bad(e.to_string()))?;
        // A value with bytes past ASCII passes here and fails when the request is written
        // (`upgrade::open`, whose error quotes no value).
        let header = |v: String| {
            HeaderValue::from_str(&v).map_err(|_| bad("the token is not a valid header value".into()))
        };
        match api.transport {
            Transport::Header => {
                req.headers_mut().insert("authorization", header(format!("Bearer {token}"))?);
            }
            Transport::SubprotocolRaw => {
                req.headers_mut().insert("sec-websocket-protocol", header(format!("jwt-auth, jwt.{token}"))?);
            }
            Transport::SubprotocolB64url => {
                let encoded = URL_SAFE_NO_PAD.encode(token);
                req.headers_mut()
                    .insert("sec-websocket-protocol", header(format!("jwt-auth, jwt.{encoded}"))?);
            }
            Transport::Query => {}
        }
        if let Some(origin) = &api.origin {
            req.headers_mut().insert("origin", header(origin.clone())?);
        }
        let config = WebSocketConfig::default().read_buffer_size(READ_BYTES).write_buffer_size(WRITE_BYTES);
        // Boxed on its own (`Netra::chat` boxes the whole connect too): the handshake's state
        // is then freed when it is done, not kept through the wait for the first frame, where
        // many users are at a ramp's peak (`bench/ab.sh MEMORY_USERS=5000`: 19.2 KiB per user
        // without this box, 18.9-19.0 with it, in two A/B runs).
        let stream = tokio::time::timeout(timeout, Box::pin(upgrade::open(req, config)))
            .await
            .map_err(|_| CallError::new(Failure::Timeout, "ws_connect: no upgrade in time"))?
            .map_err(|e| match e {
                Refused::Status(status) => {
                    CallError::new(Failure::WsStatus(status), "ws_connect: upgrade refused")
                }
                Refused::Failed(why) => bad(why),
            })?;
        let mut session = ChatSession {
            stream,
            timeout,
            watch,
            api,
            sent: 0,
            connection_id: String::new(),
            user_id: String::new(),
        };
        let hello = session.next_frame("ws_connect").await?;
        if hello["type"] == "error" {
            // A dialect that upgrades first and then refuses (beta): still a refusal.
            let said = hello["payload"]["message"].as_str().unwrap_or_default().to_owned();
            return Err(CallError::new(
                Failure::WsRefused,
                format!("ws_connect: refused after the upgrade: {said}"),
            ));
        }
        if hello["type"] != "connection_established" {
            return Err(CallError::wrong(format!("ws_connect: first frame was `{}`", hello["type"])));
        }
        session.connection_id = hello["payload"]["connection_id"].as_str().unwrap_or_default().to_owned();
        session.user_id = hello["payload"]["user_id"].as_str().unwrap_or_default().to_owned();
        Ok(session)
    }

    /// The next JSON frame, within the timeout.
    async fn next_frame(&mut self, what: &str) -> Result<Value, CallError> {
        loop {
            let frame = tokio::time::timeout(self.timeout, self.stream.next()).await.map_err(|_| {
                CallError::new(Failure::Timeout, format!("{what}: no frame in {:?}", self.timeout))
            })?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Some((watch, viewer)) = &self.watch {
                        watch.saw(*viewer, Seen::Frame { what }, text.as_bytes());
                    }
                    return serde_json::from_str(text.as_str()).map_err(|e| {
                        CallError::new(Failure::BadBody, format!("{what}: frame is not JSON: {e}"))
                    });
                }
                Some(Ok(Message::Close(c))) => {
                    let code = c.map_or_else(|| "no code".to_owned(), |c| u16::from(c.code).to_string());
                    return Err(CallError::new(Failure::WsClosed, format!("{what}: server closed ({code})")));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(CallError::new(Failure::WsClosed, format!("{what}: {e}"))),
                None => return Err(CallError::new(Failure::WsClosed, format!("{what}: connection ended"))),
            }
        }
    }

    /// Sends `content` (to `thread_id`, or the default thread) and waits for the turn's end:
    /// only this turn's events count ([`TurnOf`]), the first of them timing the first event.
    pub async fn turn(&mut self, content: &str, thread_id: Option<&str>) -> Result<Turn, CallError> {
        self.turn_in(content, thread_id, thread_id).await
    }

    /// A turn sent to the user's default thread, whose id an earlier turn told (`known`, the
    /// `thread_id` of its [`Turn`]): then events of other threads are no answer either.
    pub async fn default_thread_turn(
        &mut self,
        content: &str,
        known: Option<&str>,
    ) -> Result<Turn, CallError> {
        self.turn_in(content, None, known).await
    }

    async fn turn_in(
        &mut self,
        content: &str,
        send_to: Option<&str>,
        known: Option<&str>,
    ) -> Result<Turn, CallError> {
        let frame = self.api.chat_frame(self.sent, content, send_to).to_string();
        self.sent += 1;
        let sent = Instant::now();
        self.stream
            .send(Message::Text(frame.into()))
            .await
            .map_err(|e| CallError::new(Failure::WsClosed, format!("first_reply: send failed: {e}")))?;
        let mut first_event = None;
        let (f, done) = self
            .answer(TurnOf::new(known, content), "first_reply", |_| {
                first_event.get_or_insert_with(|| sent.elapsed());
            })
            .await?;
        done?;
        let reply = f["payload"]["result"]["content"].as_str().unwrap_or_default().to_owned();
        let thread_id = f["payload"]["thread_id"].as_str().unwrap_or_default().to_owned();
        Ok(Turn { thread_id, reply, first_event: first_event.unwrap_or_default() })
    }

    /// Waits for the end of the turn of `content` in `thread_id`, sent by another connection of
    /// the user (or earlier on this one); returns its reply event.
    pub async fn wait_for_turn(&mut self, thread_id: &str, content: &str) -> Result<Value, CallError> {
        let (f, done) = self.answer(TurnOf::new(Some(thread_id), content), "wait_for_turn", |_| {}).await?;
        done.map(|()| f)
    }

    /// Reads frames until `turn` ends; `seen` is told of each of its events. Gives the last
    /// frame and whether the turn ended well (a refusal is its error).
    async fn answer(
        &mut self,
        mut turn: TurnOf<'_>,
        what: &str,
        mut seen: impl FnMut(Belongs),
    ) -> Result<(Value, Result<(), CallError>), CallError> {
        loop {
            let f = self.next_frame(what).await?;
            let belongs = turn.classify(&self.api, &f);
            match belongs {
                Belongs::Other => {
                    if let Some((watch, viewer)) = &self.watch {
                        watch.other_turn(*viewer);
                    }
                }
                Belongs::Unrelated => {}
                Belongs::Progress | Belongs::Completed | Belongs::Failed => seen(belongs),
            }
            match belongs {
                Belongs::Completed => return Ok((f, Ok(()))),
                Belongs::Failed => {
                    let code = f["payload"]["code"].as_str().unwrap_or("UNKNOWN");
                    let message = f["payload"]["message"].as_str().unwrap_or_default();
                    let e = CallError::new(Failure::of_code(code), format!("{what}: {message}"));
                    return Ok((f, Err(e)));
                }
                _ => {}
            }
        }
    }

    /// Sends a `user_message` without waiting for anything.
    pub async fn send(&mut self, content: &str, thread_id: &str) -> Result<(), CallError> {
        let frame = self.api.chat_frame(self.sent, content, Some(thread_id));
        self.sent += 1;
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .map_err(|e| CallError::new(Failure::WsClosed, format!("send failed: {e}")))
    }

    /// The contract's `ping`, answered by `pong` (frames in between are read past).
    pub async fn ping(&mut self) -> Result<(), CallError> {
        self.stream
            .send(Message::Text(r#"{"type": "ping"}"#.into()))
            .await
            .map_err(|e| CallError::new(Failure::WsClosed, format!("ping: send failed: {e}")))?;
        while self.next_frame("ping").await?["type"] != "pong" {}
        Ok(())
    }

    /// Reads frames until one of type `kind` for `thread_id`; returns it.
    pub async fn wait_for(&mut self, kind: &str, thread_id: &str) -> Result<Value, CallError> {
        loop {
            let f = self.next_frame(kind).await?;
            if f["type"] == kind && f["payload"]["thread_id"] == thread_id {
                return Ok(f);
            }
        }
    }

    /// Drops the connection without a close handshake, as a lost network would.
    pub fn drop_abruptly(self) {}

    /// Closes politely; errors are of no interest at that point.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.close(None)).await;
    }
}
