//! HTTP/1.1 for the journeys and probes: hyper's connection API over a small keep-alive pool per
//! origin, for `http://` (every target on loopback or inside a cluster); `https://` goes through
//! reqwest (rustls).
//!
//! Why not reqwest for everything: per request it parses the URL (with IDNA), runs tower layers
//! (redirects, retries, decompression), checks a connection out through a connector clone and
//! moves large futures around. Measured beside oha on GET /health: ~2x oha's CPU per request,
//! mostly there (docs/performance.md). The pool here does only what a load generator needs: reuse
//! an idle connection of the origin, or open one; a request that a reused connection could not
//! even send (closed while idle) is sent again on a fresh one, as hyper-util's client does, and
//! so is a GET whose reused connection closed before any answer (the server closed it while idle
//! as the request went out: it never saw it).
//! Timeouts are deadlines on the connections ([`super::deadline`]), not a timer per request.
//! One task per client ([`watcher`]) fails the requests past their deadline and closes the
//! connections idle for [`KEEP_IDLE`]: a ramp of thousands of users
//! opens a connection for each request in flight, and each costs ~26 KiB (hyper's request channel
//! and buffers) and a socket at the target for as long as it is kept; users who then only hold a
//! WebSocket would otherwise keep them all to the end of the run.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use super::deadline::{Deadline, Due, TICK, Watch};

type Sender = SendRequest<Full<Bytes>>;

/// How long an idle connection is kept for reuse: with the watcher's round (an eighth of it), below
/// the 5 s after which uvicorn (Netra's server) closes an idle keep-alive connection itself, so
/// that a reuse seldom races its close.
pub const KEEP_IDLE: Duration = Duration::from_secs(4);

/// The watcher looks at the idle connections this many times per keep time: one is closed between
/// one keep time and an eighth more after it went idle (4-4.5 s; later only if the runtime is so
/// busy that the watcher itself is late).
const ROUNDS_PER_KEEP: u64 = 8;

/// A connection: hyper's handle for requests, the deadline of what is in flight on it, and since
/// which of the watcher's rounds it is idle in the pool (a counter read, not a clock).
struct Conn {
    sender: Sender,
    deadline: Arc<Deadline>,
    idle_since: u64,
}

/// Sends requests; cheap to clone (one pool for all clones).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    idle: Mutex<Pools>,
    deadlines: Watch,
    timeout: Duration,
    /// Ticks of the watcher between two looks at the idle connections (from the keep time,
    /// [`KEEP_IDLE`] but in tests).
    ticks_per_round: u64,
    /// The watcher's rounds so far.
    rounds: AtomicU64,
    /// For `https://` only.
    tls: reqwest::Client,
}

#[derive(Default)]
struct Pools {
    /// The origins requests went to (few in a run: found by comparing bytes, cheaper than
    /// hashing an `Authority`, which folds case).
    origins: Vec<Origin>,
    /// The watcher task, started with the first connection (and again if its runtime ended).
    watcher: Option<JoinHandle<()>>,
}

/// An origin (`host:port`, as written in the URLs), its Host header and its idle connections,
/// idle longest first.
struct Origin {
    key: Box<str>,
    /// Made once: a static value, so that each request's copy is a pointer's (no allocation, no
    /// shared count), for the few origins of a process, kept to its end.
    host: HeaderValue,
    idle: Vec<Conn>,
}

impl Pools {
    /// The pool of `origin`, made at its first request; `None` if it cannot be a Host header.
    fn of(&mut self, origin: &Authority) -> Option<&mut Origin> {
        let key = origin.as_str();
        let i = match self.origins.iter().position(|o| *o.key == *key) {
            Some(i) => i,
            None => {
                HeaderValue::try_from(key).ok()?;
                let host = HeaderValue::from_static(Box::leak(key.into()));
                self.origins.push(Origin { key: key.into(), host, idle: Vec::new() });
                self.origins.len() - 1
            }
        };
        self.origins.get_mut(i)
    }
}

/// A request being built (the subset of reqwest's builder netra-load uses). It borrows its
/// client: the client's count, shared by every user, is not touched per request.
pub struct Request<'a> {
    client: &'a Client,
    method: Method,
    url: Result<Uri, String>,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
}

/// A whole response: status, headers and the body, read to its end; and the URL it answers.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub url: Uri,
}

/// Why a request got no (whole) response. Details never hold headers (tokens) or bodies sent.
#[derive(Debug)]
pub enum Error {
    /// No connection (refused, unreachable, a bad address).
    Connect(String),
    /// No whole answer within the timeout.
    Timeout,
    /// The connection failed while sending or receiving the head (closed, not HTTP).
    Request(String),
    /// The head came but the body failed.
    Body(String),
    /// The request could not be built (bad URL or header).
    Invalid(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Connect(e) => write!(f, "cannot connect: {e}"),
            Error::Timeout => f.write_str("no answer in time"),
            Error::Request(e) => write!(f, "request failed: {e}"),
            Error::Body(e) => write!(f, "body failed: {e}"),
            Error::Invalid(e) => write!(f, "invalid request: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl Client {
    /// A client whose requests time out after `timeout` (whole exchange, connecting included).
    pub fn new(timeout: Duration) -> Result<Client, String> {
        Client::keeping_idle(timeout, KEEP_IDLE)
    }

    /// A client that keeps idle connections for `keep_idle`.
    pub fn keeping_idle(timeout: Duration, keep_idle: Duration) -> Result<Client, String> {
        let tls = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(usize::MAX)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("cannot build the HTTPS client: {e}"))?;
        let inner = Inner {
            idle: Mutex::default(),
            deadlines: Watch::new(),
            timeout,
            // Rounded up, never closing before the keep time; at least one tick (keep times
            // under 160 ms, in tests, are kept longer).
            ticks_per_round: u64::try_from(
                keep_idle.as_millis().div_ceil(TICK.as_millis() * u128::from(ROUNDS_PER_KEEP)).max(1),
            )
            .unwrap_or(u64::MAX),
            rounds: AtomicU64::new(0),
            tls,
        };
        Ok(Client { inner: Arc::new(inner) })
    }

    pub fn request(&self, method: Method, url: impl Into<String>) -> Request<'_> {
        let url: String = url.into();
        Request {
            client: self,
            method,
            url: Uri::try_from(url.as_str()).map_err(|e| format!("`{url}`: {e}")),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
        }
    }

    pub fn get(&self, url: impl Into<String>) -> Request<'_> {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: impl Into<String>) -> Request<'_> {
        self.request(Method::POST, url)
    }

    /// The Host header of `origin` and one of its idle connections, under one lock.
    fn host_and_idle(&self, origin: &Authority) -> Result<(HeaderValue, Option<Conn>), Error> {
        let mut pools = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        let pool =
            pools.of(origin).ok_or_else(|| Error::Invalid(format!("`{origin}` cannot be a Host header")))?;
        Ok((pool.host.clone(), pool.idle.pop()))
    }

    /// An idle connection to `origin` (`first`, then the pool's), or a new one; whether it was
    /// reused.
    async fn checkout(
        &self,
        origin: &Authority,
        mut first: Option<Conn>,
        due: Due,
    ) -> Result<(Conn, bool), Error> {
        loop {
            let idle = match first.take() {
                Some(conn) => Some(conn),
                None => {
                    let mut pools = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
                    pools.of(origin).and_then(|pool| pool.idle.pop())
                }
            };
            let Some(mut conn) = idle else { break };
            // Ready at once unless its last response is still being wound up; an error means it
            // was closed while idle (or, bounded by the deadline, never wound up).
            conn.deadline.arm(due);
            if !conn.sender.is_closed() && conn.sender.ready().await.is_ok() {
                return Ok((conn, true));
            }
        }
        Ok((self.connect(origin, due).await?, false))
    }

    /// Back to the pool, where it is reused first (last in, first out): the pool's other end
    /// holds the connections idle longest, which the watcher closes.
    fn checkin(&self, origin: Authority, mut conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        conn.idle_since = self.inner.rounds.load(Ordering::Relaxed);
        let mut pools = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.of(&origin) {
            pool.idle.push(conn);
        }
    }

    /// Idle connections in the pool, of every origin.
    pub fn idle_connections(&self) -> usize {
        let pools = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        pools.origins.iter().map(|o| o.idle.len()).sum()
    }

    /// Starts the watcher unless it runs.
    fn watching(&self) {
        let mut pools = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        if pools.watcher.as_ref().is_none_or(JoinHandle::is_finished) {
            pools.watcher = Some(tokio::spawn(watcher(Arc::downgrade(&self.inner))));
        }
    }

    /// Sends `req` (without its Host header, added here) to `origin`.
    async fn exchange(
        &self,
        origin: Authority,
        mut req: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<(http::response::Parts, Bytes), Error> {
        let (host, idle) = self.host_and_idle(&origin)?;
        req.headers_mut().insert(HOST, host);
        // One deadline for the whole exchange, whichever connections it takes.
        let due = self.inner.deadlines.due_in(timeout);
        let (mut conn, mut reused) = self.checkout(&origin, idle, due).await?;
        let resp = loop {
            conn.deadline.arm(due);
            // A GET on a reused connection may go out as the server closes it: kept to resend.
            let spare = (reused && req.method() == Method::GET).then(|| again(&req));
            match conn.sender.try_send_request(req).await {
                Ok(resp) => break resp,
                Err(_) if conn.deadline.expired() => return Err(Error::Timeout),
                Err(mut e) => match (e.take_message(), spare) {
                    // Never sent, or a GET closed on before any answer, on a connection that was
                    // idle: it closed meanwhile; once more on a new connection.
                    (Some(resend), _) if reused => {
                        conn.deadline.disarm();
                        req = resend;
                        conn = self.connect(&origin, due).await?;
                        reused = false;
                    }
                    (None, Some(resend)) if e.error().is_incomplete_message() => {
                        conn.deadline.disarm();
                        req = resend;
                        conn = self.connect(&origin, due).await?;
                        reused = false;
                    }
                    _ => return Err(Error::Request(e.into_error().to_string())),
                },
            }
        };
        let (head, body) = resp.into_parts();
        let body = match body.collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) if conn.deadline.expired() => return Err(Error::Timeout),
            Err(e) => return Err(Error::Body(e.to_string())),
        };
        conn.deadline.disarm();
        self.checkin(origin, conn);
        Ok((head, body))
    }

    /// A new connection to `origin` (within what is left until `due`: a resend late in an
    /// exchange gets no fresh timeout), its task, and its deadline. Boxed: the
    /// connect and the handshake would otherwise be inline in the future of every request, which
    /// every user waiting on one holds.
    fn connect<'a>(
        &'a self,
        origin: &'a Authority,
        due: Due,
    ) -> Pin<Box<dyn Future<Output = Result<Conn, Error>> + Send + 'a>> {
        Box::pin(self.open(origin, due))
    }

    async fn open(&self, origin: &Authority, due: Due) -> Result<Conn, Error> {
        let timeout = self.inner.deadlines.left(due).ok_or(Error::Timeout)?;
        let port = origin.port_u16().unwrap_or(80);
        let tcp = tokio::time::timeout(timeout, connect_tcp(origin.host(), port))
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(|e| Error::Connect(format!("{origin}: {e}")))?;
        let (sender, io) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| Error::Connect(format!("{origin}: {e}")))?;
        // The connection's own task: it ends when the server closes, when the last sender is
        // dropped, or when the deadline watcher aborts it.
        let task = tokio::spawn(async move {
            let _ = io.await;
        });
        let deadline = self.inner.deadlines.watch(task.abort_handle());
        self.watching();
        Ok(Conn { sender, deadline, idle_since: 0 })
    }
}

/// A TCP connection to `host` (a URI's host: an IPv6 address in brackets or not) and `port`,
/// with TCP_NODELAY (a small write otherwise waits ~40 ms for a delayed ACK). The HTTP pool's
/// connections and the WebSockets are both made here.
pub(super) async fn connect_tcp(host: &str, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Every tick: fails the requests past their deadline; every round (an eighth of the keep time),
/// closes the connections idle for [`ROUNDS_PER_KEEP`] rounds or more. Ends with its client.
async fn watcher(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for ticks in 1u64.. {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.deadlines.expire();
        if ticks % inner.ticks_per_round == 0 {
            inner.close_idle();
        }
    }
}

impl Inner {
    fn close_idle(&self) {
        let now = self.rounds.fetch_add(1, Ordering::Relaxed) + 1;
        let stale: Vec<Conn> = {
            let mut pools = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let mut stale = Vec::new();
            for Origin { idle, .. } in &mut pools.origins {
                let n = idle.iter().take_while(|c| c.idle_since + ROUNDS_PER_KEEP < now).count();
                stale.extend(idle.drain(..n));
            }
            stale
        };
        // Dropped outside the lock: the last sender of a connection gone, its task closes it.
        drop(stale);
    }
}

impl Request<'_> {
    /// The method it will be sent with.
    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value.as_ref())) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            // The value is not named: it may be a token.
            _ => self.url = Err(format!("header `{name}` cannot be sent as given")),
        }
        self
    }

    pub fn bearer_auth(mut self, token: &str) -> Self {
        match HeaderValue::try_from(format!("Bearer {token}")) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(AUTHORIZATION, value);
            }
            Err(_) => self.url = Err("the bearer token cannot be sent in a header".into()),
        }
        self
    }

    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.body = Bytes::from(body.to_string());
        self
    }

    /// Another timeout than the client's for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends and reads the whole response, within the timeout.
    pub async fn send(self) -> Result<Response, Error> {
        let Request { client, method, url, headers, body, timeout } = self;
        let uri = url.map_err(Error::Invalid)?;
        let timeout = timeout.unwrap_or(client.inner.timeout);
        match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => {}
            Some(s) if *s == Scheme::HTTPS => {
                return tls(&client.inner.tls, method, uri, headers, body, timeout).await;
            }
            _ => return Err(Error::Invalid(format!("`{uri}` is not an http:// or https:// URL"))),
        }
        let origin =
            uri.authority().cloned().ok_or_else(|| Error::Invalid(format!("`{uri}` has no host")))?;
        let mut req = http::Request::new(Full::new(body));
        *req.method_mut() = method;
        // Origin form (`/path?query`) and a Host header, as a browser sends it.
        *req.uri_mut() = uri.path_and_query().map_or_else(|| Uri::from_static("/"), |p| p.clone().into());
        *req.headers_mut() = headers;
        let (head, body) = client.exchange(origin, req, timeout).await?;
        Ok(Response { status: head.status, headers: head.headers, body, url: uri })
    }
}

/// A copy of a request, to send it again.
fn again(req: &http::Request<Full<Bytes>>) -> http::Request<Full<Bytes>> {
    let mut copy = http::Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    copy
}

async fn tls(
    client: &reqwest::Client,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
) -> Result<Response, Error> {
    let sent = client.request(method, uri.to_string()).headers(headers).body(body).timeout(timeout).send();
    let resp = sent.await.map_err(|e| reqwest_error(&e))?;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.bytes().await.map_err(|e| reqwest_error(&e))?;
    Ok(Response { status, headers, body, url: uri })
}

fn reqwest_error(e: &reqwest::Error) -> Error {
    // reqwest's Display names the URL, never headers; its causes (refused, a TLS alert) say why.
    let mut said = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        said = format!("{said}: {c}");
        cause = c.source();
    }
    if e.is_timeout() {
        Error::Timeout
    } else if e.is_connect() {
        Error::Connect(said)
    } else if e.is_body() || e.is_decode() {
        Error::Body(said)
    } else {
        Error::Request(said)
    }
}
