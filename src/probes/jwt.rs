//! JWT hardening probes: forged, expired, mistyped and revoked tokens, each sent to the auth
//! service (`GET /auth/verify`), the backend (`GET /api/users/profile`) and the WebSocket upgrade.
//! Each must be refused (401 or 403). Accepted is the finding `jwt_accepted` (or, for a token
//! revoked by logout, `logout_not_revoked`); a 5xx is `jwt_server_error`: a bad token must not
//! crash the server. Tokens that can only be minted with the signing secret are skipped, and
//! reported as skipped, when it is not known.

use crate::client::{Method, Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::client::{Login, Netra};
use crate::findings::{Finding, curl};

/// One forged or unusable token and how it was made.
pub struct Probe {
    pub name: &'static str,
    pub token: String,
    /// Sent without the `Bearer ` prefix.
    pub raw_header: bool,
    /// The finding kind if accepted.
    pub kind: &'static str,
}

/// Probes that need the signing secret, listed when it is unknown.
pub const NEEDS_SECRET: &[&str] = &["expired", "wrong iss", "unexpected aud", "no exp"];

/// The users the probes start from: `a` holds a live pair, `revoked` a pair logged out, `b` is
/// the other user whose id a tampered token claims.
pub struct Subjects {
    pub a: Login,
    pub b: Login,
    pub revoked: Login,
}

fn claims_of(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key)
        .expect("HS256 signing of JSON claims cannot fail")
}

/// Builds every probe it can; returns them and the names of those skipped for want of a secret.
pub fn probes(s: &Subjects, secret: Option<&str>) -> (Vec<Probe>, Vec<&'static str>) {
    let claims = claims_of(&s.a.access).unwrap_or_else(|| json!({}));
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let probe = |name, token, kind| Probe { name, token, raw_header: false, kind };
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let mut parts = s.a.access.splitn(3, '.');
    let (header, _, signature) = (parts.next().unwrap_or(""), parts.next(), parts.next().unwrap_or(""));
    let mut list = vec![
        probe(
            "alg none",
            format!("{}.{}.", enc(&json!({"alg": "none", "typ": "JWT"})), enc(&claims)),
            "jwt_accepted",
        ),
        probe("wrong key", sign(&claims, b"netra-load: not the signing key"), "jwt_accepted"),
        probe(
            "tampered sub",
            format!("{header}.{}.{signature}", enc(&with("sub", json!(s.b.user_id)))),
            "jwt_accepted",
        ),
        probe("refresh as access", s.a.refresh.clone(), "jwt_accepted"),
        probe("revoked by logout", s.revoked.access.clone(), "logout_not_revoked"),
        Probe { name: "no Bearer prefix", token: s.a.access.clone(), raw_header: true, kind: "jwt_accepted" },
    ];
    let mut skipped = Vec::new();
    if s.a.refresh.is_empty() {
        // Minted users have no refresh token.
        list.retain(|p| p.name != "refresh as access");
        skipped.push("refresh as access");
    }
    let Some(secret) = secret else {
        skipped.extend(NEEDS_SECRET);
        return (list, skipped);
    };
    let now = claims["iat"].as_u64().unwrap_or(0);
    let mut no_exp = claims.clone();
    if let Some(map) = no_exp.as_object_mut() {
        map.remove("exp");
    }
    let key = secret.as_bytes();
    list.extend([
        probe("expired", sign(&with("exp", json!(now.saturating_sub(60))), key), "jwt_accepted"),
        probe("wrong iss", sign(&with("iss", json!("netra-load-forger")), key), "jwt_accepted"),
        probe("unexpected aud", sign(&with("aud", json!("someone-else")), key), "jwt_accepted"),
        probe("no exp", sign(&no_exp, key), "jwt_accepted"),
    ]);
    (list, skipped)
}

/// Where a probe is sent.
#[derive(Clone, Copy)]
enum Surface {
    Auth,
    Backend,
    WebSocket,
}

impl Surface {
    fn endpoint(self) -> &'static str {
        match self {
            Surface::Auth => "GET /auth/verify",
            Surface::Backend => "GET /api/users/profile",
            Surface::WebSocket => "GET /ws (upgrade)",
        }
    }
}

fn url(netra: &Netra, surface: Surface) -> String {
    match surface {
        Surface::Auth => netra.auth_url(&netra.api().verify),
        Surface::Backend => netra.backend_url(&netra.api().profile),
        Surface::WebSocket => netra.ws_url().to_owned(),
    }
}

fn request(netra: &Netra, surface: Surface, probe: &Probe) -> Request {
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

async fn try_probe(netra: &Netra, surface: Surface, probe: &Probe) -> Verdict {
    if let Surface::WebSocket = surface {
        if probe.raw_header {
            return Verdict::Inconclusive; // the WebSocket client always sends `Bearer`
        }
        return match netra.chat(&probe.token).await {
            Ok(session) => {
                session.close().await;
                Verdict::Accepted("the upgrade succeeded".into())
            }
            Err(e) if matches!(e.kind.as_str(), "ws_http_401" | "ws_http_403" | "ws_refused") => {
                Verdict::Refused
            }
            Err(e) if e.kind.starts_with("ws_http_5") => Verdict::ServerError(e.kind),
            Err(_) => Verdict::Inconclusive,
        };
    }
    match netra.status_of("jwt probe", request(netra, surface, probe)).await {
        Ok(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Verdict::Refused,
        Ok(s) if s.is_success() => Verdict::Accepted(format!("{s}")),
        Ok(s) if s.is_server_error() => Verdict::ServerError(format!("{s}")),
        _ => Verdict::Inconclusive,
    }
}

/// Sends every probe to every surface; returns the checks made and the findings.
pub async fn round(
    netra: &Netra,
    probes: &[Probe],
    stamp: impl Fn(&str, &str) -> Finding,
) -> (u64, Vec<Finding>) {
    let mut checks = 0;
    let mut findings = Vec::new();
    for probe in probes {
        let surfaces: &[Surface] = if netra.has_backend() {
            &[Surface::Auth, Surface::Backend, Surface::WebSocket]
        } else {
            &[Surface::Auth]
        };
        for &surface in surfaces {
            let verdict = try_probe(netra, surface, probe).await;
            checks += u64::from(!matches!(verdict, Verdict::Inconclusive));
            let (kind, observed) = match verdict {
                Verdict::Accepted(how) => (probe.kind, format!("accepted ({how})")),
                Verdict::ServerError(how) => ("jwt_server_error", format!("server error ({how})")),
                Verdict::Refused | Verdict::Inconclusive => continue,
            };
            let mut f = stamp(kind, &format!("{} [{}]", surface.endpoint(), probe.name));
            f.expected = format!("a token that is `{}` is refused with 401 or 403", probe.name);
            f.observed = format!("{}: {observed}", probe.name);
            let placeholder = format!("<{} token of the prober>", probe.name);
            let url = url(netra, surface);
            f.reproducer = match surface {
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
    (checks, findings)
}
