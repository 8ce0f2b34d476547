//! Backend middleware: authentication and rate limiting of `/api/*`, and the fault knobs that
//! act on whole HTTP responses (`error-rate`, `garbage`, `latency`, `stall`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::limits::Decision;
use super::state::{Platform, Service, Shared};
use super::store::User;

/// The authenticated caller, put in the request's extensions by [`api`].
#[derive(Clone)]
pub struct AuthUser(pub Arc<User>);

/// Authenticates, takes a token from the caller's bucket, then (faults permitting) runs the
/// handler. Every response to an authenticated caller carries the `X-RateLimit-*` headers.
pub async fn api(State(p): State<Shared>, mut req: Request, next: Next) -> Response {
    let user = match p.authenticate_bearer(req.headers(), Service::Backend) {
        Ok((user, _)) => user,
        Err(e) => return e.into_response(),
    };
    let decision = p.rate_limit(&user);
    let faults = &p.config.faults;
    let mut response = match decision {
        Some(d) if !d.allowed => {
            let mut r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded").into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after));
            r
        }
        _ if chance(faults.error_rate) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
        }
        _ => {
            req.extensions_mut().insert(AuthUser(user));
            next.run(req).await
        }
    };
    if chance(faults.garbage) {
        response = (StatusCode::OK, "<html><body>502 upstream hiccup</body></html>").into_response();
    }
    if let Some(d) = decision {
        rate_headers(response.headers_mut(), &d);
    }
    response
}

fn rate_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(d.reset));
}

/// s1's backend error bodies: `{"error": true, "error_code": ..., "message": ...}` instead of
/// `{"detail": ...}`.
pub async fn s1_error_shape(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (status, "").into_response();
    };
    let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    let code = status.canonical_reason().unwrap_or("ERROR").to_uppercase().replace(' ', "_");
    let body = serde_json::json!({"error": true, "error_code": code, "message": detail}).to_string();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The `latency` and `stall` faults, before every backend response.
pub async fn delay(State(p): State<Shared>, req: Request, next: Next) -> Response {
    injected_delay(&p).await;
    next.run(req).await
}

/// Waits for the `latency` fault and, inside a `stall` window, until the window ends. The agent
/// calls this too, so that replies suffer the same faults as responses.
pub async fn injected_delay(p: &Platform) {
    let faults = &p.config.faults;
    if let Some(latency) = faults.latency {
        tokio::time::sleep(latency).await;
    }
    if faults.hang.is_some_and(|after| p.started.elapsed() >= after) {
        std::future::pending::<()>().await;
    }
    if let Some(per_second) = faults.slowdown {
        tokio::time::sleep(per_second.mul_f64(p.started.elapsed().as_secs_f64())).await;
    }
    if let Some((pause, every)) = faults.stall {
        let wait = stall_wait(p.started.elapsed(), pause, every);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Time left in the current stall window: windows are `[k*every, k*every + pause)`.
fn stall_wait(elapsed: Duration, pause: Duration, every: Duration) -> Duration {
    let phase = Duration::from_nanos((elapsed.as_nanos() % every.as_nanos()) as u64);
    pause.saturating_sub(phase)
}

/// True with probability `p`; free when `p` is 0 (the clean target never draws).
pub fn chance(p: f64) -> bool {
    p > 0.0 && rand::random::<f64>() < p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_waits_only_inside_the_window() {
        let (pause, every) = (Duration::from_millis(200), Duration::from_secs(2));
        assert_eq!(stall_wait(Duration::from_millis(50), pause, every), Duration::from_millis(150));
        assert_eq!(stall_wait(Duration::from_millis(500), pause, every), Duration::ZERO);
        assert_eq!(stall_wait(Duration::from_millis(2100), pause, every), Duration::from_millis(100));
    }

    #[test]
    fn chance_is_never_for_zero_and_always_for_one() {
        assert!((0..1000).all(|_| !chance(0.0)));
        assert!((0..1000).all(|_| chance(1.0)));
    }
}
