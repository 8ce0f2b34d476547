//! The API dialect the client speaks: every path it calls, where and how the WebSocket is
//! reached, the chat frames, and how users are provisioned. [`Api::default`] is the reference
//! dialect; a profile's `[api]` section changes what a deployment does differently
//! (`shared/netra-api.md` Part 2), so real releases are reached by configuration, not code forks.

use std::time::Duration;

use serde_json::{Map, Value, json};

/// How the access token travels to the WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `Authorization: Bearer <token>`.
    Header,
    /// Subprotocols `jwt-auth, jwt.<token>`.
    SubprotocolRaw,
    /// Subprotocols `jwt-auth, jwt.<base64url(token) without padding>`.
    SubprotocolB64url,
    /// `?token=<token>` on the URL.
    Query,
}

impl std::str::FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Transport, String> {
        match s {
            "header" => Ok(Transport::Header),
            "subprotocol-raw" => Ok(Transport::SubprotocolRaw),
            "subprotocol-b64url" => Ok(Transport::SubprotocolB64url),
            "query" => Ok(Transport::Query),
            other => Err(format!(
                "unknown token transport `{other}`: use header, subprotocol-raw, subprotocol-b64url or query"
            )),
        }
    }
}

/// Tokens minted by the tester with the deployment's secret (s1 has no register endpoint).
#[derive(Clone)]
pub struct Mint {
    pub secret: String,
    pub iss: String,
    pub aud: Option<String>,
    pub lifetime: Duration,
    /// Extra claims, copied into every token.
    pub extra: Map<String, Value>,
}

impl std::fmt::Debug for Mint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mint")
            .field("secret", &"[redacted]")
            .field("iss", &self.iss)
            .field("aud", &self.aud)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Mint {
    /// An access token for `who`: the contract's claims, this template's `iss`, `aud`, lifetime
    /// and extra claims, a unique `sub` and `email` per user.
    pub fn token(&self, who: &super::Identity) -> super::Login {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut claims = json!({
            "sub": who.sub, "email": who.email, "permissions": ["read", "write"],
            "iat": now, "exp": now + self.lifetime.as_secs(), "token_type": "access", "iss": self.iss,
        });
        if let Some(aud) = &self.aud {
            claims["aud"] = json!(aud);
        }
        for (k, v) in &self.extra {
            claims[k.as_str()] = v.clone();
        }
        let key = jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes());
        let access = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
            .expect("HS256 signing of JSON claims cannot fail");
        super::Login {
            user_id: who.sub.clone(),
            access,
            refresh: String::new(),
            expires_in: Some(self.lifetime.as_secs()),
            received: std::time::Instant::now(),
        }
    }
}

/// Where users come from.
#[derive(Clone, Debug)]
pub enum Provisioning {
    /// `register` then `login` (the reference dialect).
    Register,
    /// `POST dev_login` for every login (s1's dev login: beware, it shares one email).
    DevLogin,
    /// Tokens signed by the tester, with a unique `sub` and `email` per user.
    Mint(Mint),
}

impl Provisioning {
    /// Whether users can register (the register step applies).
    pub fn registers(&self) -> bool {
        matches!(self, Provisioning::Register)
    }

    /// Whether logins give refresh tokens and sessions that logout can end.
    pub fn has_sessions(&self) -> bool {
        !matches!(self, Provisioning::Mint(_))
    }
}

#[derive(Clone, Debug)]
pub struct Api {
    pub register: String,
    pub login: String,
    pub dev_login: String,
    pub refresh: String,
    pub logout: String,
    pub me: String,
    pub verify: String,
    pub profile: String,
    /// The thread list and creation.
    pub threads: String,
    /// One thread; `{id}` stands for its id.
    pub thread: String,
    pub messages: String,
    pub export: String,
    pub ws_path: String,
    pub origin: Option<String>,
    pub transport: Transport,
    /// Type and content field of a connection's first chat message, and of the later ones.
    pub first_message: (String, String),
    pub message: (String, String),
    /// Field of `POST messages` bodies.
    pub post_field: String,
    /// Event types that end a turn with success; `error`-like ones end it with a failure.
    pub turn_done: Vec<String>,
    pub turn_failed: Vec<String>,
    /// Statuses that count as "refused" when a user tries another user's object.
    pub refused: Vec<u16>,
    pub provisioning: Provisioning,
}

impl Default for Api {
    fn default() -> Api {
        let s = |v: &str| v.to_owned();
        Api {
            register: s("/auth/register"),
            login: s("/auth/login"),
            dev_login: s("/auth/dev/login"),
            refresh: s("/auth/refresh"),
            logout: s("/auth/logout"),
            me: s("/auth/me"),
            verify: s("/auth/verify"),
            profile: s("/api/users/profile"),
            threads: s("/api/threads"),
            thread: s("/api/threads/{id}"),
            messages: s("/api/threads/{id}/messages"),
            export: s("/api/history/export?format=json"),
            ws_path: s("/ws"),
            origin: None,
            transport: Transport::Header,
            first_message: (s("user_message"), s("content")),
            message: (s("user_message"), s("content")),
            post_field: s("content"),
            turn_done: vec![s("agent_completed")],
            turn_failed: vec![s("error"), s("agent_error")],
            refused: vec![401, 403, 404],
            provisioning: Provisioning::Register,
        }
    }
}

impl Api {
    pub fn thread_path(&self, id: &str) -> String {
        self.thread.replace("{id}", id)
    }

    pub fn messages_path(&self, id: &str) -> String {
        self.messages.replace("{id}", id)
    }

    /// A chat frame for a connection's `nth` message (0 = first).
    pub fn chat_frame(&self, nth: u32, content: &str, thread_id: Option<&str>) -> Value {
        let (kind, field) = if nth == 0 { &self.first_message } else { &self.message };
        let mut payload = json!({});
        payload[field.as_str()] = json!(content);
        if let Some(thread) = thread_id {
            payload["thread_id"] = json!(thread);
        }
        json!({"type": kind, "payload": payload})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_frames_follow_the_dialect() {
        let mut api = Api::default();
        assert_eq!(
            api.chat_frame(0, "hi", Some("t")),
            json!({"type": "user_message", "payload": {"content": "hi", "thread_id": "t"}})
        );
        api.first_message = ("start_agent".into(), "user_request".into());
        assert_eq!(
            api.chat_frame(0, "hi", None),
            json!({"type": "start_agent", "payload": {"user_request": "hi"}})
        );
        assert_eq!(api.chat_frame(1, "hi", None)["type"], "user_message");
        assert_eq!(api.messages_path("42"), "/api/threads/42/messages");
        assert!("carrier-pigeon".parse::<Transport>().is_err());
    }
}
