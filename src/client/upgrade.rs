//! The WebSocket opening handshake (RFC 6455, section 4) with tungstenite's parts (its request,
//! its parsing of the answer, its accept key), so that the socket reads into a buffer of the
//! size its config asks for. Through tungstenite's own handshake every socket keeps at least the
//! handshake's 4 KiB read buffer, whatever smaller `read_buffer_size` it is given, which every
//! user holding a connection pays (docs/performance.md).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error;
use tokio_tungstenite::tungstenite::handshake::client::{Response, generate_request};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::handshake::machine::TryParse;
use tokio_tungstenite::tungstenite::http::{HeaderMap, Request, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

pub type Socket = WebSocketStream<TcpStream>;

/// The longest answer head read before giving up on it.
const MAX_HEAD: usize = 16 * 1024;

/// Why a handshake did not give a WebSocket.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// The server answered with this status instead of 101.
    Status(u16),
    /// Anything else: no connection, a broken answer, a 101 that is not a WebSocket's.
    Failed(String),
}

/// Connects to `req`'s host and upgrades: `req` is tungstenite's client request (absolute
/// `ws://` URI, `Host`, `Upgrade`, `Connection`, the version and a fresh key), with whatever
/// headers the caller added.
pub async fn open(req: Request<()>, config: WebSocketConfig) -> Result<Socket, Refused> {
    let failed = |e: &dyn std::fmt::Display| Refused::Failed(e.to_string());
    let uri = req.uri();
    if uri.scheme_str() != Some("ws") {
        let scheme = uri.scheme_str().unwrap_or("none");
        return Err(Refused::Failed(format!("only ws:// URLs are supported, not {scheme}")));
    }
    let host = uri.host().ok_or_else(|| Refused::Failed("the URL has no host".into()))?.to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let asked = req.headers().get(header::SEC_WEBSOCKET_PROTOCOL).map(|v| v.as_bytes().to_vec());
    // tungstenite's message for a header it cannot write quotes the value, which may be a token:
    // only the kind of failure is told.
    let (request, key) = generate_request(req).map_err(|e| {
        Refused::Failed(match e {
            Error::Utf8(_) => "a header of the upgrade request is not printable ASCII".into(),
            _ => "the upgrade request lacks what a WebSocket request needs".into(),
        })
    })?;
    let mut tcp = super::wire::connect_tcp(&host, port).await.map_err(|e| failed(&e))?;
    tcp.write_all(&request).await.map_err(|e| failed(&e))?;
    let mut head = Vec::with_capacity(1024);
    let (size, answer) = loop {
        if tcp.read_buf(&mut head).await.map_err(|e| failed(&e))? == 0 {
            return Err(Refused::Failed("the connection ended before the answer's head did".into()));
        }
        match Response::try_parse(&head) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) if head.len() < MAX_HEAD => {}
            Ok(None) => {
                return Err(Refused::Failed(format!("no end to the answer's head in {MAX_HEAD} bytes")));
            }
            Err(e) => return Err(Refused::Failed(format!("a broken answer: {e}"))),
        }
    };
    verify(answer.headers(), answer.status(), &derive_accept_key(key.as_bytes()), asked.as_deref())?;
    // What came after the head (the first frames, maybe), in a vector the size of the config's
    // buffer or of that, the larger: tungstenite's codec keeps the vector as its buffer.
    let rest = &head[size..];
    let mut tail = Vec::with_capacity(rest.len().max(config.read_buffer_size));
    tail.extend_from_slice(rest);
    Ok(WebSocketStream::from_partially_read(tcp, tail, Role::Client, Some(config)).await)
}

/// A client's checks of the server's opening handshake (RFC 6455, section 4.1): 101, `Upgrade`
/// and `Connection` holding the tokens `websocket` and `upgrade` (in any case, in a list or
/// not, as the RFC says; tungstenite's own client wants the whole value to be the token), the
/// accept key, and a chosen subprotocol exactly when some were asked for, one of them (as
/// tungstenite and browsers do).
fn verify(
    headers: &HeaderMap,
    status: StatusCode,
    accept: &str,
    asked: Option<&[u8]>,
) -> Result<(), Refused> {
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(Refused::Status(status.as_u16()));
    }
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let refuse = |why: &str| Err(Refused::Failed(format!("a 101 {why}")));
    if !has_token(header::UPGRADE, "websocket") {
        return refuse("without `Upgrade: websocket`");
    }
    if !has_token(header::CONNECTION, "upgrade") {
        return refuse("without `Connection: upgrade`");
    }
    if headers.get(header::SEC_WEBSOCKET_ACCEPT).map(|v| v.as_bytes()) != Some(accept.as_bytes()) {
        return refuse("without the `Sec-WebSocket-Accept` of this key");
    }
    let chosen = headers.get(header::SEC_WEBSOCKET_PROTOCOL).map(|v| v.as_bytes());
    match (asked, chosen) {
        (None, None) => Ok(()),
        (Some(asked), Some(chosen)) if asked.split(|&b| b == b',').any(|p| p.trim_ascii() == chosen) => {
            Ok(())
        }
        (Some(_), None) => refuse("choosing none of the subprotocols asked for"),
        (Some(_), Some(_)) => refuse("choosing a subprotocol not asked for"),
        (None, Some(_)) => refuse("choosing a subprotocol when none was asked for"),
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// A server's 101 headers for [`KEY`] (RFC 6455's own example), less `drop`, plus `add`.
    fn answer(drop: &str, add: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ] {
            if name != drop {
                h.insert(name, HeaderValue::from_static(value));
            }
        }
        for (name, value) in add {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    fn check(h: &HeaderMap, asked: Option<&str>) -> Result<(), Refused> {
        verify(
            h,
            StatusCode::SWITCHING_PROTOCOLS,
            &derive_accept_key(KEY.as_bytes()),
            asked.map(str::as_bytes),
        )
    }

    #[test]
    fn a_websocket_answer_passes_and_each_missing_part_fails() {
        assert_eq!(check(&answer("", &[]), None), Ok(()));
        for part in ["upgrade", "connection", "sec-websocket-accept"] {
            assert!(matches!(check(&answer(part, &[]), None), Err(Refused::Failed(_))), "without {part}");
        }
        let mut wrong = answer("sec-websocket-accept", &[]);
        wrong.insert("sec-websocket-accept", HeaderValue::from_static("AAAAAAAAAAAAAAAAAAAAAAAAAAA="));
        assert!(check(&wrong, None).is_err());
    }

    #[test]
    fn header_tokens_are_matched_in_lists_and_in_any_case_and_other_tokens_fail() {
        let mut h = answer("connection", &[("connection", "keep-alive, UPGRADE")]);
        h.insert("upgrade", HeaderValue::from_static("WebSocket"));
        assert_eq!(check(&h, None), Ok(()));
        let keep_alive = answer("connection", &[("connection", "keep-alive")]);
        assert!(check(&keep_alive, None).is_err());
        let mut h2c = answer("upgrade", &[]);
        h2c.insert("upgrade", HeaderValue::from_static("h2c"));
        assert!(check(&h2c, None).is_err());
    }

    #[test]
    fn a_status_other_than_101_is_the_status() {
        let h = HeaderMap::new();
        assert_eq!(verify(&h, StatusCode::UNAUTHORIZED, "x", None), Err(Refused::Status(401)));
        assert_eq!(verify(&h, StatusCode::OK, "x", None), Err(Refused::Status(200)));
    }

    #[test]
    fn the_subprotocol_is_one_asked_for_exactly_when_some_were() {
        let asked = Some("jwt-auth, jwt.abc");
        let jwt = answer("", &[("sec-websocket-protocol", "jwt-auth")]);
        assert_eq!(check(&jwt, asked), Ok(()));
        // Any of them, the list's spaces aside.
        assert_eq!(check(&answer("", &[("sec-websocket-protocol", "jwt.abc")]), asked), Ok(()));
        assert!(check(&answer("", &[]), asked).is_err());
        assert!(check(&answer("", &[("sec-websocket-protocol", "other")]), asked).is_err());
        assert!(check(&jwt, None).is_err());
    }

    /// A server on port 0 that reads one request head, writes what `answer` makes of the
    /// request's key (each part in a write of its own), then holds the socket until the client
    /// leaves (`hold`) or closes it; the task gives the head.
    async fn server(answer: fn(&str) -> Vec<Vec<u8>>, hold: bool) -> (String, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws?token=t", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            sock.set_nodelay(true).unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8];
                sock.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let key = head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap_or_default();
            for part in answer(key) {
                // The client may have gone already (a refusal is read no further).
                let _ = sock.write_all(&part).await;
            }
            if hold {
                let _ = sock.read(&mut [0u8; 64]).await;
            }
            head
        });
        (url, task)
    }

    fn switching(key: &str) -> Vec<u8> {
        let accept = derive_accept_key(key.as_bytes());
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").into_bytes()
    }

    /// An unmasked text frame, as a server sends it.
    fn hello() -> Vec<u8> {
        let mut frame = vec![0x81, 5];
        frame.extend(b"hello");
        frame
    }

    async fn first_frame(url: String) -> Message {
        let mut socket =
            open(url.into_client_request().unwrap(), WebSocketConfig::default().read_buffer_size(1024))
                .await
                .unwrap();
        // Bounded: a frame lost with the head would leave both sides waiting.
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next()).await;
        first.expect("the frame sent with the 101").unwrap().unwrap()
    }

    #[tokio::test]
    async fn a_first_frame_sent_with_the_101_is_the_first_read() {
        let (url, server) = server(|key| vec![[switching(key), hello()].concat()], true).await;
        assert_eq!(first_frame(url).await, Message::text("hello"));
        let head = server.await.unwrap();
        // Origin form on the request line, the host and the upgrade's headers in the head.
        assert!(head.starts_with("GET /ws?token=t HTTP/1.1\r\n"), "{head}");
        for needed in ["Host: 127.0.0.1:", "Upgrade: websocket", "Sec-WebSocket-Version: 13"] {
            assert!(head.contains(needed), "{needed} in {head}");
        }
    }

    #[tokio::test]
    async fn a_head_in_two_writes_then_a_frame_is_read_whole() {
        let (url, server) = server(
            |key| {
                let head = switching(key);
                let (a, b) = head.split_at(40);
                vec![a.to_vec(), [b, &hello()].concat()]
            },
            true,
        )
        .await;
        assert_eq!(first_frame(url).await, Message::text("hello"));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_refusal_is_its_status_and_a_broken_answer_a_failure() {
        let open = |url: String| async move {
            open(url.into_client_request().unwrap(), WebSocketConfig::default()).await
        };
        let (url, task) = server(
            |_| vec![b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 17\r\n\r\n{\"detail\":\"no\"}".to_vec()],
            false,
        )
        .await;
        assert_eq!(open(url).await.err(), Some(Refused::Status(401)));
        task.await.unwrap();
        // Half a head, then the server closes.
        let (url, task) = server(|_| vec![b"HTTP/1.1 101 Switch".to_vec()], false).await;
        let cut = Refused::Failed("the connection ended before the answer's head did".into());
        assert_eq!(open(url).await.err(), Some(cut));
        task.await.unwrap();
        // A 101 whose accept key is not this request's.
        let (url, task) = server(|_| vec![switching("another key")], false).await;
        assert!(matches!(open(url).await, Err(Refused::Failed(why)) if why.contains("Sec-WebSocket-Accept")));
        task.await.unwrap();
        // A head with no end.
        let (url, task) =
            server(|_| vec![b"HTTP/1.1 101 OK\r\nX-Pad: ".to_vec(), vec![b'a'; 17 * 1024]], true).await;
        assert!(
            matches!(open(url).await, Err(Refused::Failed(why)) if why.starts_with("no end to the answer's head"))
        );
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_header_value_that_cannot_be_written_is_not_quoted() {
        let mut req = "ws://127.0.0.1:9/ws".into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", HeaderValue::from_bytes("Bearer t\u{f6}ken".as_bytes()).unwrap());
        let Err(Refused::Failed(why)) = open(req, WebSocketConfig::default()).await else {
            panic!("a header that is not ASCII fails the request")
        };
        assert!(!why.contains("ken") && !why.contains("Bearer"), "{why}");
    }
}
