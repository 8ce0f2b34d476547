//! One test per fault knob: the faulty target shows exactly the named misbehaviour, and the clean
//! target, probed the same way, does not.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Env, claims_of, roomy, start, unique_email, unsigned};
use netra_load::reference::{Fault, Faults, ReferenceConfig};

fn with(faults: &[&str]) -> ReferenceConfig {
    let list: Vec<Fault> = faults.iter().map(|f| f.parse().unwrap()).collect();
    ReferenceConfig { faults: Faults::from_list(&list).unwrap(), ..roomy() }
}

/// Runs `probe` against a target with `fault` (must be true) and a clean one (must be false).
macro_rules! proves {
    ($fault:expr, $probe:ident) => {{
        assert!($probe(&start(with(&[$fault])).await).await, "`{}` did not show", $fault);
        assert!(!$probe(&start(roomy()).await).await, "the clean target showed `{}`", $fault);
    }};
}

async fn idor(env: &Env) -> bool {
    let (alice, bob) = (env.register().await, env.register().await);
    let id = env.thread(&alice, "alice's").await;
    let path = env.api(&format!("/api/threads/{id}"));
    let read = env.call(Method::GET, &path, Some(&bob.access), None).await;
    let write = env.call(Method::PUT, &path, Some(&bob.access), Some(json!({"title": "bob was here"}))).await;
    let messages = env.call(Method::GET, &format!("{path}/messages"), Some(&bob.access), None).await;
    let delete = env.call(Method::DELETE, &path, Some(&bob.access), None).await;
    let all_ok = [&read, &write, &messages, &delete].iter().all(|r| r.0 == StatusCode::OK);
    assert!(all_ok || [&read, &write, &messages, &delete].iter().all(|r| r.0 == StatusCode::FORBIDDEN));
    if all_ok {
        assert_eq!(read.2["id"], id.as_str());
        assert_eq!(write.2["title"], "bob was here");
        assert_eq!(
            env.get(&format!("/api/threads/{id}"), &alice.access).await.0,
            StatusCode::NOT_FOUND,
            "deleted"
        );
    }
    all_ok
}

#[tokio::test]
async fn idor_makes_other_users_threads_readable_writable_deletable() {
    proves!("idor", idor);
}

async fn error_echo(env: &Env) -> bool {
    let (alice, bob) = (env.register().await, env.register().await);
    let id = env.thread(&alice, "alice's secret title").await;
    let path = env.api(&format!("/api/threads/{id}"));
    let (status, _, body) = env.call(Method::GET, &path, Some(&bob.access), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "refused either way");
    body.to_string().contains("alice's secret title")
}

#[tokio::test]
async fn error_echo_quotes_the_owners_thread_title_in_the_refusal() {
    proves!("error-echo", error_echo);
}

async fn list_leak(env: &Env) -> bool {
    let (alice, bob) = (env.register().await, env.register().await);
    let id = env.thread(&alice, "alice's").await;
    env.thread(&bob, "bob's").await;
    let (_, list) = env.get("/api/threads", &bob.access).await;
    list.as_array().unwrap().iter().any(|t| t["id"] == id.as_str())
}

#[tokio::test]
async fn list_leak_puts_other_users_threads_in_lists() {
    proves!("list-leak", list_leak);
}

async fn crosstalk(env: &Env) -> bool {
    let (alice, bob) = (env.register().await, env.register().await);
    let (mut alice_ws, mut bob_ws) = (env.ws(&alice.access).await, env.ws(&bob.access).await);
    let frames = alice_ws.turn(json!({"content": "alice-only"})).await;
    assert_eq!(frames.last().unwrap()["type"], "agent_completed");
    // Strangers are sent events before the owner: after a ping, bob's queue is decided.
    bob_ws.send(json!({"type": "ping", "payload": {}})).await;
    bob_ws.next().await["type"] != "pong"
}

#[tokio::test]
async fn ws_crosstalk_sends_agent_events_to_another_users_connection() {
    proves!("ws-crosstalk=1", crosstalk);
}

async fn export_leak(env: &Env) -> bool {
    let (alice, bob) = (env.register().await, env.register().await);
    let thread = env.thread(&alice, "alice's").await;
    env.post(&format!("/api/threads/{thread}/messages"), &alice.access, json!({"content": "alice-canary"}))
        .await;
    let (_, export) = env.get("/api/history/export?format=json", &bob.access).await;
    export.to_string().contains("alice-canary")
}

#[tokio::test]
async fn export_leak_includes_another_users_messages() {
    proves!("export-leak", export_leak);
}

async fn no_revoke(env: &Env) -> bool {
    let who = env.register().await;
    env.call(Method::POST, &env.auth("/auth/logout"), Some(&who.access), None).await;
    let refresh = json!({"refresh_token": who.refresh});
    let refreshed = env.call(Method::POST, &env.auth("/auth/refresh"), None, Some(refresh)).await.0;
    let used = env.get("/api/users/profile", &who.access).await.0;
    assert_eq!(used == StatusCode::OK, refreshed == StatusCode::OK);
    used == StatusCode::OK
}

async fn any_password(env: &Env) -> bool {
    let who = env.register().await;
    let body = json!({"email": who.email, "password": "not the password"});
    env.call(Method::POST, &env.auth("/auth/login"), None, Some(body)).await.0 == StatusCode::OK
}

#[tokio::test]
async fn any_password_opens_an_existing_account_with_a_wrong_password() {
    proves!("any-password", any_password);
}

#[tokio::test]
async fn no_revoke_leaves_tokens_valid_after_logout() {
    proves!("no-revoke", no_revoke);
}

async fn refresh_reuse(env: &Env) -> bool {
    let who = env.register().await;
    let url = env.auth("/auth/refresh");
    let body = json!({"refresh_token": who.refresh});
    let (first, _, pair) = env.call(Method::POST, &url, None, Some(body.clone())).await;
    assert_eq!(first, StatusCode::OK);
    let again = env.call(Method::POST, &url, None, Some(body)).await.0;
    let family_alive = env.get("/api/users/profile", pair["access_token"].as_str().unwrap()).await.0;
    assert_eq!(again == StatusCode::OK, family_alive == StatusCode::OK);
    again == StatusCode::OK
}

#[tokio::test]
async fn refresh_reuse_lets_retired_refresh_tokens_work() {
    proves!("refresh-reuse", refresh_reuse);
}

/// Sends 8 requests with a burst of 3: how many were refused, and whether headers were sent.
async fn limited(env: &Env) -> (usize, bool) {
    let who = env.register().await;
    let mut refused = 0;
    let mut headers = false;
    for _ in 0..8 {
        let (s, h, _) = env.call(Method::GET, &env.api("/api/users/profile"), Some(&who.access), None).await;
        refused += usize::from(s == StatusCode::TOO_MANY_REQUESTS);
        headers |= h.contains_key("x-ratelimit-limit");
    }
    (refused, headers)
}

#[tokio::test]
async fn no_rate_limit_lets_every_request_through() {
    let tight = |faults: &[&str]| ReferenceConfig { burst: 3, ..with(faults) };
    assert_eq!(limited(&start(tight(&["no-rate-limit"])).await).await, (0, false));
    assert_eq!(limited(&start(tight(&[])).await).await, (5, true));
}

async fn shared_bucket(env: &Env) -> bool {
    let (greedy, bystander) = (env.register().await, env.register().await);
    for _ in 0..3 {
        env.get("/api/users/profile", &greedy.access).await;
    }
    env.get("/api/users/profile", &bystander.access).await.0 == StatusCode::TOO_MANY_REQUESTS
}

#[tokio::test]
async fn shared_rate_limit_lets_one_user_throttle_another() {
    let slow = netra_load::reference::Rate { count: 1, per: Duration::from_secs(60) };
    let tight = |faults: &[&str]| ReferenceConfig { burst: 3, rate: slow, ..with(faults) };
    assert!(shared_bucket(&start(tight(&["shared-rate-limit"])).await).await);
    assert!(!shared_bucket(&start(tight(&[])).await).await);
}

async fn weak_jwt(env: &Env) -> bool {
    let who = env.register().await;
    let forged = unsigned(&claims_of(&who.access));
    let (me, _, _) = env.call(Method::GET, &env.auth("/auth/me"), Some(&forged), None).await;
    assert_eq!(me, StatusCode::UNAUTHORIZED, "the auth service stays strict");
    env.get("/api/users/profile", &forged).await.0 == StatusCode::OK
}

#[tokio::test]
async fn weak_jwt_makes_the_backend_accept_unsigned_tokens() {
    proves!("weak-jwt", weak_jwt);
}

async fn weak_auth_jwt(env: &Env) -> bool {
    let who = env.register().await;
    let forged = unsigned(&claims_of(&who.access));
    assert_eq!(
        env.get("/api/users/profile", &forged).await.0,
        StatusCode::UNAUTHORIZED,
        "the backend stays strict"
    );
    let (me, _, body) = env.call(Method::GET, &env.auth("/auth/me"), Some(&forged), None).await;
    me == StatusCode::OK && body["email"] == claims_of(&who.access)["email"]
}

#[tokio::test]
async fn weak_auth_jwt_makes_the_auth_service_accept_unsigned_tokens() {
    proves!("weak-auth-jwt", weak_auth_jwt);
}

async fn timed_profile(env: &Env, token: &str) -> Duration {
    let started = Instant::now();
    assert_eq!(env.get("/api/users/profile", token).await.0, StatusCode::OK);
    started.elapsed()
}

#[tokio::test]
async fn latency_is_added_to_every_backend_response_and_agent_reply() {
    let added = Duration::from_millis(300);
    let slow = start(with(&["latency=300ms"])).await;
    let who = slow.register().await;
    let faulty = timed_profile(&slow, &who.access).await;
    assert!(faulty >= added, "{faulty:?}");
    let started = Instant::now();
    let mut ws = slow.ws(&who.access).await;
    ws.turn(json!({"content": "hi"})).await;
    assert!(started.elapsed() >= added * 2, "upgrade and reply each delayed");

    let clean = start(roomy()).await;
    let who = clean.register().await;
    let fast = timed_profile(&clean, &who.access).await;
    assert!(fast * 2 < faulty, "clean {fast:?} vs faulty {faulty:?}");
}

#[tokio::test]
async fn stall_pauses_the_whole_backend_then_resumes() {
    // The stall clock starts with the target: the first window is [0, 2s).
    let env = start(with(&["stall=2s/60s"])).await;
    let who = env.register().await; // the auth service does not stall
    let started = Instant::now();
    let together = futures_util::future::join_all((0..4).map(|_| timed_profile(&env, &who.access))).await;
    let stalled = started.elapsed();
    assert!(stalled >= Duration::from_secs(1), "requests inside the window waited: {stalled:?}");
    assert!(together.iter().all(|d| *d * 2 >= stalled), "all paused together: {together:?}");
    let after = timed_profile(&env, &who.access).await;
    assert!(after * 2 < stalled, "resumed after the window: {after:?}");
}

/// Counts 500s and non-JSON 200s among `n` profile requests.
async fn failures(env: &Env, n: usize) -> (usize, usize) {
    let who = env.register().await;
    let (mut errors, mut garbage) = (0, 0);
    for _ in 0..n {
        let (s, _, b) = env.call(Method::GET, &env.api("/api/users/profile"), Some(&who.access), None).await;
        errors += usize::from(s == StatusCode::INTERNAL_SERVER_ERROR);
        garbage += usize::from(s == StatusCode::OK && b.is_string());
    }
    (errors, garbage)
}

#[tokio::test]
async fn error_rate_gives_random_500s_in_proportion() {
    assert_eq!(failures(&start(with(&["error-rate=1"])).await, 20).await, (20, 0));
    let (errors, _) = failures(&start(with(&["error-rate=0.5"])).await, 200).await;
    assert!((50..=150).contains(&errors), "{errors} of 200 at p=0.5");
    assert_eq!(failures(&start(roomy()).await, 200).await, (0, 0));
}

#[tokio::test]
async fn garbage_gives_non_json_bodies_with_status_200() {
    assert_eq!(failures(&start(with(&["garbage=1"])).await, 20).await, (0, 20));
    let (_, garbage) = failures(&start(with(&["garbage=0.5"])).await, 200).await;
    assert!((50..=150).contains(&garbage), "{garbage} of 200 at p=0.5");
}

async fn dropped(env: &Env) -> bool {
    let who = env.register().await;
    let mut ws = env.ws(&who.access).await;
    let frames = ws.turn(json!({"content": "will you answer?"})).await;
    assert_eq!(frames[0]["type"], "agent_started", "the turn started before any drop");
    frames.last().unwrap().get("closed").is_some()
}

#[tokio::test]
async fn ws_drop_closes_connections_mid_turn() {
    proves!("ws-drop=1", dropped);
}

/// A profile read that gets no answer within a second.
async fn hangs(env: &Env) -> bool {
    let account = env.register().await;
    let req = env.http.get(env.api("/api/users/profile")).bearer_auth(&account.access);
    matches!(req.timeout(Duration::from_secs(1)).send().await, Err(e) if e.is_timeout())
}

#[tokio::test]
async fn hang_makes_the_backend_answer_nothing_while_the_auth_service_still_does() {
    proves!("hang=0s", hangs);
}

/// A WebSocket upgrade that does not complete within half a second.
async fn slow_upgrade(env: &Env) -> bool {
    let account = env.register().await;
    tokio::time::timeout(Duration::from_millis(500), env.ws(&account.access)).await.is_err()
}

#[tokio::test]
async fn ws_handshake_delays_every_upgrade() {
    proves!("ws-handshake=5s", slow_upgrade);
}

/// Registrations at once and one at a time: how many failed with a 500 in each.
async fn races(env: &Env) -> (usize, usize) {
    let register = || async {
        let body = json!({"email": unique_email(), "password": "correct-horse"});
        env.call(Method::POST, &env.auth("/auth/register"), None, Some(body)).await.0
    };
    let at_once = futures_util::future::join_all((0..8).map(|_| register())).await;
    let mut alone = Vec::new();
    for _ in 0..8 {
        alone.push(register().await);
    }
    let errors = |s: &[StatusCode]| s.iter().filter(|s| **s == StatusCode::INTERNAL_SERVER_ERROR).count();
    (errors(&at_once), errors(&alone))
}

#[tokio::test]
async fn race_500_fails_registrations_in_flight_together_and_none_alone() {
    let (together, alone) = races(&start(with(&["race-500=1"])).await).await;
    assert!(together > 0 && alone == 0, "{together} at once, {alone} alone");
    assert_eq!(races(&start(roomy()).await).await, (0, 0));
}

/// Two logins of one account at once: whether they got the same tokens.
async fn twins(env: &Env) -> bool {
    let who = env.register().await;
    let login = || async {
        let body = json!({"email": who.email, "password": who.password});
        env.call(Method::POST, &env.auth("/auth/login"), None, Some(body)).await.2
    };
    // Tokens carry whole seconds: try until both land in the same second.
    for _ in 0..5 {
        let (x, y) = futures_util::future::join(login(), login()).await;
        if claims_of(x["access_token"].as_str().unwrap())["iat"]
            == claims_of(y["access_token"].as_str().unwrap())["iat"]
        {
            return x["access_token"] == y["access_token"] && x["refresh_token"] == y["refresh_token"];
        }
    }
    panic!("no two logins in the same second in five tries");
}

#[tokio::test]
async fn no_jti_makes_tokens_of_the_same_second_identical() {
    proves!("no-jti", twins);
}

async fn drifts(env: &Env) -> bool {
    let who = env.register().await;
    let body = json!({"refresh_token": who.refresh});
    let (status, _, pair) = env.call(Method::POST, &env.auth("/auth/refresh"), None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let new = claims_of(pair["access_token"].as_str().unwrap());
    assert_eq!(new["sub"], claims_of(&who.access)["sub"]);
    new["email"] != json!(who.email)
}

#[tokio::test]
async fn refresh_identity_issues_refreshed_tokens_under_another_email() {
    proves!("refresh-identity", drifts);
}

/// An expired token and one without `exp`, at `POST /auth/validate`: their statuses.
async fn lax(env: &Env) -> bool {
    let who = env.register().await;
    let mut claims = claims_of(&who.access);
    claims["exp"] = json!(claims["iat"].as_u64().unwrap() - 60);
    let expired = crate::common::sign(&claims, crate::common::SECRET);
    claims.as_object_mut().unwrap().remove("exp");
    let no_exp = crate::common::sign(&claims, crate::common::SECRET);
    let validate = |token: String| async move {
        env.call(Method::POST, &env.auth("/auth/validate"), None, Some(json!({"token": token}))).await.0
    };
    let (expired, no_exp) = (validate(expired).await, validate(no_exp).await);
    match (expired, no_exp) {
        (StatusCode::OK, StatusCode::INTERNAL_SERVER_ERROR) => true,
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED) => false,
        other => panic!("neither lax nor strict: {other:?}"),
    }
}

#[tokio::test]
async fn lax_validate_accepts_expired_tokens_and_fails_on_one_without_exp() {
    proves!("lax-validate", lax);
}

/// Three messages posted at once: whether the quota's `used` fell short of them.
async fn loses_usage(env: &Env) -> bool {
    let who = env.register_as("pro").await;
    let thread = env.thread(&who, "usage").await;
    let path = format!("/api/threads/{thread}/messages");
    let posts = (0..3).map(|n| env.post(&path, &who.access, json!({"content": format!("m{n}")})));
    for (status, body) in futures_util::future::join_all(posts).await {
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, quota) = env.get("/api/v1/user/quota", &who.access).await;
    quota["used"].as_u64().unwrap() < 3
}

#[tokio::test]
async fn lost_usage_loses_messages_counted_at_once() {
    proves!("lost-usage", loses_usage);
}
