//! Journey token-refresh: the token lifecycle, where deployments break under load.
//!
//! register, login, use_access (a backend call), refresh (a new pair, different from the one it
//! replaces and of the same identity: [`super::hygiene`]), use_new_access (backend and a
//! WebSocket reconnect with the new token; the answer names the login's user), then
//! reuse_old_refresh: the retired token must be refused with 401 (accepted: finding
//! `refresh_reuse_accepted`) and, as the contract says, the refusal revokes the whole family, so
//! the new access token must then be refused too (still accepted: `reuse_family_not_revoked`).
//! The family being gone, relogin starts a second one for logout, and use_after_logout checks
//! that its access token is refused by the auth service and the backend and its refresh token by
//! refresh (any accepted: `logout_not_revoked`).
//!
//! When access tokens are short-lived (`expires_in` at most [`MAX_EXPIRY_WAIT_S`], e.g. an embedded
//! target started with `[target] access_ttl = "2s"`), the step expiry waits past the new access
//! token's expiry, checks that it is refused (accepted: `expired_token_accepted`) and that a
//! refresh recovers; otherwise that step is skipped.
//!
//! A fresh user per journey: its own rate-limit bucket, so the limiter is never what is measured.
//!
//! Against an auth service alone (no backend URL), tokens are used at the auth service's `me`
//! instead of the backend's profile, and the WebSocket reconnect is skipped (the report says so).

use std::time::Duration;

use serde_json::json;

use super::{Context, Step, Steps, User};
use crate::client::{CallError, Failure, Login, Method, Netra, StatusCode};
use crate::findings::{FindingKind, curl};

pub const STEPS: &[Step] = &[
    Step::Register,
    Step::Login,
    Step::UseAccess,
    Step::Refresh,
    Step::UseNewAccess,
    Step::Expiry,
    Step::ReuseOldRefresh,
    Step::Relogin,
    Step::Logout,
    Step::UseAfterLogout,
];

#[derive(Default)]
pub struct TokenRefresh {
    /// The pair a refresh gave, and the refresh token it retired.
    renewed: Option<Login>,
    retired_refresh: Option<String>,
}

impl Steps for TokenRefresh {
    /// The expiry step waits the new access token out, which only makes sense for short-lived
    /// ones.
    fn applies(&self, step: Step) -> bool {
        step != Step::Expiry || self.renewed.as_ref().and_then(|r| r.expires_in).is_some_and(waits_out)
    }

    async fn step(&mut self, ctx: &Context, netra: &Netra, user: &User, step: Step) -> Result<(), CallError> {
        match step {
            Step::UseAccess => netra.use_token(&user.logged_in()?.access).await.map(drop),
            Step::Refresh => {
                let old = user.logged_in()?;
                let new = netra.refresh(&old.refresh).await?;
                super::hygiene::refreshed(ctx, netra, user, old, &new)?;
                self.retired_refresh = Some(old.refresh.clone());
                self.renewed = Some(new);
                Ok(())
            }
            Step::UseNewAccess => {
                let access = self.renewed()?.access.clone();
                let answer = netra.use_token(&access).await?;
                super::hygiene::answered(ctx, netra, user, user.logged_in()?, &answer)?;
                // Without a backend there is no WebSocket to reconnect (said in the report).
                if netra.has_backend() {
                    netra.chat(&access).await?.close().await;
                }
                Ok(())
            }
            Step::Expiry => self.expiry(ctx, netra, user).await,
            Step::ReuseOldRefresh => self.reuse_old_refresh(ctx, netra, user).await,
            Step::Logout => netra.logout(&user.logged_in()?.access).await,
            Step::UseAfterLogout => use_after_logout(ctx, netra, user).await,
            other => Err(CallError::wrong(format!("token-refresh has no step {}", other.name()))),
        }
    }
}

impl TokenRefresh {
    fn renewed(&self) -> Result<&Login, CallError> {
        self.renewed.as_ref().ok_or_else(|| CallError::wrong("no refreshed pair"))
    }

    async fn expiry(&mut self, ctx: &Context, netra: &Netra, user: &User) -> Result<(), CallError> {
        let current = self.renewed()?.clone();
        // Tokens carry whole seconds: one more second makes sure `exp` has passed.
        let expires = current.received + Duration::from_secs(current.expires_in.unwrap_or(0) + 1);
        super::runner::wait_on_purpose(ctx, user, expires).await;
        let (endpoint, url, req) = netra.token_check(&current.access);
        match netra.status_of("expiry", req).await? {
            StatusCode::UNAUTHORIZED => {}
            s if s.is_success() => {
                let mut f = ctx.finding(FindingKind::ExpiredTokenAccepted, user.number, &endpoint);
                f.expected = "an access token past its `exp` is refused with 401".into();
                f.observed = format!("{s}: accepted a second after expiry");
                let bearer = format!("<expired access token of user {}>", user.number);
                f.reproducer = curl("GET", &url, Some(&bearer), None);
                ctx.findings.report(f);
            }
            other => return Err(unexpected("expiry", other)),
        }
        // A refresh recovers, and the family continues with the new pair.
        let next = netra.refresh(&current.refresh).await?;
        netra.use_token(&next.access).await?;
        self.renewed = Some(next);
        Ok(())
    }

    async fn reuse_old_refresh(
        &mut self,
        ctx: &Context,
        netra: &Netra,
        user: &User,
    ) -> Result<(), CallError> {
        let old = self.retired_refresh.clone().ok_or_else(|| CallError::wrong("no retired refresh token"))?;
        let req = netra.auth_request(Method::POST, &netra.api().refresh).json(&json!({"refresh_token": old}));
        let placeholder =
            format!(r#"{{"refresh_token": "<retired refresh token of user {}>"}}"#, user.number);
        let reproducer = curl("POST", &netra.auth_url(&netra.api().refresh), None, Some(&placeholder));
        match netra.status_of("reuse_old_refresh", req).await? {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::OK => {
                let mut f = ctx.finding(FindingKind::RefreshReuseAccepted, user.number, "POST /auth/refresh");
                f.expected = "a retired refresh token is refused with 401 and its family revoked".into();
                f.observed = "200: the retired refresh token was exchanged for a new pair".into();
                f.reproducer = format!("{reproducer}  # run twice with the same token");
                ctx.findings.report(f);
                return Ok(());
            }
            other => return Err(unexpected("reuse_old_refresh", other)),
        }
        // Reuse was detected: the whole family, the newest access token included, must be gone.
        let access = self.renewed()?.access.clone();
        let (_, url, req) = netra.token_check(&access);
        match netra.status_of("reuse_old_refresh", req).await? {
            StatusCode::UNAUTHORIZED => Ok(()),
            StatusCode::OK => {
                let mut f =
                    ctx.finding(FindingKind::ReuseFamilyNotRevoked, user.number, "POST /auth/refresh");
                f.expected = "after a refresh token is reused, every token of its family is refused".into();
                f.observed = "200: the family's newest access token still works".into();
                let bearer = format!("<new access token of user {}>", user.number);
                let check = curl("GET", &url, Some(&bearer), None);
                f.reproducer = format!("{reproducer} && {check}");
                ctx.findings.report(f);
                Ok(())
            }
            other => Err(unexpected("reuse_old_refresh", other)),
        }
    }
}

/// The longest access lifetime the journey waits out.
pub const MAX_EXPIRY_WAIT_S: u64 = 10;

/// Whether the expiry step waits out access tokens that live `ttl_s` seconds (and so checks
/// that an expired one is refused).
pub fn waits_out(ttl_s: u64) -> bool {
    ttl_s <= MAX_EXPIRY_WAIT_S
}

/// A status that is neither the accepted nor the refused one is a plain failure.
fn unexpected(what: &str, status: StatusCode) -> CallError {
    CallError::new(Failure::Status(status.as_u16()), format!("{what}: unexpected {status}"))
}

async fn use_after_logout(ctx: &Context, netra: &Netra, user: &User) -> Result<(), CallError> {
    let login = user.logged_in()?.clone();
    let mut checks = vec![
        ("GET /auth/verify", netra.auth_request(Method::GET, &netra.api().verify).bearer_auth(&login.access)),
        (
            "POST /auth/refresh",
            netra
                .auth_request(Method::POST, &netra.api().refresh)
                .json(&json!({"refresh_token": login.refresh})),
        ),
    ];
    if netra.has_backend() {
        let profile = netra.backend_request(Method::GET, &netra.api().profile, &login.access);
        checks.push(("GET /api/users/profile", profile));
    }
    let mut accepted = Vec::new();
    for (endpoint, req) in checks {
        match netra.status_of("use_after_logout", req).await? {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {}
            s if s.is_success() => accepted.push(endpoint),
            other => return Err(unexpected("use_after_logout", other)),
        }
    }
    if !accepted.is_empty() {
        let mut f = ctx.finding(FindingKind::LogoutNotRevoked, user.number, "POST /auth/logout");
        f.expected = "after logout the access token and its refresh family are refused (401)".into();
        f.observed = format!("accepted after logout: {}", accepted.join(", "));
        let bearer = format!("<access token of user {}>", user.number);
        f.reproducer = format!(
            "{} && {}",
            curl("POST", &netra.auth_url(&netra.api().logout), Some(&bearer), None),
            curl("GET", &netra.auth_url(&netra.api().verify), Some(&bearer), None)
        );
        ctx.findings.report(f);
    }
    Ok(())
}
