//! A failed call: what kind of failure ([`Failure`], counted by its stable name) and what
//! happened (a detail, kept as a sample). Details never contain tokens or passwords: only what
//! the server said, cut short.

use std::borrow::Cow;
use std::fmt;

/// The kinds of failure, as the report counts them. [`Failure::as_str`] is the name reports
/// have always used (`connect`, `http_500`, `ws_closed`, ...): it is API, keep it stable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// No connection: refused, unreachable, a bad address.
    Connect,
    /// No whole answer in time.
    Timeout,
    /// The exchange broke below HTTP (closed while sending, not HTTP), or the request could not
    /// be built.
    Transport,
    /// An HTTP status other than the one the call expects.
    Status(u16),
    /// An answer that is not what the contract shapes: not JSON, a field missing.
    BadBody,
    /// An answer of the right shape whose content is wrong (another user's data, no reply to
    /// this message); the detail says why.
    WrongAnswer,
    /// The WebSocket upgrade failed below HTTP.
    WsError,
    /// The WebSocket upgrade was refused with this HTTP status.
    WsStatus(u16),
    /// Upgraded, then refused with an `error` frame (the beta dialect authenticates after).
    WsRefused,
    /// The connection closed or broke while a step waited on it.
    WsClosed,
    /// A turn ended by an `error` frame with code `ACCESS_DENIED` (another user's thread).
    WsAccessDenied,
    /// A turn ended by an `error` frame with code `QUOTA_EXCEEDED`.
    WsQuotaExceeded,
    /// A turn ended by an `error` frame with another code (lower-cased, as the server sent it).
    WsCode(String),
    /// A step still waiting when the run ended, after waiting long: the target stopped
    /// answering.
    UnansweredAtEnd,
}

/// Codes of `error` frames are kept as the server wrote them (lower-cased), cut at this length.
const MAX_CODE: usize = 40;

impl Failure {
    /// The kind of an `error` frame's `code` (`UNKNOWN` when it has none), by the code
    /// lower-cased (cut at `MAX_CODE` characters): `quota_exceeded` is the quota's whatever
    /// its case.
    pub fn of_code(code: &str) -> Failure {
        let code: String = code.chars().take(MAX_CODE).collect::<String>().to_lowercase();
        match code.as_str() {
            "access_denied" => Failure::WsAccessDenied,
            "quota_exceeded" => Failure::WsQuotaExceeded,
            _ => Failure::WsCode(code),
        }
    }

    /// The stable name reports count this kind under.
    pub fn as_str(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Transport => "http_error",
            Failure::Status(status) => return Cow::Owned(format!("http_{status}")),
            Failure::BadBody => "bad_body",
            Failure::WrongAnswer => "wrong_answer",
            Failure::WsError => "ws_error",
            Failure::WsStatus(status) => return Cow::Owned(format!("ws_http_{status}")),
            Failure::WsRefused => "ws_refused",
            Failure::WsClosed => "ws_closed",
            Failure::WsAccessDenied => "ws_access_denied",
            Failure::WsQuotaExceeded => "ws_quota_exceeded",
            Failure::WsCode(code) => return Cow::Owned(format!("ws_{code}")),
            Failure::UnansweredAtEnd => "unanswered_at_end",
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// A failed call: what kind of failure (counted) and what happened (a sample).
#[derive(Clone, Debug)]
pub struct CallError {
    pub kind: Failure,
    pub detail: String,
    /// The typed call that failed, when one did (not a check's own request).
    pub call: Option<super::Call>,
}

impl CallError {
    pub fn new(kind: Failure, detail: impl Into<String>) -> CallError {
        CallError { kind, detail: detail.into(), call: None }
    }

    /// The same failure, of `call`.
    pub fn of(self, call: super::Call) -> CallError {
        CallError { call: Some(call), ..self }
    }

    /// An answer whose content is wrong (e.g. a list holding someone else's thread).
    pub fn wrong(detail: impl Into<String>) -> CallError {
        CallError::new(Failure::WrongAnswer, detail)
    }

    /// The same failure with `context` before its detail.
    pub fn within(self, context: impl fmt::Display) -> CallError {
        CallError { detail: format!("{context}: {}", self.detail), ..self }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for CallError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_the_names_reports_count_them_under() {
        let names: Vec<String> = [
            Failure::Connect,
            Failure::Timeout,
            Failure::Transport,
            Failure::Status(500),
            Failure::BadBody,
            Failure::WrongAnswer,
            Failure::WsError,
            Failure::WsStatus(403),
            Failure::WsRefused,
            Failure::WsClosed,
            Failure::of_code("ACCESS_DENIED"),
            Failure::of_code("QUOTA_EXCEEDED"),
            Failure::of_code("MESSAGE_TOO_LARGE"),
            Failure::UnansweredAtEnd,
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        assert_eq!(
            names,
            [
                "connect",
                "timeout",
                "http_error",
                "http_500",
                "bad_body",
                "wrong_answer",
                "ws_error",
                "ws_http_403",
                "ws_refused",
                "ws_closed",
                "ws_access_denied",
                "ws_quota_exceeded",
                "ws_message_too_large",
                "unanswered_at_end"
            ]
        );
        assert_eq!(Failure::of_code("Quota_Exceeded"), Failure::WsQuotaExceeded);
        assert_eq!(Failure::of_code("RATE-LIMITED").as_str(), "ws_rate-limited");
        let long = Failure::of_code(&format!("x{}", "Y".repeat(500)));
        assert_eq!(long.as_str().len(), "ws_".len() + MAX_CODE);
        assert!(long.as_str().starts_with("ws_xyyy"));
    }
}
