//! Active probes, interleaved with the load: a prober (a user of its own) takes a victim's
//! recently created thread and tries it: read, update, list and post messages, delete (one round
//! in ten, since a broken deployment then really deletes it), and chat to it over the WebSocket;
//! then reads it with no token and with a tampered token. Each must be refused (401, 403 or 404;
//! over the WebSocket an `error` frame `ACCESS_DENIED`). Allowed is the finding `bola`.
//!
//! A prober that gets rate limited registers a fresh account, so probes keep their rate against a
//! per-user limiter without measuring it.

use std::sync::Arc;
use std::time::Duration;

use crate::client::{Method, StatusCode};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Isolation, Outcome};
use crate::client::{CallError, Identity, Login, Netra, Slot};
use crate::findings::curl;

pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<Option<String>>,
}

impl Running {
    /// Stops after the round under way; returns why probing could not start, if it could not.
    /// Stops the prober; a probe still waiting on the target is cut after
    /// [`crate::load::FINISH_WAIT`].
    pub async fn finish(mut self) -> Option<String> {
        let _ = self.stop.send(true);
        match tokio::time::timeout(crate::load::FINISH_WAIT, &mut self.task).await {
            Ok(outcome) => outcome.unwrap_or(None),
            Err(_) => {
                self.task.abort();
                Some("isolation probes: cut at the run's end, the target did not answer".into())
            }
        }
    }
}

pub fn spawn(netra: Netra, iso: Arc<Isolation>, every: Duration, run_tag: String) -> Running {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut accounts = 0u32;
        let mut prober = match new_prober(&netra, &run_tag, &mut accounts).await {
            Ok(p) => p,
            Err(e) => return Some(format!("isolation probes: cannot register a prober: {e}")),
        };
        let mut round = 0u64;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
            let Some((thread, owner)) = iso.victim() else { continue };
            round += 1;
            let limited = probe_round(&netra, &iso, &prober, &thread, owner, round).await;
            if limited {
                match new_prober(&netra, &run_tag, &mut accounts).await {
                    Ok(p) => prober = p,
                    Err(e) => return Some(format!("isolation probes: cannot register a new prober: {e}")),
                }
            }
        }
        None
    });
    Running { stop, task }
}

async fn new_prober(netra: &Netra, run_tag: &str, accounts: &mut u32) -> Result<Login, CallError> {
    *accounts += 1;
    let email = format!("nl-{run_tag}-isolation-prober-{accounts}@example.com");
    // With existing accounts the prober has one; a rate-limited one waits for its bucket.
    let fresh = Identity::new(email, "netra-load prober", "enterprise");
    netra.provision(&netra.api().provisioning.identity(fresh, Slot::Prober(3))).await
}

/// One probe request: who tries what, and how.
struct Check<'a> {
    actor: &'static str,
    resource: &'static str,
    action: &'static str,
    method: Method,
    path: String,
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
    let path = netra.api().thread_path(thread);
    let messages = netra.api().messages_path(thread);
    let mut tampered = prober.access.clone();
    let flipped = if tampered.ends_with('A') { 'B' } else { 'A' };
    tampered.pop();
    tampered.push(flipped);
    let other = Some(prober.access.as_str());
    let check = |actor, resource, action, method, path: &str, body, token| Check {
        actor,
        resource,
        action,
        method,
        path: path.to_owned(),
        body,
        token,
    };
    let mut checks = vec![
        check("other user", "thread", "read", Method::GET, &path, None, other),
        check(
            "other user",
            "thread",
            "update",
            Method::PUT,
            &path,
            Some(json!({"title": "netra-load probe"})),
            other,
        ),
        check("other user", "messages", "read", Method::GET, &messages, None, other),
        check(
            "other user",
            "messages",
            "post",
            Method::POST,
            &messages,
            Some(json!({"content": "netra-load probe"})),
            other,
        ),
    ];
    // The same reads and writes with no token and with a tampered one: 401 expected.
    for (actor, token) in [("no token", None), ("tampered token", Some(tampered.as_str()))] {
        checks.push(check(actor, "thread", "read", Method::GET, &path, None, token));
        checks.push(check(
            actor,
            "thread",
            "update",
            Method::PUT,
            &path,
            Some(json!({"title": "netra-load probe"})),
            token,
        ));
        checks.push(check(actor, "messages", "read", Method::GET, &messages, None, token));
    }
    if round % 10 == 0 {
        checks.push(check("other user", "thread", "delete", Method::DELETE, &path, None, other));
    }
    let statuses: Vec<String> = netra.api().refused.iter().map(u16::to_string).collect();
    let expected = format!("refused ({})", statuses.join(", "));
    let mut limited = false;
    for Check { actor, resource, action, method, path: p, body, token } in checks {
        let mut req = netra.request(method.clone(), &netra.backend_url(&p));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = &body {
            req = req.json(body);
        }
        let outcome = match netra.fetch("isolation probe", req).await {
            Ok((s, _)) if netra.api().refused.contains(&s.as_u16()) => Outcome::Refused,
            // A 2xx is evidence only with a real answer (JSON, or nothing for a delete): a body
            // of garbage says nothing about access.
            Ok((s, body))
                if s.is_success()
                    && (body.is_empty()
                        || serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok()) =>
            {
                Outcome::Allowed
            }
            Ok((StatusCode::TOO_MANY_REQUESTS, _)) => {
                limited = true;
                Outcome::Inconclusive
            }
            _ => Outcome::Inconclusive,
        };
        iso.tally(actor, resource, action, &expected, outcome);
        if outcome == Outcome::Allowed {
            let endpoint = format!(
                "{method} /api/threads/{{id}}{}",
                if resource == "messages" { "/messages" } else { "" }
            );
            let mut f = iso.stamp("bola", &format!("{endpoint} ({actor})"));
            f.users = vec!["the prober".into(), format!("user {owner}")];
            f.expected = format!("{actor} {action} of user {owner}'s {resource} is {expected}");
            f.observed = format!("allowed: {method} {p} answered 2xx");
            let bearer = token.map(|_| match actor {
                "tampered token" => "<tampered access token of the prober>",
                _ => "<access token of the prober>",
            });
            let body = body.map(|b| b.to_string());
            f.reproducer = curl(method.as_str(), &netra.backend_url(&p), bearer, body.as_deref());
            iso.report(f);
        }
    }
    if round % 5 == 0 {
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
                Err(e) if e.kind == "ws_access_denied" => Outcome::Refused,
                Ok(turn) if turn.thread_id == thread => Outcome::Allowed,
                _ => Outcome::Inconclusive,
            }
        }
    };
    iso.tally("other user", "thread (WebSocket)", "chat", "ACCESS_DENIED", outcome);
    if outcome == Outcome::Allowed {
        let mut f = iso.stamp("bola", "WS user_message (other user)");
        f.users = vec!["the prober".into(), format!("user {owner}")];
        f.expected = format!("a user_message to user {owner}'s thread gets error ACCESS_DENIED");
        f.observed = "the agent answered in the victim's thread".into();
        f.reproducer = format!(
            "# over {} with <access token of the prober>: {{\"type\":\"user_message\",\"payload\":{{\"content\":\"x\",\"thread_id\":\"{thread}\"}}}}",
            netra.ws_url()
        );
        iso.report(f);
    }
}
