//! The journeys' HTTP client (`client::wire`) against a bare HTTP/1.1 server written here on
//! port 0: what it sends, how it keeps connections, what it does when one is closed while idle,
//! and how it fails.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netra_load::client::wire::{Client, Error, KEEP_IDLE};
use netra_load::client::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, Notify, mpsc};

/// A keep-alive HTTP/1.1 server answering its first `answered` requests `200 {"n": <request
/// number>}` and the rest never (it then waits for the client to close); its first `held`
/// requests are answered only once all of them are in (each on its own connection, then).
/// Records every request (head and body), counts connections, and closes them all on `close`.
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    close: Arc<Notify>,
    closed: mpsc::UnboundedReceiver<()>,
}

impl Server {
    async fn start(answered: usize) -> Server {
        Server::holding(answered, 0).await
    }

    async fn holding(answered: usize, held: usize) -> Server {
        let hold = Arc::new(Barrier::new(held));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let close = Arc::new(Notify::new());
        let (closed_tx, closed) = mpsc::unbounded_channel();
        let (c, r, n) = (connections.clone(), requests.clone(), close.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (r, n, closed_tx, hold) = (r.clone(), n.clone(), closed_tx.clone(), hold.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        () = serve(socket, &r, answered, (&hold, held)) => {}
                        () = n.notified() => {}
                    }
                    // The socket is closed (dropped) before this is sent.
                    let _ = closed_tx.send(());
                });
            }
        });
        Server { addr, connections, requests, close, closed }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut socket: TcpStream,
    requests: &Mutex<Vec<String>>,
    answered: usize,
    (hold, held): (&Barrier, usize),
) {
    let mut buf = Vec::new();
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < end + 4 + length {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let request = String::from_utf8_lossy(&buf[..end + 4 + length]).into_owned();
        buf.drain(..end + 4 + length);
        let n = {
            let mut all = requests.lock().unwrap();
            all.push(request);
            all.len()
        };
        if n <= held {
            hold.wait().await;
        }
        if n > answered {
            // No answer; the connection ends when the client closes it.
            let mut chunk = [0u8; 4096];
            while let Ok(1..) = socket.read(&mut chunk).await {}
            return;
        }
        let body = format!("{{\"n\": {n}}}");
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if socket.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn client(timeout: Duration) -> Client {
    Client::new(timeout).unwrap()
}

/// A request expected to give up by itself: the test fails (instead of hanging) if it does not.
async fn gives_up(req: netra_load::client::Request<'_>) -> Error {
    let sent = tokio::time::timeout(Duration::from_secs(30), req.send()).await;
    sent.expect("the request gave up by itself").unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_origin_form_with_host_token_and_json_body() {
    let server = Server::start(usize::MAX).await;
    let http = client(Duration::from_secs(10));
    let resp = http
        .post(server.url("/api/threads?x=1"))
        .bearer_auth("tok-123")
        .json(&json!({"title": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(&resp.body[..], b"{\"n\": 1}");
    assert_eq!(resp.headers["content-type"], "application/json");
    let sent = server.requests.lock().unwrap()[0].clone();
    let lower = sent.to_ascii_lowercase();
    assert!(sent.starts_with("POST /api/threads?x=1 HTTP/1.1\r\n"), "{sent}");
    assert!(lower.contains(&format!("\r\nhost: {}\r\n", server.addr)), "{sent}");
    assert!(lower.contains("\r\nauthorization: bearer tok-123\r\n"), "{sent}");
    assert!(lower.contains("\r\ncontent-type: application/json\r\n"), "{sent}");
    assert!(lower.contains("\r\ncontent-length: 17\r\n"), "{sent}");
    assert!(sent.ends_with("\r\n\r\n{\"title\":\"hello\"}"), "{sent}");

    let get = http.request(Method::GET, server.url("")).header("x-probe", "a").send().await.unwrap();
    assert_eq!(get.status, StatusCode::OK);
    let sent = server.requests.lock().unwrap()[1].clone();
    assert!(sent.starts_with("GET / HTTP/1.1\r\n"), "{sent}");
    assert!(sent.to_ascii_lowercase().contains("\r\nx-probe: a\r\n"), "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_connections_alive_and_opens_one_per_request_in_flight_at_most() {
    let server = Server::start(usize::MAX).await;
    let http = client(Duration::from_secs(10));
    for i in 1..=20 {
        let resp = http.get(server.url("/health")).send().await.unwrap();
        assert_eq!(resp.body, format!("{{\"n\": {i}}}"));
    }
    assert_eq!(server.connections(), 1, "sequential requests share one connection");

    let many = (0..8).map(|_| {
        let (http, url) = (http.clone(), server.url("/health"));
        tokio::spawn(async move { http.get(url).send().await })
    });
    for task in many.collect::<Vec<_>>() {
        assert_eq!(task.await.unwrap().unwrap().status, StatusCode::OK);
    }
    let opened = server.connections();
    assert!((1..=8).contains(&opened), "8 in flight: {opened} connections");
    for _ in 0..20 {
        http.get(server.url("/health")).send().await.unwrap();
    }
    assert_eq!(server.connections(), opened, "the pool's connections are reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_idle_past_the_keep_time_are_closed_and_one_in_use_is_kept() {
    // Two clients with three idle connections each: one keeps them for a second, one for the
    // default four.
    let mut pools = Vec::new();
    for keep in [Duration::from_secs(1), KEEP_IDLE] {
        let server = Server::holding(usize::MAX, 3).await;
        let http = Client::keeping_idle(Duration::from_secs(10), keep).unwrap();
        // Three requests in flight at once: three connections, idle afterwards.
        let three = (0..3).map(|_| {
            let (http, url) = (http.clone(), server.url("/health"));
            tokio::spawn(async move { http.get(url).send().await })
        });
        for task in three.collect::<Vec<_>>() {
            assert_eq!(task.await.unwrap().unwrap().status, StatusCode::OK);
        }
        assert_eq!((server.connections(), http.idle_connections()), (3, 3), "keeping {keep:?}");
        pools.push((server, http));
    }
    let [(short, short_http), (long, long_http)] = &mut pools[..] else { unreachable!() };
    // A request every 100 ms (on the connection used last: the pool is last in, first out) until
    // the short keeper's other two are closed, with nothing else sent.
    let url = short.url("/health");
    let mut every = tokio::time::interval(Duration::from_millis(100));
    let mut closed = 0;
    let two_closed = tokio::time::timeout(Duration::from_secs(30), async {
        while closed < 2 {
            tokio::select! {
                c = short.closed.recv() => {
                    c.unwrap();
                    closed += 1;
                }
                _ = every.tick() => {
                    short_http.get(url.as_str()).send().await.unwrap();
                }
            }
        }
    });
    two_closed.await.expect("the connections idle past the keep time are closed");
    assert_eq!(short_http.idle_connections(), 1, "the connection in use is kept");
    assert_eq!(short.connections(), 3, "and reused: no new one was opened");
    // Meanwhile (after the longer keeper's watcher looked at its idle ones twice) it closed none, and reuses them.
    assert!(long.closed.try_recv().is_err(), "a connection within the keep time was closed");
    assert_eq!(long_http.idle_connections(), 3);
    long_http.get(long.url("/health")).send().await.unwrap();
    assert_eq!(long.connections(), 3, "an idle connection is reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closed_while_idle_is_replaced() {
    let mut server = Server::start(usize::MAX).await;
    let http = client(Duration::from_secs(10));
    for round in 1..=5 {
        let resp = http.get(server.url("/health")).send().await.unwrap();
        assert_eq!(resp.status, StatusCode::OK, "round {round}");
        // The server closes its idle connection (as at its keep-alive timeout) before the next.
        server.close.notify_waiters();
        server.closed.recv().await.unwrap();
    }
    assert_eq!(server.connections(), 5);
    assert_eq!(server.requests.lock().unwrap().len(), 5, "each request was sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_told_apart() {
    // Nothing answers: a timeout, not a hang.
    let silent = Server::start(0).await;
    let err = gives_up(client(Duration::from_millis(300)).get(silent.url("/health"))).await;
    assert!(matches!(err, Error::Timeout), "{err:?}");
    // A shorter timeout for one request.
    let err = gives_up(
        client(Duration::from_secs(30)).get(silent.url("/health")).timeout(Duration::from_millis(100)),
    )
    .await;
    assert!(matches!(err, Error::Timeout), "{err:?}");

    // Nobody listens: a connect error naming the address.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err =
        client(Duration::from_secs(5)).get(format!("http://127.0.0.1:{port}/")).send().await.unwrap_err();
    assert!(matches!(&err, Error::Connect(e) if e.contains(&port.to_string())), "{err:?}");

    // Not a URL, another scheme, a header that cannot be sent: refused before any connection.
    let http = client(Duration::from_secs(5));
    for req in [
        http.get("not a url"),
        http.get("ftp://127.0.0.1/x"),
        http.get(silent.url("/")).header("x-bad", "s3cr3t\nbreak"),
        http.get(silent.url("/")).bearer_auth("s3cr3t\r\n"),
    ] {
        let err = req.send().await.unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
    assert_eq!(silent.connections(), 2, "only the two timed-out requests connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_speaks_tls() {
    // A server that is not TLS: it records the first bytes it gets and closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut first = [0u8; 3];
        socket.read_exact(&mut first).await.unwrap();
        first
    });
    let err = client(Duration::from_secs(5)).get(format!("https://{addr}/health")).send().await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    // A TLS handshake record (22), TLS major version 3: a ClientHello, not plain HTTP.
    let first = got.await.unwrap();
    assert_eq!(&first[..2], &[22, 3], "{first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_fails_and_its_connection_is_closed() {
    let mut server = Server::start(1).await;
    let http = client(Duration::from_millis(300));
    assert_eq!(http.get(server.url("/")).send().await.unwrap().status, StatusCode::OK);
    // The same (pooled) connection, now unanswered.
    let err = gives_up(http.get(server.url("/"))).await;
    assert!(matches!(err, Error::Timeout), "{err:?}");
    // The client closed it: the server's side ends.
    server.closed.recv().await.unwrap();
    assert_eq!(server.connections(), 1);
    // The next request needs a new connection (and times out on it too).
    let err = gives_up(http.get(server.url("/")).timeout(Duration::from_millis(100))).await;
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert_eq!(server.connections(), 2);
    assert_eq!(server.requests.lock().unwrap().len(), 3, "each request was sent once");
}
