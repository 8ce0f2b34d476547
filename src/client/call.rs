//! The typed calls ([`Call`]): their labels, and how each is sent in a dialect ([`Shape`]) for
//! reproducers and endpoint names.

use super::{Method, Netra, Provisioning};

/// The typed calls, by the label their errors and the isolation checker name them with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Call {
    Register,
    /// A login, or a dev login.
    Login,
    Health,
    Profile,
    CreateThread,
    AuthMe,
    PostMessage,
    History,
    Export,
    /// The user's usage (the quota's `used`).
    Usage,
    ListThreads,
    Refresh,
    Logout,
    /// An access token used at the backend's profile (or the auth service's `me`).
    UseToken,
}

/// What a typed call sends, for a reproducer: method, URL (ids as `{id}`), the bearer token's
/// placeholder and the JSON body's, by the dialect.
pub struct Shape {
    pub method: Method,
    pub url: String,
    pub bearer: Option<&'static str>,
    pub body: Option<String>,
}

impl Netra {
    /// How `call` is sent in this dialect. Placeholders stand for tokens and secrets.
    pub fn shape(&self, call: Call) -> Shape {
        let api = &self.s.api;
        let (auth, backend) = (|p: &str| self.auth_url(p), |p: &str| self.backend_url(p));
        let user = r#"{"email": "<email>", "password": "<password>"}"#;
        let (method, url, bearer, body) = match call {
            Call::Register => (Method::POST, auth(&api.register), None, Some(user.to_owned())),
            Call::Login if matches!(api.provisioning, Provisioning::DevLogin) => {
                (Method::POST, auth(&api.dev_login), None, None)
            }
            Call::Login => (Method::POST, auth(&api.login), None, Some(user.to_owned())),
            Call::Health => (Method::GET, backend("/health"), None, None),
            Call::Profile => (Method::GET, backend(&api.profile), Some("<access token>"), None),
            Call::UseToken if !self.has_backend() => {
                (Method::GET, auth(&api.me), Some("<access token>"), None)
            }
            Call::UseToken => (Method::GET, backend(&api.profile), Some("<access token>"), None),
            Call::CreateThread => (
                Method::POST,
                backend(&api.threads),
                Some("<access token>"),
                Some(r#"{"title": "t"}"#.into()),
            ),
            Call::AuthMe => (Method::GET, auth(&api.me), Some("<access token>"), None),
            Call::PostMessage => (
                Method::POST,
                backend(&api.messages),
                Some("<access token>"),
                Some(format!(r#"{{"{}": "hello"}}"#, api.post_field)),
            ),
            Call::History => (Method::GET, backend(&api.messages), Some("<access token>"), None),
            Call::Export => (Method::GET, backend(&api.export), Some("<access token>"), None),
            Call::Usage => (Method::GET, backend(&api.usage), Some("<access token>"), None),
            Call::ListThreads => (Method::GET, backend(&api.threads), Some("<access token>"), None),
            Call::Refresh => (
                Method::POST,
                auth(&api.refresh),
                None,
                Some(r#"{"refresh_token": "<refresh token>"}"#.into()),
            ),
            Call::Logout => (Method::POST, auth(&api.logout), Some("<access token>"), None),
        };
        Shape { method, url, bearer, body }
    }

    /// `METHOD /path` of `call` in this dialect, ids as `{id}`: how findings name an endpoint.
    pub fn endpoint(&self, call: Call) -> String {
        let shape = self.shape(call);
        let path = shape
            .url
            .split_once("://")
            .map_or(shape.url.as_str(), |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
        format!("{} {path}", shape.method)
    }
}

impl Call {
    /// The method it is sent with.
    pub fn method(self) -> &'static str {
        match self {
            Call::Register
            | Call::Login
            | Call::CreateThread
            | Call::PostMessage
            | Call::Refresh
            | Call::Logout => "POST",
            _ => "GET",
        }
    }

    /// Whether the call goes to the backend (whose `/api` the rate limit is on); `UseToken`
    /// does when there is one.
    pub fn to_backend(self, has_backend: bool) -> bool {
        match self {
            Call::Profile
            | Call::CreateThread
            | Call::PostMessage
            | Call::History
            | Call::Export
            | Call::Usage
            | Call::ListThreads => true,
            Call::UseToken => has_backend,
            Call::Register | Call::Login | Call::Health | Call::AuthMe | Call::Refresh | Call::Logout => {
                false
            }
        }
    }
}
