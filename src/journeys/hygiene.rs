//! Token hygiene, checked by token-refresh on every refresh: the new pair differs from the one
//! it replaces (`token_collision` when it repeats it for carrying nothing unique, no `jti`;
//! a plain failure when the deployment did not rotate at all), and the refreshed access token,
//! and the deployment's answer to it, keep the login's identity (`identity_drift`: `sub` and
//! `email` compared where both carry them, emails whatever their case).

use serde_json::Value;

use super::{Context, User};
use crate::client::{CallError, Login, Netra};
use crate::findings::{FindingKind, curl};
use crate::probes::jwt::claims_of;

/// Checks a refresh's `new` pair against the `old` one it replaced; a finding is reported and
/// the step fails (what follows would test a pair that is not new).
pub fn refreshed(
    ctx: &Context,
    netra: &Netra,
    user: &User,
    old: &Login,
    new: &Login,
) -> Result<(), CallError> {
    let (before, after) = (claims_of(&old.access), claims_of(&new.access));
    let repeated = [(new.refresh == old.refresh, "refresh"), (new.access == old.access, "access")];
    if let Some((_, which)) = repeated.iter().find(|(same, _)| *same) {
        // The same token again: issued in the same second and told apart by nothing (no
        // `jti`), it is a collision; otherwise the deployment did not rotate at all.
        let token = if *which == "refresh" { &old.refresh } else { &old.access };
        let unmarked = claims_of(token).is_some_and(|c| c.get("jti").is_none_or(|j| j.as_str() == Some("")));
        // Within about a second of the pair it repeats: tokens of whole seconds could be equal.
        let same_second = old.received.elapsed() < std::time::Duration::from_secs(2);
        let collided = unmarked && same_second;
        if !collided {
            return Err(CallError::wrong(format!("refresh: the {which} token was not rotated")));
        }
        let mut f =
            ctx.finding(FindingKind::TokenCollision, user.number, &format!("POST {}", netra.api().refresh));
        f.expected = "a refresh issues a new pair, different from the one it replaces".into();
        f.observed = format!(
            "the refreshed {which} token is byte-identical to the one it replaces (issued within the same second: nothing unique, such as `jti`, in it)"
        );
        f.reproducer = refresh_reproducer(netra, user);
        ctx.findings.report(f);
        return Err(CallError::wrong(format!(
            "refresh: the new {which} token repeats the old one (token_collision)"
        )));
    }
    if let (Some(before), Some(after)) = (&before, &after) {
        for claim in ["sub", "email"] {
            // Compared where both carry it (a claim left out is not another identity).
            let (was, is) =
                (before.get(claim).and_then(Value::as_str), after.get(claim).and_then(Value::as_str));
            if let (Some(was), Some(is)) = (was, is)
                && !was.eq_ignore_ascii_case(is)
            {
                drift(
                    ctx,
                    netra,
                    user,
                    &format!("the refreshed access token's `{claim}` is not the login's"),
                );
                return Err(CallError::wrong(format!(
                    "refresh: the new access token's `{claim}` changed (identity_drift)"
                )));
            }
        }
    }
    Ok(())
}

/// Checks what the deployment answered to the refreshed access token (its profile, or `me`):
/// the user it names is the login's.
pub fn answered(
    ctx: &Context,
    netra: &Netra,
    user: &User,
    login: &Login,
    answer: &Value,
) -> Result<(), CallError> {
    let claims = claims_of(&login.access);
    let email = claims.as_ref().and_then(|c| c.get("email")).and_then(Value::as_str);
    let said_email = answer.get("email").and_then(Value::as_str);
    // The backend's profile names its user `user_id`; the auth service's `me`, `id`.
    let id_field = if netra.has_backend() { "user_id" } else { "id" };
    let said_id = answer.get(id_field).and_then(Value::as_str);
    // Dev-login users share one email, by which a deployment may find them (s1 does): the answer
    // may then name the first of them. The email is their identity, and is compared.
    let shared_email = matches!(netra.api().provisioning, crate::client::Provisioning::DevLogin);
    let id_drifted =
        !shared_email && !login.user_id.is_empty() && said_id.is_some_and(|id| id != login.user_id);
    let email_drifted = matches!((email, said_email), (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b));
    if id_drifted || email_drifted {
        let what = if id_drifted { "id" } else { "email" };
        drift(
            ctx,
            netra,
            user,
            &format!("the deployment's answer to the refreshed access token names another user {what}"),
        );
        return Err(CallError::wrong(format!(
            "use_new_access: the answer names another user {what} (identity_drift)"
        )));
    }
    Ok(())
}

fn drift(ctx: &Context, netra: &Netra, user: &User, observed: &str) {
    let mut f =
        ctx.finding(FindingKind::IdentityDrift, user.number, &format!("POST {}", netra.api().refresh));
    f.expected =
        "a refreshed access token keeps the login's identity (`sub`, `email`), and the deployment agrees"
            .into();
    f.observed = observed.to_owned();
    let api = netra.api();
    let url = if netra.has_backend() { netra.backend_url(&api.profile) } else { netra.auth_url(&api.me) };
    let bearer = format!("<refreshed access token of user {}>", user.number);
    f.reproducer =
        format!("{} && {}", refresh_reproducer(netra, user), curl("GET", &url, Some(&bearer), None));
    ctx.findings.report(f);
}

fn refresh_reproducer(netra: &Netra, user: &User) -> String {
    let body = format!(r#"{{"refresh_token": "<refresh token of user {}>"}}"#, user.number);
    curl("POST", &netra.auth_url(&netra.api().refresh), None, Some(&body))
}
