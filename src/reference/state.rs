//! The state both services share (one per running target, never a static), and bearer-token
//! authentication, which the auth service, the backend and the WebSocket all use.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{HeaderMap, header};
use tokio::sync::watch;
use uuid::Uuid;

use super::agent::Connections;
use super::config::{Dialect, ReferenceConfig};
use super::error::ApiError;
use super::limits::PlanTier;
use super::limits::{Bucket, Decision};
use super::store::{Store, User, new_id};
use super::tokens::{Claims, Jwt, Sessions, TokenType};

pub struct Platform {
    pub config: ReferenceConfig,
    pub jwt: Jwt,
    pub sessions: Sessions,
    pub store: Store,
    pub connections: Connections,
    /// The one bucket of the `shared-rate-limit` fault; unused otherwise.
    shared_bucket: Mutex<Bucket>,
    /// Registrations and logins in flight: the `race-500` fault's contention.
    auth_in_flight: std::sync::atomic::AtomicUsize,
    /// When the target started: the `stall` fault's clock.
    pub started: Instant,
    /// Flips to `true` when the target shuts down; WebSocket sessions watch it.
    pub shutdown: watch::Receiver<bool>,
}

pub type Shared = Arc<Platform>;

/// Which service is checking a token: only the backend is weakened by the `weak-jwt` fault.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Auth,
    Backend,
}

impl Platform {
    pub fn new(config: ReferenceConfig, shutdown: watch::Receiver<bool>) -> Platform {
        Platform {
            jwt: Jwt::new(
                &config.jwt_secret,
                config.access_ttl,
                config.refresh_ttl,
                (config.dialect == Dialect::Beta).then_some("netra-platform"),
            ),
            sessions: Sessions::new(config.faults.no_jti, config.faults.refresh_identity),
            store: Store::new(config.burst),
            connections: Connections::default(),
            shared_bucket: Mutex::new(Bucket::full(config.burst)),
            auth_in_flight: Default::default(),
            started: Instant::now(),
            shutdown,
            config,
        }
    }

    /// The `race-500` fault, for a registration or a login: while another is in flight, the
    /// request fails with this probability as a race on a unique column would. It holds its
    /// "row" for a moment, as a transaction would; one at a time, nothing fails.
    pub async fn contend(&self) -> Result<(), ApiError> {
        use std::sync::atomic::Ordering;
        let p = self.config.faults.race_500;
        if p <= 0.0 {
            return Ok(());
        }
        struct Leave<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.auth_in_flight.fetch_add(1, Ordering::Relaxed);
        let _leave = Leave(&self.auth_in_flight);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        if self.auth_in_flight.load(Ordering::Relaxed) > 1 && super::guard::chance(p) {
            return Err(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "duplicate key value violates unique constraint \"sessions_pkey\"",
            ));
        }
        Ok(())
    }

    /// Counts one chat message of `user` against its daily quota; `false`: quota exceeded. Under
    /// the `lost-usage` fault the count is read, then written back a moment later: messages of
    /// one user counted at once lose updates (one at a time, none is lost).
    pub async fn count_message(&self, user: &User) -> bool {
        if !self.config.faults.lost_usage {
            return user.state().quota.try_use(user.plan);
        }
        let read = {
            let mut state = user.state();
            let used = state.quota.used();
            if user.plan.daily_limit().is_some_and(|limit| used >= limit) {
                return false;
            }
            used
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        user.state().quota.set_used(read);
        true
    }

    /// Verifies an access token and finds its user: signature, expiry, type, revocation, and
    /// that the user exists.
    pub fn authenticate(&self, token: &str, service: Service) -> Result<(Arc<User>, Claims), ApiError> {
        let faults = &self.config.faults;
        let weak = match service {
            Service::Backend => faults.weak_jwt,
            Service::Auth => faults.weak_auth_jwt,
        };
        let claims = if weak {
            self.jwt.verify_unsigned(token, TokenType::Access)?
        } else {
            self.jwt.verify(token, TokenType::Access)?
        };
        if self.sessions.is_revoked(&claims) {
            return Err(ApiError::unauthorized("Token revoked"));
        }
        let by_id = || claims.sub.parse::<Uuid>().ok().and_then(|id| self.store.user(id));
        let user = match self.config.dialect {
            Dialect::Reference | Dialect::Beta => {
                by_id().ok_or_else(|| ApiError::unauthorized("Invalid token"))?
            }
            // As the real s1 backend: users are found by email first, and a valid token of an
            // unknown user provisions it. Shared emails therefore collapse users into one.
            Dialect::S1 => self.store.by_email(&claims.email).or_else(by_id).unwrap_or_else(|| {
                let id = claims.sub.parse::<Uuid>().unwrap_or_else(|_| new_id());
                self.store.add_user(id, &claims.email, claims.email.clone(), PlanTier::Free)
            }),
        };
        Ok((user, claims))
    }

    /// Authenticates the `Authorization: Bearer` header.
    pub fn authenticate_bearer(
        &self,
        headers: &HeaderMap,
        service: Service,
    ) -> Result<(Arc<User>, Claims), ApiError> {
        let token = bearer(headers).ok_or_else(|| ApiError::unauthorized("Not authenticated"))?;
        self.authenticate(token, service)
    }

    /// Takes one token from the user's bucket (or the shared one under `shared-rate-limit`).
    /// `None` when rate limiting is off (`no-rate-limit`).
    pub fn rate_limit(&self, user: &User) -> Option<Decision> {
        let faults = &self.config.faults;
        if faults.no_rate_limit || self.config.dialect != Dialect::Reference {
            return None;
        }
        let (rate, burst, now) = (self.config.rate, self.config.burst, Instant::now());
        Some(if faults.shared_rate_limit {
            self.shared_bucket.lock().unwrap_or_else(|e| e.into_inner()).take(rate, burst, now)
        } else {
            user.state().bucket.take(rate, burst, now)
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
