//! The backend: profile, threads, messages, quota and export under `/api`, plus `/health` and
//! the WebSocket at `/ws` (reference dialect, `docs/netra-api.md`).
//!
//! Every `/api/*` request passes [`guard::api`]: authentication, the per-user rate limit and the
//! HTTP fault knobs. The whole router passes [`guard::delay`] (the `latency` and `stall` faults).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::agent;
use super::config::Dialect;
use super::error::{ApiError, ApiJson};
use super::guard::{self, AuthUser};
use super::state::Shared;
use super::store::{Denied, Role, new_id};
use super::tokens::now_secs;
use super::ws;

pub fn router(state: Shared) -> Router {
    let s1 = state.config.dialect == Dialect::S1;
    let beta = state.config.dialect == Dialect::Beta;
    // s1 serves the thread list with the trailing slash only, and redirects without it.
    let threads = if s1 { "/api/threads/" } else { "/api/threads" };
    let mut api = Router::new()
        .route("/api/users/profile", get(profile))
        .route(threads, get(list_threads).post(create_thread))
        .route("/api/threads/{id}", get(get_thread).put(update_thread).delete(delete_thread))
        .route("/api/threads/{id}/messages", get(list_messages).post(post_message))
        .route("/api/v1/user/quota", get(quota))
        .route("/api/history/export", get(export));
    if beta {
        // beta serves the thread list with or without the slash.
        api = api.route("/api/threads/", get(list_threads).post(create_thread));
    }
    let api = api.route_layer(from_fn_with_state(state.clone(), guard::api));
    let mut router = Router::new()
        .route("/health", get(|| async { Json(json!({"status": "healthy", "service": "netra-backend"})) }))
        .route(if s1 { "/ws/secure" } else { "/ws" }, get(ws::upgrade))
        .merge(api);
    if s1 {
        router = router
            .route("/api/threads", any(slash_redirect))
            .layer(axum::middleware::map_response(guard::s1_error_shape));
    }
    router.layer(from_fn_with_state(state.clone(), guard::delay)).with_state(state)
}

/// s1: `/api/threads` without the slash answers 307 to the slashed path, query kept.
async fn slash_redirect(uri: axum::http::Uri) -> axum::response::Redirect {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    axum::response::Redirect::temporary(&format!("/api/threads/{query}"))
}

type Caller = Extension<AuthUser>;

async fn profile(Extension(AuthUser(user)): Caller) -> Json<Value> {
    Json(json!({"user_id": user.id, "email": user.email, "name": user.name, "plan_tier": user.plan}))
}

/// `?limit=&offset=`: a value that is not a number is a 422 naming it.
fn paging(query: &HashMap<String, String>) -> Result<(usize, usize), ApiError> {
    let number = |key: &str, default: usize| match query.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::unprocessable(format!("`{key}` must be a non-negative integer"))),
    };
    Ok((number("limit", 50)?.min(1000), number("offset", 0)?))
}

async fn list_threads(
    State(p): State<Shared>,
    Extension(AuthUser(user)): Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let (limit, offset) = paging(&query)?;
    let mut threads = p.store.list(&user, limit, offset);
    if p.config.faults.list_leak {
        threads.extend(p.store.foreign_threads(user.id, 2, false));
    }
    Ok(Json(threads))
}

#[derive(Deserialize)]
struct ThreadBody {
    title: Option<String>,
    metadata: Option<Map<String, Value>>,
}

async fn create_thread(
    State(p): State<Shared>,
    Extension(AuthUser(user)): Caller,
    ApiJson(body): ApiJson<ThreadBody>,
) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(p.store.create_thread(&user, body.title, body.metadata)))
}

/// Why the caller may not act on thread `id`: with the `error-echo` fault, a refusal of another
/// user's thread quotes its title (the owner's data) in the error body.
fn refusal(p: &Shared, id: Uuid, denied: Denied) -> ApiError {
    match (denied, p.config.faults.error_echo.then(|| p.store.title_of(id)).flatten()) {
        (Denied::Forbidden, Some(title)) => {
            ApiError::new(StatusCode::FORBIDDEN, format!("Access denied to thread '{title}'"))
        }
        (denied, _) => denied.into(),
    }
}

/// A thread id from the path; anything that is not an id cannot name a thread: 404.
fn thread_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| Denied::NotFound.into())
}

async fn get_thread(
    State(p): State<Shared>,
    Extension(AuthUser(user)): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = thread_id(&id)?;
    let thread = p.store.thread_mut(user.id, id, p.config.faults.idor).map_err(|d| refusal(&p, id, d))?;
    Ok(Json(thread.to_json()))
}

async fn update_thread(
    State(p): State<Shared>,
    Extension(AuthUser(user)): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ThreadBody>,
) -> Result<Json<Value>, ApiError> {
    let id = thread_id(&id)?;
    let mut thread = p.store.thread_mut(user.id, id, p.config.faults.idor).map_err(|d| refusal(&p, id, d))?;
    thread.update(body.title, body.metadata);
    Ok(Json(thread.to_json()))
}

async fn delete_thread(
    State(p): State<Shared>,
    Extension(AuthUser(user)): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = thread_id(&id)?;
    p.store.delete_thread(user.id, id, p.config.faults.idor).map_err(|d| refusal(&p, id, d))?;
    Ok(Json(json!({"success": true})))
}

async fn list_messages(
    State(p): State<Shared>,
    Extension(AuthUser(user)): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = thread_id(&id)?;
    let thread = p.store.thread_mut(user.id, id, p.config.faults.idor).map_err(|d| refusal(&p, id, d))?;
    Ok(Json(json!({"thread_id": thread.id, "total": thread.messages.len(), "messages": thread.messages})))
}

#[derive(Deserialize)]
struct MessageBody {
    #[serde(alias = "message")]
    content: String,
}

/// Stores the user's message and starts an agent turn; the reply reaches the thread owner's
/// WebSocket connections and is appended to the thread.
async fn post_message(
    State(p): State<Shared>,
    Extension(AuthUser(user)): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.content.trim().is_empty() {
        return Err(ApiError::unprocessable("`content` must not be empty"));
    }
    let thread = thread_id(&id)?;
    let owner =
        p.store.thread_mut(user.id, thread, p.config.faults.idor).map_err(|d| refusal(&p, thread, d))?.owner;
    if !p.count_message(&user).await {
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, agent::QUOTA_EXCEEDED_MESSAGE));
    }
    // The thread may have been deleted since the check: then it is simply not found.
    let message = p.store.append(thread, Role::User, body.content.clone()).ok_or(Denied::NotFound)?;
    agent::spawn_turn(p.clone(), owner, thread, None, body.content);
    Ok((StatusCode::CREATED, Json(json!(message))))
}

async fn quota(Extension(AuthUser(user)): Caller) -> Json<Value> {
    let used = user.state().quota.used();
    let limit = user.plan.daily_limit();
    Json(json!({
        "plan_tier": user.plan,
        "daily_limit": limit,
        "used": used,
        "remaining": limit.map(|l| l.saturating_sub(used)),
    }))
}

async fn export(
    State(p): State<Shared>,
    Extension(AuthUser(user)): Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let csv = query.get("format").map(String::as_str) == Some("csv") && p.config.dialect == Dialect::Beta;
    match query.get("format").map(String::as_str) {
        None | Some("json") => {}
        Some("csv") if csv => {}
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("Unsupported export format `{other}`: use format=json"),
            ));
        }
    }
    let mut threads = p.store.threads_with_messages(&user);
    if p.config.faults.export_leak {
        threads.extend(p.store.foreign_threads(user.id, 1, true));
    }
    let message_count: usize = threads.iter().map(|t| t["messages"].as_array().map_or(0, Vec::len)).sum();
    if csv {
        // beta's CSV: one line a message; quotes doubled inside quoted fields.
        let quote = |v: &Value| {
            format!("\"{}\"", v.as_str().map_or_else(|| v.to_string(), str::to_owned).replace('"', "\"\""))
        };
        let mut text = String::from("thread_id,message_id,role,content,created_at\n");
        for t in &threads {
            for m in t["messages"].as_array().into_iter().flatten() {
                let fields = [&t["id"], &m["id"], &m["role"], &m["content"], &m["created_at"]];
                text.push_str(&fields.map(quote).join(","));
                text.push('\n');
            }
        }
        return Ok(([(axum::http::header::CONTENT_TYPE, "text/csv")], text).into_response());
    }
    Ok(Json(json!({
        "export_id": new_id(),
        "generated_at": now_secs(),
        "user_id": user.id,
        "message_count": message_count,
        "threads": threads,
    }))
    .into_response())
}
