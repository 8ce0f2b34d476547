//! Active probes, interleaved with the load: a prober (a user of its own) takes a victim's
//! recently created thread and tries it: read, update, list and post messages, delete (one round
//! in ten, since a broken deployment then really deletes it), and chat to it over the WebSocket;
//! then reads it with no token and with a tampered token. Each must be refused (401, 403 or 404;
//! over the WebSocket an `error` frame `ACCESS_DENIED`). Allowed is the finding `bola`. Every
//! answer is read: one that is not allowed but holds the owner's data (its canary, or an id the
//! prober did not send), such as a 403 quoting the thread's title, is `error_leak`.
//!
//! A prober that gets rate limited registers a fresh account, so probes keep their rate against a
//! per-user limiter without measuring it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::SetUp;
use super::task::{Background, Ended, FINISH_WAIT};
use crate::client::{CallError, Failure, Identity, Login, Method, Netra, Slot, StatusCode};
use crate::findings::{FindingKind, curl};
use crate::isolation::{Isolation, Outcome};

/// The matrix's resource for the WebSocket probe (the WebSocket family's rows).
pub const WS_RESOURCE: &str = "thread (WebSocket)";

/// What the isolation probes find.
pub const FINDS: &[FindingKind] = &[FindingKind::Bola, FindingKind::ErrorLeak];

/// Who the probes act as: the families of isolation probes (each a row group of the matrix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::Display, strum::VariantArray)]
pub enum Family {
    /// Another user, with its own valid token, over HTTP.
    #[strum(to_string = "other user")]
    OtherUser,
    /// No token at all.
    #[strum(to_string = "no token")]
    NoToken,
    /// The prober's token with its signature tampered with.
    #[strum(to_string = "tampered token")]
    TamperedToken,
    /// Another user chatting to the victim's thread over the WebSocket.
    #[strum(to_string = "other user (WebSocket)")]
    WebSocket,
}

impl Family {
    /// The actor the matrix names: the WebSocket's is the other user too (the resource says it is
    /// the WebSocket).
    pub fn actor(self) -> Family {
        match self {
            Family::WebSocket => Family::OtherUser,
            other => other,
        }
    }
}

/// The isolation prober, running.
pub struct Prober(Background<SetUpReport>);

/// How the prober's set-up went: failed attempts, and why it never ran or stopped, if so.
#[derive(Debug, Default)]
pub struct SetUpReport {
    pub failures: u64,
    pub error: Option<String>,
}

impl Prober {
    /// Stops the prober after the round under way; returns how its set-up went. A probe still
    /// waiting on the target is cut after [`FINISH_WAIT`].
    pub async fn finish(self) -> SetUpReport {
        match self.0.finish(FINISH_WAIT).await {
            Ok(report) => report,
            // The probes made so far are in the matrix already.
            Err(Ended::Cut) => SetUpReport {
                error: Some("isolation probes: cut at the run's end, the target did not answer".into()),
                ..SetUpReport::default()
            },
            Err(Ended::Failed(e)) => SetUpReport {
                error: Some(format!("isolation probes: failed: {e}")),
                ..SetUpReport::default()
            },
        }
    }
}

pub fn spawn(netra: Netra, iso: Arc<Isolation>, every: Duration, run_tag: String) -> Prober {
    Prober(Background::spawn(move |mut shutdown| async move {
        let mut accounts = 0u32;
        // Retried for the whole run: a deployment failing it now may not later.
        let mut setup = SetUp::default();
        let report = |setup: SetUp, error: Option<String>| SetUpReport { failures: setup.failures, error };
        let first = setup.retry("isolation probes", &mut shutdown, |_| {
            accounts += 1;
            new_prober(&netra, &run_tag, accounts)
        });
        let Some(mut prober) = first.await else {
            let why = setup
                .last_error
                .clone()
                .unwrap_or_else(|| "isolation probes: the run ended before their set-up".into());
            return report(setup, Some(why));
        };
        let mut round = 0u64;
        loop {
            let go_on = shutdown.sleep(every).await;
            // A run shorter than `every` still gets its round, the first, at its end.
            if !go_on && round > 0 {
                break;
            }
            let Some((thread, owner)) = iso.victim() else { if go_on { continue } else { break } };
            round += 1;
            let limited = probe_round(&netra, &iso, &prober, &thread, owner, round).await;
            if !go_on {
                break;
            }
            if limited {
                let fresh = setup.retry("isolation probes", &mut shutdown, |_| {
                    accounts += 1;
                    new_prober(&netra, &run_tag, accounts)
                });
                match fresh.await {
                    Some(p) => prober = p,
                    None => break,
                }
            }
        }
        if round == 0 {
            return report(setup, Some("isolation probes: no user created a thread to probe".into()));
        }
        report(setup, None)
    }))
}

/// The prober's `account`-th account.
async fn new_prober(netra: &Netra, run_tag: &str, account: u32) -> Result<Login, CallError> {
    let email = format!("nl-{run_tag}-isolation-prober-{account}@example.com");
    // With existing accounts the prober has one; a rate-limited one waits for its bucket.
    let fresh = Identity::new(email, "netra-load prober", "enterprise");
    netra.provision(&netra.api().provisioning.identity(fresh, Slot::Prober(3))).await
}

/// What of a victim's the probes try.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "lowercase")]
enum Resource {
    Thread,
    Messages,
}

impl Resource {
    /// The endpoint in the reference dialect, as findings name it.
    fn template(self) -> &'static str {
        match self {
            Resource::Thread => "/api/threads/{id}",
            Resource::Messages => "/api/threads/{id}/messages",
        }
    }
}

/// One probe request: who tries what, and how.
struct Check<'a> {
    actor: Family,
    resource: Resource,
    action: &'static str,
    method: Method,
    body: Option<serde_json::Value>,
    token: Option<&'a str>,
}

/// One round against `thread` of `owner`; returns whether the prober was rate limited.
async fn probe_round(
    netra: &Netra,
    iso: &Isolation,
    prober: &Login,
    thread: &str,
    owner: u32,
    round: u64,
) -> bool {
    let mut tampered = prober.access.clone();
    let flipped = if tampered.ends_with('A') { 'B' } else { 'A' };
    tampered.pop();
    tampered.push(flipped);
    let other = Some(prober.access.as_str());
    let check =
        |actor, resource, action, method, body, token| Check { actor, resource, action, method, body, token };
    let title = || Some(json!({"title": "netra-load probe"}));
    let mut checks = vec![
        check(Family::OtherUser, Resource::Thread, "read", Method::GET, None, other),
        check(Family::OtherUser, Resource::Thread, "update", Method::PUT, title(), other),
        check(Family::OtherUser, Resource::Messages, "read", Method::GET, None, other),
        check(
            Family::OtherUser,
            Resource::Messages,
            "post",
            Method::POST,
            Some(json!({"content": "netra-load probe"})),
            other,
        ),
    ];
    // The same reads and writes with no token and with a tampered one: 401 expected.
    for (actor, token) in [(Family::NoToken, None), (Family::TamperedToken, Some(tampered.as_str()))] {
        checks.push(check(actor, Resource::Thread, "read", Method::GET, None, token));
        checks.push(check(actor, Resource::Thread, "update", Method::PUT, title(), token));
        checks.push(check(actor, Resource::Messages, "read", Method::GET, None, token));
    }
    if round % 10 == 0 {
        checks.push(check(Family::OtherUser, Resource::Thread, "delete", Method::DELETE, None, other));
    }
    let statuses: Vec<String> = netra.api().refused.iter().map(u16::to_string).collect();
    let expected = format!("refused ({})", statuses.join(", "));
    let mut limited = false;
    for Check { actor, resource, action, method, body, token } in checks {
        let p = match resource {
            Resource::Thread => netra.api().thread_path(thread),
            Resource::Messages => netra.api().messages_path(thread),
        };
        let mut req = netra.request(method.clone(), &netra.backend_url(&p));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = &body {
            req = req.json(body);
        }
        let answer = netra.fetch("isolation probe", req).await;
        let outcome = match &answer {
            Ok((s, _)) if netra.api().refused.contains(&s.as_u16()) => Outcome::Refused,
            // A 2xx is evidence only with a real answer (JSON, or nothing for a delete): a body
            // of garbage says nothing about access.
            Ok((s, body))
                if s.is_success()
                    && (body.is_empty() || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()) =>
            {
                Outcome::Allowed
            }
            Ok((StatusCode::TOO_MANY_REQUESTS, _)) => {
                limited = true;
                Outcome::Inconclusive
            }
            _ => Outcome::Inconclusive,
        };
        iso.tally(&actor.actor().to_string(), &resource.to_string(), action, &expected, outcome);
        let bearer = token.map(|_| match actor {
            Family::TamperedToken => "<tampered access token of the prober>",
            _ => "<access token of the prober>",
        });
        let sent = body.map(|b| b.to_string());
        let endpoint = format!("{method} {} ({actor})", resource.template());
        match &answer {
            Ok(_) if outcome == Outcome::Allowed => {
                let mut f = iso.stamp(FindingKind::Bola, &endpoint);
                f.users = vec!["the prober (attacker)".into(), format!("user {owner} (victim)")];
                f.expected = format!("{actor} {action} of user {owner}'s {resource} is {expected}");
                f.observed = format!("allowed: {method} {p} answered 2xx");
                f.reproducer = curl(method.as_str(), &netra.backend_url(&p), bearer, sent.as_deref());
                iso.report(f);
            }
            // Any other answer, a refusal's error body above all, must not carry the owner's
            // data (an allowed one is bola already).
            Ok((status, answered)) => {
                if let Some((whose, what)) = iso.foreign_data(answered, thread) {
                    let mut f = iso.stamp(FindingKind::ErrorLeak, &endpoint);
                    // The viewer first, then the owner whose data it was shown (as bola names them).
                    f.users = vec!["the prober (viewer)".into(), format!("user {whose} (owner)")];
                    f.expected =
                        format!("{actor} {action} of user {owner}'s {resource} is refused without its data");
                    f.observed = format!("{status}: the answer to {method} {p} holds {what} of user {whose}");
                    f.reproducer = curl(method.as_str(), &netra.backend_url(&p), bearer, sent.as_deref());
                    iso.report(f);
                }
            }
            Err(_) => {}
        }
    }
    // The first round, then one in five: a short run probes the WebSocket too.
    if round % 5 == 1 {
        ws_probe(netra, iso, prober, thread, owner).await;
    }
    limited
}

/// Chats to the victim's thread over the WebSocket: must get `ACCESS_DENIED`.
async fn ws_probe(netra: &Netra, iso: &Isolation, prober: &Login, thread: &str, owner: u32) {
    let outcome = match netra.chat(&prober.access).await {
        Err(_) => Outcome::Inconclusive,
        Ok(mut chat) => {
            let result = chat.turn("netra-load probe", Some(thread)).await;
            chat.close().await;
            match result {
                Err(e) if e.kind == Failure::WsAccessDenied => {
                    // The refusal must not carry the owner's data either.
                    if let Some((whose, what)) = iso.foreign_data(e.detail.as_bytes(), thread) {
                        let mut f = iso.stamp(FindingKind::ErrorLeak, "WS user_message (other user)");
                        f.users = vec!["the prober (viewer)".into(), format!("user {whose} (owner)")];
                        f.expected =
                            format!("a user_message to user {owner}'s thread is refused without its data");
                        f.observed = format!("error ACCESS_DENIED holds {what} of user {whose}");
                        f.reproducer = ws_reproducer(netra, thread);
                        iso.report(f);
                    }
                    Outcome::Refused
                }
                Ok(turn) if turn.thread_id == thread => Outcome::Allowed,
                _ => Outcome::Inconclusive,
            }
        }
    };
    let actor = Family::WebSocket.actor().to_string();
    iso.tally(&actor, WS_RESOURCE, "chat", "ACCESS_DENIED", outcome);
    if outcome == Outcome::Allowed {
        let mut f = iso.stamp(FindingKind::Bola, "WS user_message (other user)");
        f.users = vec!["the prober (attacker)".into(), format!("user {owner} (victim)")];
        f.expected = format!("a user_message to user {owner}'s thread gets error ACCESS_DENIED");
        f.observed = "the agent answered in the victim's thread".into();
        f.reproducer = ws_reproducer(netra, thread);
        iso.report(f);
    }
}

/// What to send over the WebSocket to chat to `thread` as the prober.
fn ws_reproducer(netra: &Netra, thread: &str) -> String {
    format!(
        "# over {} with <access token of the prober>: {{\"type\":\"user_message\",\"payload\":{{\"content\":\"x\",\"thread_id\":\"{thread}\"}}}}",
        netra.ws_url()
    )
}
