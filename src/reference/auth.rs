//! The auth service: register, login, refresh with rotation and reuse detection, logout,
//! validate, verify, me and health (reference dialect, `docs/netra-api.md`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::Dialect;
use super::error::{ApiError, ApiJson};
use super::limits::PlanTier;
use super::password;
use super::state::{Service, Shared};
use super::store::{User, new_id};
use super::tokens::{Claims, TokenPair, TokenType};

pub fn router(state: Shared) -> Router {
    let router = match state.config.dialect {
        Dialect::Reference | Dialect::Beta => Router::new().route("/auth/register", post(register)),
        // s1 has no register: users come from the dev login or from tokens the tester mints.
        Dialect::S1 => Router::new().route("/auth/dev/login", post(dev_login)),
    };
    router
        .route("/health", get(|| async { Json(json!({"status": "healthy", "service": "auth-service"})) }))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/validate", post(validate))
        .route("/auth/verify", get(verify))
        .route("/auth/me", get(me))
        .with_state(state)
}

#[derive(Deserialize)]
struct RegisterBody {
    email: String,
    password: String,
    name: Option<String>,
    plan_tier: Option<PlanTier>,
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize)]
struct ValidateBody {
    token: String,
}

fn pair_with_user(pair: TokenPair, user: &User) -> Value {
    let mut body = json!(pair);
    body["user"] = user.to_json();
    body
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces.
fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

async fn register(
    State(p): State<Shared>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !valid_email(&body.email) {
        return Err(ApiError::unprocessable("Invalid email address"));
    }
    if body.password.chars().count() < 8 {
        return Err(ApiError::unprocessable("Password must be at least 8 characters"));
    }
    if p.store.by_email(&body.email).is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, "User already exists"));
    }
    p.contend().await?;
    let hash = password::hash(&body.password);
    let name = body.name.unwrap_or_else(|| body.email.split('@').next().unwrap_or_default().to_owned());
    let plan = body.plan_tier.unwrap_or(PlanTier::Free);
    // A concurrent registration of the same email may have won while we hashed.
    let user = p
        .store
        .register(&body.email, name, plan, hash)
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "User already exists"))?;
    let pair = p.sessions.login(&p.jwt, &user);
    Ok((StatusCode::CREATED, Json(pair_with_user(pair, &user))))
}

async fn login(State(p): State<Shared>, ApiJson(body): ApiJson<LoginBody>) -> Result<Json<Value>, ApiError> {
    let invalid = || ApiError::unauthorized("Invalid credentials");
    let user = p.store.by_email(&body.email).ok_or_else(invalid)?;
    if !p.config.faults.any_password && !password::verify(&body.password, &user.password_hash) {
        return Err(invalid());
    }
    // The race is on the session's row: a refused login never gets that far.
    p.contend().await?;
    let pair = p.sessions.login(&p.jwt, &user);
    Ok(Json(pair_with_user(pair, &user)))
}

async fn refresh(
    State(p): State<Shared>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Json<TokenPair>, ApiError> {
    let claims = p.jwt.verify(&body.refresh_token, TokenType::Refresh)?;
    let user = claims
        .sub
        .parse()
        .ok()
        .and_then(|id| p.store.user(id))
        .ok_or_else(|| ApiError::unauthorized("Invalid token"))?;
    let pair = p.sessions.rotate(&p.jwt, &user, &claims, p.config.faults.refresh_reuse)?;
    Ok(Json(pair))
}

/// s1's dev login: every call a new user id, all with the email `dev@example.com`.
async fn dev_login(State(p): State<Shared>) -> Json<Value> {
    let user = p.store.add_user(new_id(), "dev@example.com", "Dev User".into(), PlanTier::Free);
    let pair = p.sessions.login(&p.jwt, &user);
    let mut body = pair_with_user(pair, &user);
    body["user"]["id"] = json!(user.id);
    Json(body)
}

async fn logout(State(p): State<Shared>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (_, claims) = p.authenticate_bearer(&headers, Service::Auth)?;
    // s1's logout revokes nothing: the token stays valid until it expires.
    if !p.config.faults.no_revoke && p.config.dialect != Dialect::S1 {
        p.sessions.revoke_family_of(&claims);
    }
    Ok(Json(json!({"success": true})))
}

async fn validate(
    State(p): State<Shared>,
    ApiJson(body): ApiJson<ValidateBody>,
) -> Result<Json<Value>, ApiError> {
    if p.config.faults.lax_validate {
        return lax_validate(&p, &body.token);
    }
    let (user, claims) =
        p.authenticate(&body.token, Service::Auth).map_err(|_| ApiError::unauthorized("Invalid token"))?;
    Ok(Json(json!({
        "valid": true,
        "user_id": user.id,
        "email": user.email,
        "permissions": claims.permissions.unwrap_or_default(),
        "expires_at": claims.exp,
    })))
}

/// The `lax-validate` fault: the signature, type and revocation are checked, the expiry is not,
/// and a token without `exp` trips the handler over (a 500, as an unguarded `claims["exp"]`
/// would).
fn lax_validate(p: &Shared, token: &str) -> Result<Json<Value>, ApiError> {
    let invalid = || ApiError::unauthorized("Invalid token");
    let claims = p.jwt.verify_ignoring_expiry(token).map_err(|_| invalid())?;
    if claims.get("exp").and_then(Value::as_u64).is_none() {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "KeyError: 'exp'"));
    }
    let claims: Claims = serde_json::from_value(claims).map_err(|_| invalid())?;
    if claims.token_type != TokenType::Access || p.sessions.is_revoked(&claims) {
        return Err(invalid());
    }
    Ok(Json(json!({
        "valid": true,
        "user_id": claims.sub,
        "email": claims.email,
        "permissions": claims.permissions.unwrap_or_default(),
        "expires_at": claims.exp,
    })))
}

async fn verify(State(p): State<Shared>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (user, _) = p.authenticate_bearer(&headers, Service::Auth)?;
    Ok(Json(json!({"valid": true, "user_id": user.id, "email": user.email})))
}

async fn me(State(p): State<Shared>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (user, _) = p.authenticate_bearer(&headers, Service::Auth)?;
    Ok(Json(user.to_json()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn emails_are_checked_for_shape() {
        for good in ["a@b.co", "first.last+tag@example.com"] {
            assert!(super::valid_email(good), "{good}");
        }
        for bad in ["", "plain", "@b.co", "a@b", "a@@b.co", "a b@c.co", "a@.co", "a@co."] {
            assert!(!super::valid_email(bad), "{bad}");
        }
    }
}
