//! Throughput of the embedded target, driven in-process by plain reqwest and tokio-tungstenite
//! clients (the generator shares the machine with the target, as in a real netra-load run).
//!
//! `cargo bench --bench reference` prints requests/s for `GET /api/users/profile` (USERS users, one
//! connection each, rate limit set out of reach) and chat turns/s over the WebSocket
//! (`user_message` -> `agent_completed`, enterprise users, agent think time 5 ms and 0 ms).
//! Settings: `BENCH_USERS` (default 100), `BENCH_SECS` per phase (default 5).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use netra_load::reference::{self, ReferenceConfig};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let (users, secs) = (setting("BENCH_USERS", 100) as usize, setting("BENCH_SECS", 5));
    let phase = Duration::from_secs(secs);
    println!(
        "target throughput: {users} users, {secs} s a phase, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for think_ms in [5, 0] {
        let config = ReferenceConfig {
            burst: u32::MAX / 2,
            agent_latency: Duration::from_millis(think_ms),
            ..ReferenceConfig::default()
        };
        let target = reference::start(config).await.unwrap();
        let http = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(users).build().unwrap();
        let tokens = register(&http, target.auth_url(), users).await;
        if think_ms == 5 {
            let rate = profile_rate(&http, target.backend_url(), &tokens, phase).await;
            println!("GET /api/users/profile: {rate:>9.0} requests/s");
        }
        let rate = turn_rate(&target.backend_addr().to_string(), &tokens, phase).await;
        println!("WebSocket chat turns (agent think {think_ms} ms): {rate:>9.0} turns/s");
        target.shutdown().await;
    }
}

async fn register(http: &reqwest::Client, auth: &str, users: usize) -> Vec<String> {
    let mut tokens = Vec::with_capacity(users);
    for i in 0..users {
        let body = json!({"email": format!("bench-{i}@example.com"), "password": "bench-password", "plan_tier": "enterprise"});
        let pair: Value = http
            .post(format!("{auth}/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(pair["access_token"].as_str().unwrap().to_owned());
    }
    tokens
}

/// Runs one loop per user until `phase` ends; returns completed operations per second.
async fn for_each_user<F, Fut>(tokens: &[String], phase: Duration, op: F) -> f64
where
    F: Fn(String, Arc<AtomicBool>, Arc<AtomicU64>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let tasks: Vec<_> =
        tokens.iter().map(|t| tokio::spawn(op(t.clone(), stop.clone(), done.clone()))).collect();
    let started = Instant::now();
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    let counted = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in tasks {
        let _ = t.await;
    }
    counted as f64 / elapsed
}

async fn profile_rate(http: &reqwest::Client, backend: &str, tokens: &[String], phase: Duration) -> f64 {
    let url = format!("{backend}/api/users/profile");
    for_each_user(tokens, phase, |token, stop, done| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
                assert!(resp.status().is_success(), "{}", resp.status());
                resp.bytes().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await
}

async fn turn_rate(backend: &str, tokens: &[String], phase: Duration) -> f64 {
    let url = format!("ws://{backend}/ws");
    for_each_user(tokens, phase, |token, stop, done| {
        let url = url.clone();
        async move {
            let mut req = url.into_client_request().unwrap();
            req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
            ws.next().await.unwrap().unwrap(); // connection_established
            let turn = json!({"type": "user_message", "payload": {"content": "benchmark turn"}}).to_string();
            while !stop.load(Ordering::Relaxed) {
                ws.send(Message::Text(turn.clone().into())).await.unwrap();
                loop {
                    let frame = ws.next().await.unwrap().unwrap();
                    if frame.to_text().unwrap().contains("\"agent_completed\"") {
                        break;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await
}
