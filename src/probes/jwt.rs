//! JWT hardening probes: forged, expired, mistyped and revoked tokens, each sent to every
//! endpoint of the dialect that takes a token: the auth service's `GET /auth/verify`,
//! `GET /auth/me` and `POST /auth/validate` (the token in the body; a 200 saying `"valid":
//! false` is a refusal too), the backend (`GET /api/users/profile`) and the WebSocket upgrade;
//! and a login to the prober's own account with a wrong password (`credential_accepted` when it
//! opens it).
//! Each must be refused (401 or 403). Accepted is the finding `jwt_accepted` (or, for a token
//! revoked by logout, `logout_not_revoked`); a 5xx is `jwt_server_error`: a bad token must not
//! crash the server. Which probes a run exercises is decided before it starts (`config`): those
//! that mint with the signing secret need it, `refresh as access` needs refresh tokens.

use std::collections::BTreeMap;

use crate::client::{Method, Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{Failure, Login, Netra};
use crate::findings::{Finding, FindingKind, FindingSink, curl};

/// The JWT probes: each a forged, expired, mistyped or revoked token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::Display, strum::VariantArray)]
pub enum JwtProbe {
    #[strum(to_string = "alg none")]
    AlgNone,
    #[strum(to_string = "wrong key")]
    WrongKey,
    #[strum(to_string = "tampered sub")]
    TamperedSub,
    #[strum(to_string = "refresh as access")]
    RefreshAsAccess,
    #[strum(to_string = "revoked by logout")]
    RevokedByLogout,
    #[strum(to_string = "no Bearer prefix")]
    NoBearerPrefix,
    #[strum(to_string = "expired")]
    Expired,
    #[strum(to_string = "wrong iss")]
    WrongIss,
    #[strum(to_string = "unexpected aud")]
    UnexpectedAud,
    #[strum(to_string = "no exp")]
    NoExp,
    /// Not a token: a login to the prober's own account with a wrong password.
    #[strum(to_string = "wrong password")]
    WrongPassword,
    /// Not a token: two logins of the prober's own account at once, whose pairs must differ and
    /// each refresh once.
    #[strum(to_string = "twin logins")]
    TwinLogins,
}

/// What a probe needs besides a live user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requires {
    Nothing,
    /// The signing secret, to mint its token.
    Secret,
    /// A refresh token (minted users have none).
    RefreshToken,
    /// Users who log in with a password (not minted or dev-login ones).
    Password,
}

impl JwtProbe {
    pub fn requires(self) -> Requires {
        match self {
            JwtProbe::Expired | JwtProbe::WrongIss | JwtProbe::UnexpectedAud | JwtProbe::NoExp => {
                Requires::Secret
            }
            JwtProbe::RefreshAsAccess => Requires::RefreshToken,
            JwtProbe::WrongPassword | JwtProbe::TwinLogins => Requires::Password,
            _ => Requires::Nothing,
        }
    }

    /// The finding when the token is accepted.
    pub fn kind(self) -> FindingKind {
        match self {
            JwtProbe::RevokedByLogout => FindingKind::LogoutNotRevoked,
            JwtProbe::WrongPassword => FindingKind::CredentialAccepted,
            JwtProbe::TwinLogins => FindingKind::TokenCollision,
            _ => FindingKind::JwtAccepted,
        }
    }

    /// Whether the probe logs in rather than sending a token.
    pub fn logs_in(self) -> bool {
        matches!(self, JwtProbe::WrongPassword | JwtProbe::TwinLogins)
    }

    /// What the probe can find: its token accepted, or a server answering it with a 5xx (the
    /// twin logins are valid requests: their 5xx are the concurrency detector's).
    pub fn finds(self) -> &'static [FindingKind] {
        match self {
            JwtProbe::RevokedByLogout => &[FindingKind::LogoutNotRevoked, FindingKind::JwtServerError],
            JwtProbe::WrongPassword => &[FindingKind::CredentialAccepted, FindingKind::JwtServerError],
            JwtProbe::TwinLogins => &[FindingKind::TokenCollision],
            _ => &[FindingKind::JwtAccepted, FindingKind::JwtServerError],
        }
    }
}

/// One forged or unusable token and how it was made.
pub struct Probe {
    pub probe: JwtProbe,
    pub token: String,
    /// Sent without the `Bearer ` prefix.
    pub raw_header: bool,
    /// For `wrong password`: the account's email and the wrong password to log in with; for
    /// `twin logins`, the right one.
    pub login: Option<(String, String)>,
}

/// The users the probes start from: `a` holds a live pair (and its account's email and password,
/// when it has one), `revoked` a pair logged out, `b` is the other user whose id a tampered token
/// claims.
pub struct Subjects {
    pub a: Login,
    pub a_account: Option<(String, String)>,
    pub b: Login,
    pub revoked: Login,
}

/// A JWT's claims, read without checking anything (`None`: not a JWT).
pub fn claims_of(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key)
        .expect("HS256 signing of JSON claims cannot fail")
}

/// The tokens of `which`, the probes the run exercises (the plan gives those needing the secret
/// only when it is known; without it they would be signed with an empty key).
pub fn probes(s: &Subjects, secret: Option<&str>, which: &[JwtProbe]) -> Vec<Probe> {
    let claims = claims_of(&s.a.access).unwrap_or_else(|| json!({}));
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let mut parts = s.a.access.splitn(3, '.');
    let (header, _, signature) = (parts.next().unwrap_or(""), parts.next(), parts.next().unwrap_or(""));
    let key = secret.unwrap_or_default().as_bytes();
    let now = claims["iat"].as_u64().unwrap_or(0);
    which
        .iter()
        .map(|&probe| {
            let token = match probe {
                JwtProbe::AlgNone => {
                    format!("{}.{}.", enc(&json!({"alg": "none", "typ": "JWT"})), enc(&claims))
                }
                JwtProbe::WrongKey => sign(&claims, b"netra-load: not the signing key"),
                JwtProbe::TamperedSub => {
                    format!("{header}.{}.{signature}", enc(&with("sub", json!(s.b.user_id))))
                }
                JwtProbe::RefreshAsAccess => s.a.refresh.clone(),
                JwtProbe::RevokedByLogout => s.revoked.access.clone(),
                JwtProbe::NoBearerPrefix => s.a.access.clone(),
                JwtProbe::Expired => sign(&with("exp", json!(now.saturating_sub(60))), key),
                JwtProbe::WrongIss => sign(&with("iss", json!("netra-load-forger")), key),
                JwtProbe::UnexpectedAud => sign(&with("aud", json!("someone-else")), key),
                JwtProbe::NoExp => {
                    let mut no_exp = claims.clone();
                    if let Some(map) = no_exp.as_object_mut() {
                        map.remove("exp");
                    }
                    sign(&no_exp, key)
                }
                // Not a token: the round logs in instead.
                JwtProbe::WrongPassword | JwtProbe::TwinLogins => String::new(),
            };
            let login = s.a_account.as_ref().and_then(|(email, password)| match probe {
                JwtProbe::WrongPassword => Some((email.clone(), format!("{password}-wrong"))),
                JwtProbe::TwinLogins => Some((email.clone(), password.clone())),
                _ => None,
            });
            Probe { probe, token, raw_header: probe == JwtProbe::NoBearerPrefix, login }
        })
        // Logins need an account with a password (the plan runs them only then).
        .filter(|p| !p.probe.logs_in() || p.login.is_some())
        .collect()
}

/// Where a probe is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Surface {
    Auth,
    Me,
    Validate,
    Backend,
    WebSocket,
    /// The login, for `wrong password`.
    Login,
}

impl Surface {
    fn endpoint(self, netra: &Netra) -> String {
        let api = netra.api();
        match self {
            Surface::Auth => format!("GET {}", api.verify),
            Surface::Me => format!("GET {}", api.me),
            Surface::Validate => format!("POST {}", api.validate),
            Surface::Backend => format!("GET {}", api.profile),
            Surface::WebSocket => format!("GET {} (upgrade)", api.ws_path),
            Surface::Login => format!("POST {}", api.login),
        }
    }
}

/// The auth service's surfaces, and the backend's when there is one.
const AUTH: &[Surface] = &[Surface::Auth, Surface::Me, Surface::Validate];
const ALL: &[Surface] =
    &[Surface::Auth, Surface::Me, Surface::Validate, Surface::Backend, Surface::WebSocket];

fn url(netra: &Netra, surface: Surface) -> String {
    match surface {
        Surface::Auth => netra.auth_url(&netra.api().verify),
        Surface::Me => netra.auth_url(&netra.api().me),
        Surface::Validate => netra.auth_url(&netra.api().validate),
        Surface::Backend => netra.backend_url(&netra.api().profile),
        Surface::WebSocket => netra.ws_url().to_owned(),
        Surface::Login => netra.auth_url(&netra.api().login),
    }
}

fn request<'a>(netra: &'a Netra, surface: Surface, probe: &Probe) -> Request<'a> {
    let value = if probe.raw_header { probe.token.clone() } else { format!("Bearer {}", probe.token) };
    netra.request(Method::GET, &url(netra, surface)).header("authorization", value)
}

/// What one probe got on one surface.
pub enum Verdict {
    Refused,
    Accepted(String),
    ServerError(String),
    /// Neither: a transport failure or an unexpected status, not evidence either way.
    Inconclusive,
}

/// What a login failure says for a login probe.
fn login_refused(e: &crate::client::CallError) -> Verdict {
    match e.kind {
        Failure::Status(400 | 401 | 403 | 422) => Verdict::Refused,
        Failure::Status(s @ 500..=599) => Verdict::ServerError(format!("{s}")),
        _ => Verdict::Inconclusive,
    }
}

/// Two logins of one account at once: their pairs must differ, and each must refresh once
/// (`Accepted` here is the collision found, `Refused` the check held).
async fn twin_logins(netra: &Netra, email: &str, password: &str) -> Verdict {
    let (x, y) = futures_util::future::join(netra.login(email, password), netra.login(email, password)).await;
    // A failure of either is no evidence here (a 5xx of a valid request is a concurrency
    // defect, for the replays to judge).
    let (Ok(x), Ok(y)) = (x, y) else { return Verdict::Inconclusive };
    if x.access == y.access || x.refresh == y.refresh {
        let which = if x.access == y.access { "access" } else { "refresh" };
        return Verdict::Accepted(format!("both logins got the same {which} token"));
    }
    // Each pair refreshes once. One refused is no collision (a deployment may keep one session
    // per account): the check then tells nothing.
    let (rx, ry) = futures_util::future::join(netra.refresh(&x.refresh), netra.refresh(&y.refresh)).await;
    match (rx, ry) {
        (Ok(_), Ok(_)) => Verdict::Refused,
        _ => Verdict::Inconclusive,
    }
}

async fn try_probe(netra: &Netra, surface: Surface, probe: &Probe) -> Verdict {
    if let (Surface::Login, JwtProbe::TwinLogins, Some((email, password))) =
        (surface, probe.probe, &probe.login)
    {
        return twin_logins(netra, email, password).await;
    }
    if let (Surface::Login, Some((email, wrong))) = (surface, &probe.login) {
        return match netra.login(email, wrong).await {
            Ok(_) => Verdict::Accepted("logged in with a wrong password".into()),
            Err(e) => login_refused(&e),
        };
    }
    if let Surface::WebSocket = surface {
        if probe.raw_header {
            return Verdict::Inconclusive; // the WebSocket client always sends `Bearer`
        }
        return match netra.chat(&probe.token).await {
            Ok(session) => {
                session.close().await;
                Verdict::Accepted("the upgrade succeeded".into())
            }
            Err(e) if matches!(e.kind, Failure::WsStatus(401 | 403) | Failure::WsRefused) => Verdict::Refused,
            Err(e) if matches!(e.kind, Failure::WsStatus(500..=599)) => {
                Verdict::ServerError(e.kind.to_string())
            }
            Err(_) => Verdict::Inconclusive,
        };
    }
    if let Surface::Validate = surface {
        let req = netra.request(Method::POST, &url(netra, surface)).json(&json!({"token": probe.token}));
        return match netra.fetch("jwt probe", req).await {
            Ok((StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _)) => Verdict::Refused,
            // A validation may answer 200 and say whether the token is valid (`valid`, or
            // `active` as RFC 7662 does); a 200 that says neither is no evidence.
            Ok((s, body)) if s.is_success() => {
                let said: Option<Value> = serde_json::from_slice(&body).ok();
                let valid = said.as_ref().and_then(|v| v.get("valid").or_else(|| v.get("active")));
                match valid.and_then(Value::as_bool) {
                    Some(false) => Verdict::Refused,
                    Some(true) => Verdict::Accepted(format!("{s}, valid")),
                    None => Verdict::Inconclusive,
                }
            }
            Ok((s, _)) if s.is_server_error() => Verdict::ServerError(format!("{s}")),
            _ => Verdict::Inconclusive,
        };
    }
    match netra.status_of("jwt probe", request(netra, surface, probe)).await {
        Ok(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Verdict::Refused,
        Ok(s) if s.is_success() => Verdict::Accepted(format!("{s}")),
        Ok(s) if s.is_server_error() => Verdict::ServerError(format!("{s}")),
        _ => Verdict::Inconclusive,
    }
}

/// What one probe got, over the rounds and surfaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Sendings that got a clear answer (refused, accepted or a server error).
    pub sent: u64,
    pub accepted: u64,
    pub server_errors: u64,
    /// Neither: a transport failure or an unexpected status, not evidence either way.
    pub inconclusive: u64,
}

/// Sends every probe to every surface, adding what each got to `tallies` (by probe name) and
/// handing them to `publish` after every sending (a round cut at the run's end keeps what it
/// sent); returns the findings (stamped by `sink`, not yet reported).
pub async fn round(
    netra: &Netra,
    probes: &[Probe],
    sink: &FindingSink,
    tallies: &mut BTreeMap<String, Tally>,
    publish: &(dyn Fn(&BTreeMap<String, Tally>) + Send + Sync),
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for probe in probes {
        let surfaces: &[Surface] = if probe.probe.logs_in() {
            &[Surface::Login]
        } else if netra.has_backend() {
            ALL
        } else {
            AUTH
        };
        // A token in a body has no `Bearer` prefix to leave out.
        let sent = surfaces.iter().filter(|s| !(probe.raw_header && **s == Surface::Validate));
        for &surface in sent {
            let verdict = try_probe(netra, surface, probe).await;
            let tally = tallies.entry(probe.probe.to_string()).or_default();
            match verdict {
                Verdict::Inconclusive => tally.inconclusive += 1,
                Verdict::Accepted(_) => (tally.sent, tally.accepted) = (tally.sent + 1, tally.accepted + 1),
                Verdict::ServerError(_) => {
                    (tally.sent, tally.server_errors) = (tally.sent + 1, tally.server_errors + 1);
                }
                Verdict::Refused => tally.sent += 1,
            }
            publish(tallies);
            let (kind, observed) = match verdict {
                Verdict::Accepted(how) => (probe.probe.kind(), format!("accepted ({how})")),
                Verdict::ServerError(how) => (FindingKind::JwtServerError, format!("server error ({how})")),
                Verdict::Refused | Verdict::Inconclusive => continue,
            };
            let name = probe.probe;
            let endpoint = format!("{} [{name}]", surface.endpoint(netra));
            let mut f = sink.stamp(kind, vec!["prober".into()], &endpoint);
            f.expected = match probe.probe {
                JwtProbe::WrongPassword => "a login with a wrong password is refused (401)".to_owned(),
                JwtProbe::TwinLogins => {
                    "two logins of one account at once get different tokens, and each pair refreshes once"
                        .to_owned()
                }
                _ => format!("a token that is `{name}` is refused with 401 or 403"),
            };
            f.observed = format!("{name}: {observed}");
            let placeholder = format!("<{name} token of the prober>");
            let url = url(netra, surface);
            f.reproducer = match surface {
                Surface::Login if probe.probe == JwtProbe::TwinLogins => {
                    let one = curl(
                        "POST",
                        &url,
                        None,
                        Some(r#"{"email": "<the prober's email>", "password": "<its password>"}"#),
                    );
                    format!("{one} & {one}; wait  # then compare the two answers' tokens")
                }
                Surface::Login => curl(
                    "POST",
                    &url,
                    None,
                    Some(r#"{"email": "<the prober's email>", "password": "<a wrong password>"}"#),
                ),
                Surface::Validate => {
                    curl("POST", &url, None, Some(&format!(r#"{{"token": "{placeholder}"}}"#)))
                }
                // curl cannot speak WebSocket: say what to send.
                Surface::WebSocket => {
                    format!(
                        "# open a WebSocket to {url} carrying {placeholder} as [api] token_transport says"
                    )
                }
                _ if probe.raw_header => format!("curl -sS '{url}' -H 'Authorization: {placeholder}'"),
                _ => curl("GET", &url, Some(&placeholder), None),
            };
            findings.push(f);
        }
    }
    findings
}
