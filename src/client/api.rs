//! The API dialect the client speaks: every path it calls, where and how the WebSocket is
//! reached, the chat frames, and how users are provisioned. [`Api::default`] is the reference
//! dialect; a profile's `[api]` section changes what a deployment does differently
//! (`docs/netra-api.md` Part 2), so real releases are reached by configuration, not code forks.

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

/// An account that exists already (`login` provisioning, from a credentials file).
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("email", &self.email).field("password", &"[redacted]").finish()
    }
}

/// Accounts the probers use before the simulated users' ones, with `login` provisioning: the
/// JWT probes' three subjects and the isolation prober.
pub const PROBER_ACCOUNTS: usize = 4;

/// Which account of a credentials file an identity uses.
#[derive(Clone, Copy, Debug)]
pub enum Slot {
    /// JWT probe subject (0, 1, 2) or isolation prober (3).
    Prober(usize),
    /// A simulated user (Goose's `weighted_users_index`).
    User(usize),
}

/// Where users come from, as a profile writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, strum::Display, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ProvisioningKind {
    Register,
    Login,
    DevLogin,
    Mint,
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
    /// `login` with existing accounts: one per simulated user, the same for all its journeys.
    Login(std::sync::Arc<[Account]>),
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

    /// Whether users log in with a password (register or existing accounts), which a wrong one
    /// must not open.
    pub fn has_passwords(&self) -> bool {
        matches!(self, Provisioning::Register | Provisioning::Login(_))
    }

    /// Whether a user keeps its account (and so its data) from one journey, or run, to the next.
    pub fn reuses_accounts(&self) -> bool {
        matches!(self, Provisioning::Login(_))
    }

    /// How many accounts a run of `users` needs from a credentials file.
    pub fn accounts_needed(users: usize) -> usize {
        users + PROBER_ACCOUNTS
    }

    /// `fresh` as provisioning sees it: with `login`, the email and password of the slot's
    /// account (the file was checked to hold enough; past its end the last one is reused).
    pub fn identity(&self, fresh: super::Identity, slot: Slot) -> super::Identity {
        let Provisioning::Login(accounts) = self else { return fresh };
        let index = match slot {
            Slot::Prober(n) => n.min(PROBER_ACCOUNTS - 1),
            Slot::User(n) => PROBER_ACCOUNTS + n,
        };
        match accounts.get(index).or(accounts.last()) {
            Some(a) => super::Identity { email: a.email.clone(), password: a.password.clone(), ..fresh },
            None => fresh,
        }
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
    /// `POST {token}`: the auth service's validation of a token in the body.
    pub validate: String,
    pub profile: String,
    /// The thread list and creation.
    pub threads: String,
    /// One thread; `{id}` stands for its id.
    pub thread: String,
    pub messages: String,
    pub export: String,
    /// The user's usage: its path, and the JSON pointer of the chat messages counted today.
    pub usage: String,
    pub usage_field: String,
    pub ws_path: String,
    /// Which of a user's connections get an agent turn's events: all the owner's, or only the
    /// one that sent the message (both within the contract).
    pub ws_fanout: crate::reference::WsFanout,
    pub origin: Option<String>,
    pub transport: Transport,
    /// Type and content field of a connection's first chat message, and of the later ones.
    pub first_message: (String, String),
    pub message: (String, String),
    /// Field of `POST messages` bodies.
    pub post_field: String,
    /// Whether an agent's reply quotes the message it answers (the reference's does): the
    /// answer to a turn is then the reply that quotes it.
    pub reply_quotes: bool,
    /// Event types that end a turn with success; `error`-like ones end it with a failure.
    pub turn_done: Vec<String>,
    pub turn_failed: Vec<String>,
    /// Statuses that count as "refused" when a user tries another user's object.
    pub refused: Vec<u16>,
    /// Where an error body says what went wrong, and its machine code (JSON pointers, first
    /// match wins): `{"detail": ...}` in the reference dialect, s1's backend says
    /// `{"error": true, "error_code": ..., "message": ...}`.
    pub error_message: Vec<String>,
    pub error_code: Vec<String>,
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
            validate: s("/auth/validate"),
            profile: s("/api/users/profile"),
            threads: s("/api/threads"),
            thread: s("/api/threads/{id}"),
            messages: s("/api/threads/{id}/messages"),
            export: s("/api/history/export?format=json"),
            usage: s("/api/v1/user/quota"),
            usage_field: s("/used"),
            ws_path: s("/ws"),
            ws_fanout: crate::reference::WsFanout::Owner,
            origin: None,
            transport: Transport::Header,
            first_message: (s("user_message"), s("content")),
            message: (s("user_message"), s("content")),
            post_field: s("content"),
            reply_quotes: true,
            turn_done: vec![s("agent_completed")],
            turn_failed: vec![s("error"), s("agent_error")],
            refused: vec![401, 403, 404],
            error_message: vec![s("/detail")],
            error_code: Vec::new(),
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

    /// What an error body says, as the dialect shapes it: `[code] message`, or the start of the
    /// body as text when it has another shape.
    pub fn error_text(&self, body: &[u8]) -> String {
        let json = serde_json::from_slice::<Value>(body).ok();
        let find = |pointers: &[String]| {
            let json = json.as_ref()?;
            pointers.iter().find_map(|p| match json.pointer(p)? {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
        };
        match (find(&self.error_code), find(&self.error_message)) {
            (Some(code), Some(message)) => format!("[{code}] {}", cut(&message)),
            (None, Some(message)) => cut(&message).to_owned(),
            (Some(code), None) => format!("[{code}]"),
            (None, None) => cut(&String::from_utf8_lossy(body)).to_owned(),
        }
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

/// At most 160 bytes of a server's text, cut on a character boundary.
fn cut(text: &str) -> &str {
    let mut end = text.len().min(160);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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

    #[test]
    fn error_bodies_are_read_as_the_dialect_shapes_them() {
        let mut api = Api::default();
        assert_eq!(api.error_text(br#"{"detail": "Thread not found"}"#), "Thread not found");
        assert_eq!(api.error_text(b"<html>oops</html>"), "<html>oops</html>");
        api.error_message = vec!["/message".into(), "/detail".into()];
        api.error_code = vec!["/error_code".into()];
        let s1 = br#"{"error": true, "error_code": "NOT_FOUND", "message": "Thread not found"}"#;
        assert_eq!(api.error_text(s1), "[NOT_FOUND] Thread not found");
        assert_eq!(api.error_text(br#"{"detail": "Invalid credentials"}"#), "Invalid credentials");
        assert_eq!(api.error_text("é".repeat(200).as_bytes()).len(), 160);
    }
}
