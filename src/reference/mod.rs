//! The embedded reference Netra server (`netra-load target`, and the target of a run given no
//! deployment): an auth service and a backend speaking the reference dialect of
//! `docs/netra-api.md`, each an axum service on its own listener, sharing one
//! [`state::Platform`] (JWT secret, users, threads, token families). It can be told to misbehave
//! ([`Fault`]) so that every detector of netra-load is proven on a known bug.
//!
//! This module is a leaf: it imports nothing else of the crate.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let server = netra_load::reference::start(Default::default()).await?; // 127.0.0.1, port 0
//! println!("{} {}", server.auth_url(), server.backend_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod agent;
mod auth;
mod backend;
pub mod config;
mod error;
mod faults;
mod guard;
mod limits;
mod password;
mod state;
mod store;
mod tokens;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Dialect, Rate, ReferenceConfig, Secret, WsFanout, parse_duration, parse_duration_within};
pub use faults::{FAULT_NAMES, Fault, Faults};
pub use limits::PlanTier;
pub use tokens::{Claims, ISSUER, TokenType};
pub use ws::MAX_CHAT_BYTES;

/// A running reference server. Dropping it without [`Server::shutdown`] still stops both services
/// (they watch the same signal), but does not wait for them.
pub struct Server {
    auth_addr: SocketAddr,
    backend_addr: SocketAddr,
    auth_url: String,
    backend_url: String,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub fn auth_addr(&self) -> SocketAddr {
        self.auth_addr
    }

    pub fn backend_addr(&self) -> SocketAddr {
        self.backend_addr
    }

    /// `http://IP:PORT` of the auth service.
    pub fn auth_url(&self) -> &str {
        &self.auth_url
    }

    /// `http://IP:PORT` of the backend (the WebSocket is at `ws://IP:PORT/ws`).
    pub fn backend_url(&self) -> &str {
        &self.backend_url
    }

    /// Graceful shutdown: stop accepting, close WebSocket sessions (code 1001), let in-flight
    /// requests finish, then return.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for server in self.servers.drain(..) {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("target server ended with an error: {e}"),
                Err(e) => tracing::warn!("target server task failed: {e}"),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Binds both services at the configured addresses (port 0 picks a free port) and starts them.
/// A bind failure names the service, the address and what to try.
pub async fn start(config: ReferenceConfig) -> anyhow::Result<Server> {
    let auth = bind("auth service", config.auth_addr, "--auth-addr").await?;
    let backend = bind("backend", config.backend_addr, "--backend-addr").await?;
    serve(auth, backend, config)
}

async fn bind(service: &str, addr: SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot bind the {service} to {addr}; is another target running there? choose another {flag}")
    })
}

/// Serves both services on listeners the caller bound, until [`Server::shutdown`].
pub fn serve(auth: TcpListener, backend: TcpListener, config: ReferenceConfig) -> anyhow::Result<Server> {
    let auth_addr = auth.local_addr().context("reading the auth listener's address")?;
    let backend_addr = backend.local_addr().context("reading the backend listener's address")?;
    let (stop, stopped) = watch::channel(false);
    let platform = Arc::new(state::Platform::new(config, stopped.clone()));
    let servers = [(auth, auth::router(platform.clone())), (backend, backend::router(platform))]
        .into_iter()
        .map(|(listener, router)| {
            let mut stopped = stopped.clone();
            // Without TCP_NODELAY, the agent's small frames meet Nagle's algorithm and the
            // client's delayed ACK: every turn then costs about 40 ms.
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!("cannot set TCP_NODELAY: {e}");
                }
            });
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|down| *down).await;
                    })
                    .await
            })
        })
        .collect();
    Ok(Server {
        auth_addr,
        backend_addr,
        auth_url: format!("http://{auth_addr}"),
        backend_url: format!("http://{backend_addr}"),
        stop,
        servers,
    })
}
