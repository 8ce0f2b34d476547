//! The HTTP server of `--metrics-addr`: `GET /metrics` answers [`LiveMetrics::encode`] as
//! OpenMetrics text; anything else is a 404. [`serve`] takes a bound listener and a shutdown
//! future (tests bind port 0); [`MetricsServer`] is the running server the `run` command keeps
//! until its reports are written.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::live::{self, LiveMetrics};

/// How long stopping waits for scrapes under way (and Prometheus' idle keep-alive connections)
/// before the server is dropped: a scraper must not hold the run's end.
const STOP_WAIT: Duration = Duration::from_secs(2);

fn router(metrics: Arc<LiveMetrics>) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<LiveMetrics>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, live::CONTENT_TYPE)], metrics.encode())
}

/// Serves `metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<LiveMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics)).with_graceful_shutdown(shutdown).await
}

/// A running metrics server. Dropping it stops it too, without waiting: its dropped stop sender
/// ends the shutdown future, and the task finishes the scrapes under way by itself.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks a free port) and starts serving. The error names the address
    /// and what to try.
    pub async fn start(addr: SocketAddr, metrics: Arc<LiveMetrics>) -> anyhow::Result<MetricsServer> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!("cannot serve metrics on --metrics-addr {addr}: {e}; choose another address or port (port 0 picks a free one)")
        })?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // A dropped sender stops the server as a sent stop does.
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = serve(listener, metrics, shutdown).await {
                tracing::warn!("the metrics server stopped: {e}");
            }
        });
        Ok(MetricsServer { addr, stop, task })
    }

    /// The address it serves on (the real port when port 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// Stops serving: scrapes under way finish (within [`STOP_WAIT`]), then the server is gone.
    pub async fn stop(self) {
        let MetricsServer { stop, mut task, .. } = self;
        let _ = stop.send(());
        if tokio::time::timeout(STOP_WAIT, &mut task).await.is_err() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Event;

    /// One GET over a plain TCP stream: status line and headers, then the body.
    async fn get(addr: SocketAddr, path: &str) -> (String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        (head.to_owned(), body.to_owned())
    }

    #[tokio::test]
    async fn serves_openmetrics_on_port_0_and_stops() {
        let metrics = Arc::new(LiveMetrics::new(["p".to_owned()]));
        metrics.record(&Event::Error { step: "profile", kind: "timeout".into(), message: "".into() });
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), metrics).await.unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let (head, body) = get(addr, "/metrics").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.to_lowercase().contains(&format!("content-type: {}", live::CONTENT_TYPE)), "{head}");
        assert!(body.contains(r#"netra_load_errors_total{kind="timeout"} 1"#), "{body}");
        let (head, _) = get(addr, "/other").await;
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");

        // A second server cannot take the same port: one clear error naming it.
        let taken = MetricsServer::start(addr, Arc::new(LiveMetrics::new([]))).await.err().unwrap();
        assert!(taken.to_string().contains(&format!("--metrics-addr {addr}")), "{taken}");

        server.stop().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "stopped: nothing listens");
    }
}
