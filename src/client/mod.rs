//! Speaks Netra (reference dialect) for journeys and probes: typed HTTP calls over one shared
//! [`wire::Client`] (hyper, a keep-alive pool per origin), and a WebSocket chat session
//! ([`chat::ChatSession`]) with per-turn timing.
//!
//! Every failure is a [`CallError`] with a typed *kind* ([`Failure`]: connect, timeout, an HTTP
//! status, a bad body, a closed WebSocket, ...) for counting, and a detail for the sample message.
//! Details never contain tokens or passwords: only what the server said, cut short.

pub mod api;
mod budget;
mod call;
pub mod chat;
mod deadline;
mod error;
pub mod turn;
mod upgrade;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

pub use http::{HeaderMap, Method, StatusCode};
use serde::de::IgnoredAny;
use serde_json::{Value, json};

pub use api::{Account, Api, Provisioning, ProvisioningKind, Slot, Transport};
pub use budget::{Budget, WINDOW as BUDGET_WINDOW};
pub use call::{Call, Shape};
pub use error::{CallError, Failure};
pub use wire::Request;

fn from_wire(e: &wire::Error, what: &str) -> CallError {
    let kind = match e {
        wire::Error::Timeout => Failure::Timeout,
        wire::Error::Connect(_) => Failure::Connect,
        wire::Error::Body(_) => Failure::BadBody,
        wire::Error::Request(_) | wire::Error::Invalid(_) => Failure::Transport,
    };
    // The wire's errors name the origin or URL, never headers: no token can leak here.
    CallError::new(kind, format!("{what}: {e}"))
}

/// The tokens and id a login gives. Debug shows no token.
#[derive(Clone)]
pub struct Login {
    pub user_id: String,
    pub access: String,
    pub refresh: String,
    /// The access token's lifetime as the server stated it (`expires_in`), and when it was
    /// received.
    pub expires_in: Option<u64>,
    pub received: std::time::Instant,
}

/// Who a simulated user is: what registering or minting needs. `sub` is used by minted tokens.
/// Debug shows no password.
#[derive(Clone)]
pub struct Identity {
    pub email: String,
    pub password: String,
    pub name: String,
    pub plan: String,
    pub sub: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("user_id", &self.user_id).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("email", &self.email).field("sub", &self.sub).finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh identity: the email is unique to this run and label, the password and `sub` random.
    pub fn new(email: String, name: &str, plan: &str) -> Identity {
        let h = format!("{:032x}", rand::random::<u128>());
        Identity {
            email,
            password: format!("pw-{}", &h[..16]),
            name: name.to_owned(),
            plan: plan.to_owned(),
            sub: format!("{}-{}-4{}-8{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..]),
        }
    }
}

/// What a simulated user received: the answer to a call, or a WebSocket frame.
#[derive(Clone, Copy, Debug)]
pub enum Seen<'a> {
    /// The answer to `call`, from `path`.
    Answer { call: Call, path: &'a str },
    /// A frame, read while waiting for `what` (a step or an event type).
    Frame { what: &'a str },
    /// The answer to a check's own request (`what`: the step or probe), sent with `method` to
    /// `path`.
    Other { what: &'a str, method: &'a str, path: &'a str },
}

/// Sees every body and frame a simulated user receives (the isolation checker's scanner).
pub trait Watcher: Send + Sync {
    /// `viewer` received `body`, as `seen` says.
    fn saw(&self, viewer: u32, seen: Seen<'_>, body: &[u8]);
    /// A frame `viewer` received while waiting for a chat turn was an agent event of another
    /// turn (an earlier one, another device's, another user's): not taken as the answer.
    fn other_turn(&self, _viewer: u32) {}
}

/// Where Netra is, and the shared HTTP client. Cheap to clone (one `Arc`: a clone per step).
#[derive(Clone)]
pub struct Netra {
    s: Arc<Shared>,
    viewer: Option<u32>,
    /// The account this client acts for: its requests to the backend are counted there.
    budget: Option<Arc<Budget>>,
}

#[derive(Clone)]
struct Shared {
    http: wire::Client,
    auth: Arc<str>,
    backend: Arc<str>,
    /// `ws://host:port` (`wss://` for an https backend, which the WebSocket does not speak:
    /// its upgrade fails, and the preflight says so); the dialect gives the path.
    ws: Arc<str>,
    timeout: Duration,
    api: Arc<Api>,
    watch: Option<Arc<dyn Watcher>>,
}

impl std::fmt::Debug for Netra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netra")
            .field("auth", &self.s.auth)
            .field("backend", &self.s.backend)
            .finish_non_exhaustive()
    }
}

impl Netra {
    /// `auth` and `backend` are base URLs (`http://host:port`); the WebSocket is the backend's
    /// over `ws://` (`wss://` for https, not supported: no TLS on the WebSocket). Without a
    /// backend only the auth service is tested.
    pub fn new(auth: &str, backend: Option<&str>, timeout: Duration) -> Result<Netra, String> {
        let backend = backend.map_or("", |b| b.trim_end_matches('/')).to_owned();
        let ws = match backend.split_once("://") {
            Some(("http", rest)) => format!("ws://{rest}"),
            Some(("https", rest)) => format!("wss://{rest}"),
            _ if backend.is_empty() => String::new(),
            _ => return Err(format!("backend URL `{backend}` must start with http:// or https://")),
        };
        let http = wire::Client::new(timeout)?;
        let auth: Arc<str> = auth.trim_end_matches('/').into();
        let api = Arc::new(Api::default());
        let s = Shared { http, auth, backend: backend.into(), ws: ws.into(), timeout, api, watch: None };
        Ok(Netra { s: Arc::new(s), viewer: None, budget: None })
    }

    /// This client speaking `api` instead of the reference dialect.
    pub fn with_api(mut self, api: Api) -> Netra {
        Arc::make_mut(&mut self.s).api = Arc::new(api);
        self
    }

    pub fn api(&self) -> &Api {
        &self.s.api
    }

    /// This client with a watcher that will see what viewers receive.
    pub fn watched(mut self, watch: Arc<dyn Watcher>) -> Netra {
        Arc::make_mut(&mut self.s).watch = Some(watch);
        self
    }

    /// This client with no watcher: what it receives is shown to nobody.
    pub fn unwatched(&self) -> Netra {
        let mut s = (*self.s).clone();
        s.watch = None;
        Netra { s: Arc::new(s), viewer: self.viewer, budget: self.budget.clone() }
    }

    /// This client acting for simulated user `viewer`: what it receives is shown to the watcher.
    pub fn for_viewer(&self, viewer: u32) -> Netra {
        Netra { s: self.s.clone(), viewer: Some(viewer), budget: None }
    }

    /// This client acting for simulated user `viewer` on the account whose requests `budget`
    /// counts.
    pub fn for_account(&self, viewer: u32, budget: &Arc<Budget>) -> Netra {
        Netra { s: self.s.clone(), viewer: Some(viewer), budget: Some(budget.clone()) }
    }

    /// The bucket this client's requests count against, if it acts for an account.
    pub fn budget(&self) -> Option<&Arc<Budget>> {
        self.budget.as_ref()
    }

    /// This client counting its requests against `budget` instead.
    pub fn on_budget(mut self, budget: Arc<Budget>) -> Netra {
        self.budget = Some(budget);
        self
    }

    /// Notes what an answer says of the account's bucket.
    fn answered(&self, resp: &wire::Response) {
        let refused = resp.status == StatusCode::TOO_MANY_REQUESTS;
        if let Some(budget) = &self.budget
            && (refused || budget.reads_remaining())
            && self.answers_backend(resp)
        {
            budget.answered(refused, &resp.headers);
        }
    }

    /// Whether an answer came from the backend (whose `/api` the rate limit is on).
    fn answers_backend(&self, resp: &wire::Response) -> bool {
        let authority = resp.url.authority().map_or("", |a| a.as_str());
        !authority.is_empty() && self.s.backend.split_once("://").is_some_and(|(_, rest)| rest == authority)
    }

    fn show(&self, call: Call, path: &str, body: &[u8]) {
        if let (Some(watch), Some(viewer)) = (&self.s.watch, self.viewer) {
            watch.saw(viewer, Seen::Answer { call, path }, body);
        }
    }

    /// Shows a check's own answer, whatever its status (a refusal's body included), to the
    /// watcher.
    fn show_other(&self, what: &str, method: &Method, resp: &wire::Response) {
        if let (Some(watch), Some(viewer)) = (&self.s.watch, self.viewer) {
            let seen = Seen::Other { what, method: method.as_str(), path: resp.url.path() };
            watch.saw(viewer, seen, &resp.body);
        }
    }

    /// Whether there is a backend to test (not only an auth service).
    pub fn has_backend(&self) -> bool {
        !self.s.backend.is_empty()
    }

    /// A call that needs a valid access token: the backend's profile, or the auth service's
    /// `me` when only the auth service is tested. Gives the endpoint's name, URL and request.
    pub fn token_check(&self, token: &str) -> (String, String, Request<'_>) {
        if self.has_backend() {
            let path = &self.s.api.profile;
            (format!("GET {path}"), self.backend_url(path), self.backend_request(Method::GET, path, token))
        } else {
            let url = self.auth_url(&self.s.api.me);
            let req = self.s.http.get(&url).bearer_auth(token);
            (format!("GET {}", self.s.api.me), url, req)
        }
    }

    /// Uses an access token ([`Netra::token_check`]); the answer must be 200.
    pub async fn use_token(&self, token: &str) -> Result<Value, CallError> {
        self.call(Call::UseToken, self.token_check(token).2, StatusCode::OK).await
    }

    pub fn timeout(&self) -> Duration {
        self.s.timeout
    }

    /// The WebSocket's URL (without any token).
    pub fn ws_url(&self) -> String {
        format!("{}{}", self.s.ws, self.s.api.ws_path)
    }

    /// Sends and expects `expected`; returns the JSON body.
    async fn call(&self, what: Call, req: Request<'_>, expected: StatusCode) -> Result<Value, CallError> {
        let resp = req.send().await.map_err(|e| from_wire(&e, what.into()).of(what))?;
        self.answered(&resp);
        self.show(what, resp.url.path(), &resp.body);
        let (status, bytes) = (resp.status, resp.body);
        // A success of another code whose body is not JSON is a broken body, as it is under
        // the expected code: one cause, one kind, whichever step met it. An empty one (a 204
        // where 200 was expected) is the status's mismatch.
        let garbage = || {
            status.is_success() && !bytes.is_empty() && serde_json::from_slice::<IgnoredAny>(&bytes).is_err()
        };
        if status != expected && !garbage() {
            let said = self.s.api.error_text(&bytes);
            return Err(CallError::new(
                Failure::Status(status.as_u16()),
                format!("{what}: {status}: {said}"),
            )
            .of(what));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CallError::new(Failure::BadBody, format!("{what}: {status}, not JSON: {e}")))
    }

    /// A request builder for the backend with a bearer token (`path` starts with `/`).
    /// Counted against the account's budget, if this client acts for one.
    pub fn backend_request(&self, method: Method, path: &str, token: &str) -> Request<'_> {
        if let Some(budget) = &self.budget {
            budget.spend();
        }
        self.s.http.request(method, self.backend_url(path)).bearer_auth(token)
    }

    pub async fn register(
        &self,
        email: &str,
        password: &str,
        plan: &str,
        name: &str,
    ) -> Result<Login, CallError> {
        let body = json!({"email": email, "password": password, "plan_tier": plan, "name": name});
        let req = self.s.http.post(self.auth_url(&self.s.api.register)).json(&body);
        login_of(self.call(Call::Register, req, StatusCode::CREATED).await?)
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Login, CallError> {
        let body = json!({"email": email, "password": password});
        let req = self.s.http.post(self.auth_url(&self.s.api.login)).json(&body);
        login_of(self.call(Call::Login, req, StatusCode::OK).await?)
    }

    /// The backend's `GET /health` (the bench journey `health`).
    pub async fn health(&self) -> Result<Value, CallError> {
        self.call(Call::Health, self.s.http.get(self.backend_url("/health")), StatusCode::OK).await
    }

    pub async fn profile(&self, token: &str) -> Result<Value, CallError> {
        self.call(
            Call::Profile,
            self.backend_request(Method::GET, &self.s.api.profile, token),
            StatusCode::OK,
        )
        .await
    }

    /// Creates a thread; returns its id.
    pub async fn create_thread(&self, token: &str, title: &str) -> Result<String, CallError> {
        let req =
            self.backend_request(Method::POST, &self.s.api.threads, token).json(&json!({"title": title}));
        let thread = self.call(Call::CreateThread, req, StatusCode::CREATED).await?;
        str_field(&thread, "id", "create_thread")
    }

    /// The auth service's view of the token holder: `{id, email, name, plan_tier}`.
    pub async fn me(&self, token: &str) -> Result<Value, CallError> {
        let req = self.s.http.get(self.auth_url(&self.s.api.me)).bearer_auth(token);
        self.call(Call::AuthMe, req, StatusCode::OK).await
    }

    /// Posts a chat message over HTTP (the reply arrives on the WebSocket).
    pub async fn post_message(&self, token: &str, thread: &str, content: &str) -> Result<Value, CallError> {
        let req = self
            .backend_request(Method::POST, &self.s.api.messages_path(thread), token)
            .json(&json!({ self.s.api.post_field.as_str(): content }));
        self.call(Call::PostMessage, req, StatusCode::CREATED).await
    }

    pub async fn messages(&self, token: &str, thread: &str) -> Result<Value, CallError> {
        let req = self.backend_request(Method::GET, &self.s.api.messages_path(thread), token);
        self.call(Call::History, req, StatusCode::OK).await
    }

    /// The chat messages the deployment counts for the user today (`[api] usage`, its field
    /// `usage_field`); `None` when it reports none: no such endpoint (404, 405), not for this
    /// user (403), or no count at the field.
    pub async fn usage(&self, token: &str) -> Result<Option<u64>, CallError> {
        let req = self.backend_request(Method::GET, &self.s.api.usage, token);
        let answer = match self.call(Call::Usage, req, StatusCode::OK).await {
            Err(e) if matches!(e.kind, Failure::Status(403..=405)) => return Ok(None),
            other => other?,
        };
        Ok(answer.pointer(&self.s.api.usage_field).and_then(Value::as_u64))
    }

    pub async fn export(&self, token: &str) -> Result<Value, CallError> {
        let req = self.backend_request(Method::GET, &self.s.api.export, token);
        self.call(Call::Export, req, StatusCode::OK).await
    }

    pub async fn list_threads(&self, token: &str) -> Result<Vec<Value>, CallError> {
        let list = self
            .call(
                Call::ListThreads,
                self.backend_request(Method::GET, &self.s.api.threads, token),
                StatusCode::OK,
            )
            .await?;
        match list {
            Value::Array(items) => Ok(items),
            other => Err(CallError::new(
                Failure::BadBody,
                format!("list_threads: expected a list, got {}", kind_of(&other)),
            )),
        }
    }

    /// Makes the user exist, as the dialect provisions users: registers it, or does nothing
    /// when users come from a dev login or minted tokens.
    pub async fn sign_up(&self, who: &Identity) -> Result<(), CallError> {
        match &self.s.api.provisioning {
            Provisioning::Register => {
                self.register(&who.email, &who.password, &who.plan, &who.name).await.map(drop)
            }
            Provisioning::DevLogin | Provisioning::Mint(_) | Provisioning::Login(_) => Ok(()),
        }
    }

    /// Logs the user in as the dialect provisions users: login, dev login, or a minted token
    /// (a new token for the same `sub` and `email` each time; no refresh token).
    pub async fn sign_in(&self, who: &Identity) -> Result<Login, CallError> {
        match &self.s.api.provisioning {
            Provisioning::Register | Provisioning::Login(_) => self.login(&who.email, &who.password).await,
            Provisioning::DevLogin => {
                let req = self.s.http.post(self.auth_url(&self.s.api.dev_login));
                login_of(self.call(Call::Login, req, StatusCode::OK).await?)
            }
            Provisioning::Mint(mint) => Ok(mint.token(who)),
        }
    }

    /// `sign_up` then `sign_in`.
    pub async fn provision(&self, who: &Identity) -> Result<Login, CallError> {
        self.sign_up(who).await?;
        self.sign_in(who).await
    }

    /// Exchanges a refresh token for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Login, CallError> {
        let req = self
            .s
            .http
            .post(self.auth_url(&self.s.api.refresh))
            .json(&json!({"refresh_token": refresh_token}));
        let body = self.call(Call::Refresh, req, StatusCode::OK).await?;
        Ok(Login {
            access: str_field(&body, "access_token", "refresh")?,
            refresh: str_field(&body, "refresh_token", "refresh")?,
            user_id: String::new(),
            expires_in: body["expires_in"].as_u64(),
            received: std::time::Instant::now(),
        })
    }

    pub async fn logout(&self, access: &str) -> Result<(), CallError> {
        let req = self.s.http.post(self.auth_url(&self.s.api.logout)).bearer_auth(access);
        self.call(Call::Logout, req, StatusCode::OK).await.map(drop)
    }

    /// The status a request gets, whatever it is: for checks that a token is refused. Transport
    /// failures are still errors.
    pub async fn status_of(&self, what: &str, req: Request<'_>) -> Result<StatusCode, CallError> {
        self.send(what, req).await.map(|(status, _)| status)
    }

    /// Sends and returns the status and headers whatever the status; the body is read and
    /// dropped. Transport failures are errors.
    pub async fn send(&self, what: &str, req: Request<'_>) -> Result<(StatusCode, HeaderMap), CallError> {
        let method = req.method().clone();
        let resp = req.send().await.map_err(|e| from_wire(&e, what))?;
        self.answered(&resp);
        self.show_other(what, &method, &resp);
        Ok((resp.status, resp.headers))
    }

    /// Sends and returns the status and the body whatever the status. Transport failures are
    /// errors.
    pub async fn fetch(&self, what: &str, req: Request<'_>) -> Result<(StatusCode, Vec<u8>), CallError> {
        let method = req.method().clone();
        let resp = req.send().await.map_err(|e| from_wire(&e, what))?;
        self.answered(&resp);
        self.show_other(what, &method, &resp);
        Ok((resp.status, resp.body.to_vec()))
    }

    /// A request builder for any URL, on the shared client, with no header set.
    pub fn request(&self, method: Method, url: &str) -> Request<'_> {
        self.s.http.request(method, url)
    }

    /// A request builder for the auth service (`path` starts with `/`).
    pub fn auth_request(&self, method: Method, path: &str) -> Request<'_> {
        self.s.http.request(method, self.auth_url(path))
    }

    pub fn auth_url(&self, path: &str) -> String {
        // Not `format!`: one exact allocation, no formatting machinery (every request).
        [&*self.s.auth, path].concat()
    }

    pub fn backend_url(&self, path: &str) -> String {
        [&*self.s.backend, path].concat()
    }

    pub async fn chat(&self, token: &str) -> Result<chat::ChatSession, CallError> {
        let watch = self.s.watch.clone().zip(self.viewer);
        // Boxed: the connect's future (the request, the handshake, the first frame) would
        // otherwise be inline in the step of every journey that opens a chat, which every user
        // holding one keeps.
        Box::pin(chat::ChatSession::connect(&self.s.ws, self.s.api.clone(), token, self.s.timeout, watch))
            .await
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn str_field(v: &Value, key: &str, what: &str) -> Result<String, CallError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| CallError::new(Failure::BadBody, format!("{what}: no string `{key}` in the answer")))
}

fn login_of(body: Value) -> Result<Login, CallError> {
    Ok(Login {
        access: str_field(&body, "access_token", "login")?,
        refresh: str_field(&body, "refresh_token", "login")?,
        user_id: body
            .pointer("/user/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| CallError::new(Failure::BadBody, "login: no `user.id` in the answer"))?,
        expires_in: body["expires_in"].as_u64(),
        received: std::time::Instant::now(),
    })
}
