//! JWTs and token families.
//!
//! Tokens are HS256 with the contract's claims. Every login starts a *family*; each refresh
//! retires the presented refresh token and issues a new pair in the same family. Presenting a
//! retired refresh token again revokes the whole family (access tokens included), and so does
//! logout. The server keeps `jti -> family` so that revocation is one lookup per request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::{DashMap, DashSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::config::Secret;
use super::store::{User, new_id};

pub const ISSUER: &str = "netra-auth-service";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub iat: u64,
    pub exp: u64,
    /// Absent from tokens minted by testers of the s1 dialect (such tokens have no family) and
    /// from every token under the `no-jti` fault.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    pub token_type: TokenType,
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// The beta dialect's audience and environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// Why a token was refused; the text is what clients see in `detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    Invalid,
    Expired,
    WrongType,
    Revoked,
    Reused,
}

impl TokenError {
    pub fn detail(self) -> &'static str {
        match self {
            TokenError::Invalid => "Invalid token",
            TokenError::Expired => "Token expired",
            TokenError::WrongType => "Invalid token type",
            TokenError::Revoked => "Token revoked",
            TokenError::Reused => "Refresh token reuse detected; session revoked",
        }
    }
}

/// The pair handed out by register, login and refresh.
#[derive(Clone, Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Signs and checks tokens with the shared secret. Keys are built once.
pub struct Jwt {
    audience: Option<&'static str>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl Jwt {
    /// `audience`: the `aud` every token carries and must carry (the beta dialect's
    /// `netra-platform`); `None`: tokens carry none, and one that has an `aud` is refused.
    pub fn new(
        secret: &Secret,
        access_ttl: Duration,
        refresh_ttl: Duration,
        audience: Option<&'static str>,
    ) -> Jwt {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            }
            None => validation.set_required_spec_claims(&["exp", "sub", "iss"]),
        }
        Jwt {
            audience,
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// A token for `user` (under `email`, which is the user's unless a fault says otherwise) and
    /// its issue second.
    fn sign(&self, user: &User, email: &str, token_type: TokenType, jti: String) -> (String, u64) {
        let iat = now_secs();
        let ttl = match token_type {
            TokenType::Access => self.access_ttl,
            TokenType::Refresh => self.refresh_ttl,
        };
        let claims = Claims {
            sub: user.id.to_string(),
            email: email.to_owned(),
            iat,
            exp: iat + ttl.as_secs(),
            jti,
            token_type,
            iss: ISSUER.to_owned(),
            permissions: (token_type == TokenType::Access).then(|| user.plan.permissions()),
            aud: self.audience.map(str::to_owned),
            env: self.audience.map(|_| "staging".to_owned()),
        };
        // HS256 signing of a serialisable struct cannot fail.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing never fails");
        (token, iat)
    }

    /// The `lax-validate` fault: the signature is checked, the expiry is not, and the claims are
    /// read as they come (one without `exp` is the caller's to trip over).
    pub fn verify_ignoring_expiry(&self, token: &str) -> Result<serde_json::Value, TokenError> {
        let mut lax = self.validation.clone();
        lax.validate_exp = false;
        lax.required_spec_claims.clear();
        jsonwebtoken::decode::<serde_json::Value>(token, &self.decoding, &lax)
            .map(|t| t.claims)
            .map_err(|_| TokenError::Invalid)
    }

    /// Checks signature (HS256 only, so `alg: none` is refused), issuer, expiry and type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?
            .claims;
        if claims.token_type != expected {
            return Err(TokenError::WrongType);
        }
        Ok(claims)
    }

    /// The `weak-jwt` fault: reads the claims without looking at the header or the signature,
    /// so any algorithm (including `none`) and any signature pass. Expiry and type still count.
    pub fn verify_unsigned(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        let claims: Claims =
            jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|_| TokenError::Invalid)?;
        if claims.exp <= now_secs() {
            return Err(TokenError::Expired);
        }
        if claims.token_type != expected {
            return Err(TokenError::WrongType);
        }
        Ok(claims)
    }
}

struct Issued {
    family: Uuid,
    /// Set on a refresh token once it has been exchanged.
    retired: bool,
}

/// Token families and their revocation: sharded maps, no lock shared by all requests.
#[derive(Default)]
pub struct Sessions {
    issued: DashMap<String, Issued>,
    revoked: DashSet<Uuid>,
    /// The `no-jti` fault: tokens carry no `jti` and are known by user, type and issue second.
    no_jti: bool,
    /// The `refresh-identity` fault: a refresh issues its access token under another email.
    drift: bool,
}

/// The key a token's session is kept under: its `jti`, or (without one) its user, type and
/// issue second, as a server keyed on the token's claims would.
fn key(claims: &Claims) -> String {
    if claims.jti.is_empty() {
        format!("{}:{:?}:{}", claims.sub, claims.token_type, claims.iat)
    } else {
        claims.jti.clone()
    }
}

impl Sessions {
    /// With the `no-jti` and `refresh-identity` faults as given.
    pub fn new(no_jti: bool, drift: bool) -> Sessions {
        Sessions { no_jti, drift, ..Sessions::default() }
    }

    /// Starts a new family (a login or registration) and returns its first pair.
    pub fn login(&self, jwt: &Jwt, user: &User) -> TokenPair {
        self.issue(jwt, user, &user.email, new_id())
    }

    fn issue(&self, jwt: &Jwt, user: &User, email: &str, family: Uuid) -> TokenPair {
        let one = |token_type| {
            let jti = if self.no_jti { String::new() } else { new_id().to_string() };
            let (token, iat) = jwt.sign(user, email, token_type, jti.clone());
            let claims_key = if self.no_jti { format!("{}:{token_type:?}:{iat}", user.id) } else { jti };
            self.issued.insert(claims_key, Issued { family, retired: false });
            token
        };
        let (access_token, refresh_token) = (one(TokenType::Access), one(TokenType::Refresh));
        TokenPair {
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in: jwt.access_ttl().as_secs(),
        }
    }

    /// Whether this token's family was revoked. Tokens this target did not issue have no family
    /// and are judged by their signature alone.
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        self.issued.get(&key(claims)).is_some_and(|t| self.revoked.contains(&t.family))
    }

    /// Exchanges a verified refresh token for a new pair. With `allow_reuse` (the
    /// `refresh-reuse` fault) a retired token keeps working and nothing is revoked.
    pub fn rotate(
        &self,
        jwt: &Jwt,
        user: &User,
        claims: &Claims,
        allow_reuse: bool,
    ) -> Result<TokenPair, TokenError> {
        let family = {
            // The entry's shard lock makes check-and-retire atomic: of two concurrent refreshes
            // with one token, exactly one wins.
            let mut entry = self.issued.get_mut(&key(claims)).ok_or(TokenError::Invalid)?;
            if self.revoked.contains(&entry.family) {
                return Err(TokenError::Revoked);
            }
            if entry.retired && !allow_reuse {
                let family = entry.family;
                drop(entry);
                self.revoked.insert(family);
                return Err(TokenError::Reused);
            }
            entry.retired = true;
            entry.family
        };
        let email = if self.drift { format!("drift-{}", user.email) } else { user.email.clone() };
        Ok(self.issue(jwt, user, &email, family))
    }

    /// Revokes the family of this token (logout).
    pub fn revoke_family_of(&self, claims: &Claims) {
        let family = self.issued.get(&key(claims)).map(|t| t.family);
        if let Some(family) = family {
            self.revoked.insert(family);
        }
    }
}
