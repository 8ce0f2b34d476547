//! The simulated agent and the registry of open WebSocket connections.
//!
//! A chat turn emits `agent_started`, one `agent_thinking` and `agent_completed` (whose content
//! quotes the user's message) to every connection of the thread's owner, and appends the reply
//! to the thread. The configured agent latency is the turn's think time, split around the
//! thinking event. The `ws-crosstalk` and `ws-drop` faults act here.

use dashmap::DashMap;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::guard::{chance, injected_delay};
use super::state::Shared;
use super::store::{Role, new_id};

/// The text of every quota refusal; it contains "quota exceeded", as the contract requires.
pub const QUOTA_EXCEEDED_MESSAGE: &str = "Daily message quota exceeded for your plan";

/// What a connection's writer task is asked to send.
#[derive(Debug)]
pub enum Outgoing {
    Frame(String),
    /// Close the connection with this code and reason.
    Close(u16, &'static str),
}

pub type Outbox = mpsc::Sender<Outgoing>;

/// A server frame: `{"type": kind, "payload": payload}`.
pub fn frame(kind: &str, payload: Value) -> String {
    json!({"type": kind, "payload": payload}).to_string()
}

/// Open connections by user. Sharded, and senders are cloned out before any await, so no lock is
/// held while a slow client is written to.
#[derive(Default)]
pub struct Connections {
    by_user: DashMap<Uuid, Vec<(Uuid, Outbox)>>,
}

impl Connections {
    pub fn add(&self, user: Uuid, connection: Uuid, outbox: Outbox) {
        self.by_user.entry(user).or_default().push((connection, outbox));
    }

    pub fn remove(&self, user: Uuid, connection: Uuid) {
        self.by_user.remove_if_mut(&user, |_, conns| {
            conns.retain(|(id, _)| *id != connection);
            conns.is_empty()
        });
    }

    fn of(&self, user: Uuid) -> Vec<Outbox> {
        self.by_user.get(&user).map(|c| c.iter().map(|(_, o)| o.clone()).collect()).unwrap_or_default()
    }

    fn one(&self, user: Uuid, connection: Uuid) -> Option<Outbox> {
        let conns = self.by_user.get(&user)?;
        conns.iter().find(|(id, _)| *id == connection).map(|(_, o)| o.clone())
    }

    /// A connection of some user other than `user`, picked at random among a few.
    fn someone_else(&self, user: Uuid) -> Option<Outbox> {
        let candidates: Vec<Outbox> = self
            .by_user
            .iter()
            .filter(|e| *e.key() != user)
            .filter_map(|e| e.value().first().map(|(_, o)| o.clone()))
            .take(8)
            .collect();
        candidates.choose(&mut rand::rng()).cloned()
    }
}

/// Sends a frame to the owner's connections (with `ws_fanout` origin, to the one the message came
/// from, when it came over a WebSocket) and, under `ws-crosstalk`, maybe to a stranger's. The
/// stranger is served first: once the owner has a turn's last event, whatever a stranger got of
/// it is already queued, so a test can prove absence with a ping instead of a sleep.
async fn emit(p: &Shared, owner: Uuid, origin: Option<(Uuid, Uuid)>, text: String) {
    if chance(p.config.faults.ws_crosstalk)
        && let Some(stranger) = p.connections.someone_else(owner)
    {
        let _ = stranger.send(Outgoing::Frame(text.clone())).await;
    }
    let only = origin.filter(|_| p.config.ws_fanout == super::WsFanout::Origin);
    let outboxes = match only {
        Some((user, conn)) => p.connections.one(user, conn).into_iter().collect(),
        None => p.connections.of(owner),
    };
    for outbox in outboxes {
        // A connection that closed meanwhile just misses the event.
        let _ = outbox.send(Outgoing::Frame(text.clone())).await;
    }
}

/// Runs one agent turn in the background. `origin` is the (user, connection) the message came
/// from, if it came over a WebSocket: the one `ws-drop` may close.
pub fn spawn_turn(p: Shared, owner: Uuid, thread_id: Uuid, origin: Option<(Uuid, Uuid)>, content: String) {
    tokio::spawn(async move {
        let run_id = new_id();
        emit(&p, owner, origin, frame("agent_started", json!({"thread_id": thread_id, "run_id": run_id})))
            .await;
        if chance(p.config.faults.ws_drop)
            && let Some(outbox) = origin.and_then(|(user, conn)| p.connections.one(user, conn))
        {
            let _ = outbox.send(Outgoing::Close(1011, "connection dropped")).await;
        }
        let think = p.config.agent_latency;
        pause(think / 2).await;
        let thought = json!({"thread_id": thread_id, "run_id": run_id, "thought": "Reading the message"});
        emit(&p, owner, origin, frame("agent_thinking", thought)).await;
        pause(think - think / 2).await;
        injected_delay(&p).await;
        let reply = if p.config.reply_quotes {
            format!("You said: \"{content}\"")
        } else {
            format!("Here is my answer ({} characters read).", content.len())
        };
        p.store.append(thread_id, Role::Assistant, reply.clone());
        let done = json!({"thread_id": thread_id, "run_id": run_id, "result": {"content": reply}});
        emit(&p, owner, origin, frame("agent_completed", done)).await;
    });
}

/// Sleeps, but not at all for zero: a zero sleep still waits for the next timer tick.
async fn pause(d: std::time::Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}
