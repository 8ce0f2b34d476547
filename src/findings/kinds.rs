//! The registry of finding kinds: one entry each (its name in reports, its severity). Every list
//! and parser of kinds (known findings in a profile, the JUnit findings suite, report files)
//! derives from this table; the README's findings table says who finds each and what it means.

use serde::{Deserialize, Serialize};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    /// Another user's data, or a token that should not work, is reachable.
    High,
    /// A limit or a guarantee missing, with no data exposed.
    Medium,
    /// A reliability defect: valid requests that fail under load and succeed on their own. Not a
    /// breach: the run FAILs (exit 1) unless the profile knows it.
    Low,
}

macro_rules! finding_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal, $severity:ident;)*) => {
        /// What a finding is about. Its name ([`FindingKind::as_str`]) is API: reports, profiles
        /// (`[expect] known_findings`) and JUnit cases use it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FindingKind {
            $($(#[doc = $doc])* $variant,)*
        }

        impl FindingKind {
            /// Every kind, in the table's order.
            pub const ALL: &'static [FindingKind] = &[$(FindingKind::$variant),*];
            /// Every kind's name, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(FindingKind::$variant => $name,)*
                }
            }

            pub fn severity(self) -> Severity {
                match self {
                    $(FindingKind::$variant => Severity::$severity,)*
                }
            }

            pub fn parse(name: &str) -> Option<FindingKind> {
                match name {
                    $($name => Some(FindingKind::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

finding_kinds! {
    /// token-refresh: a retired refresh token was exchanged again.
    RefreshReuseAccepted = "refresh_reuse_accepted", High;
    /// token-refresh: after reuse was refused, the family's newest token still worked.
    ReuseFamilyNotRevoked = "reuse_family_not_revoked", High;
    /// token-refresh and the JWT probes: a token logged out still works.
    LogoutNotRevoked = "logout_not_revoked", High;
    /// token-refresh: an access token past `exp` still works.
    ExpiredTokenAccepted = "expired_token_accepted", High;
    /// rate-limit: no 429 within 5x the expected burst.
    NoRateLimit = "no_rate_limit", Medium;
    /// rate-limit: the free tier's message past the quota was answered.
    QuotaNotEnforced = "quota_not_enforced", Medium;
    /// bystanders (signup-chat): a fresh user within its own limit got a 429.
    NoisyNeighbour = "noisy_neighbour", High;
    /// ws-resilience: a message sent before a drop is missing from the thread after
    /// reconnecting.
    MessageLost = "message_lost", Medium;
    /// JWT probes: a forged, expired or mistyped token was accepted.
    JwtAccepted = "jwt_accepted", High;
    /// JWT probes: a bad token made the server answer 5xx.
    JwtServerError = "jwt_server_error", High;
    /// JWT probes: a login with a wrong password for an existing account succeeded.
    CredentialAccepted = "credential_accepted", High;
    /// isolation scanner: a thread list held another user's canary or id.
    ListLeak = "list_leak", High;
    /// isolation scanner: the export held another user's canary or id.
    ExportLeak = "export_leak", High;
    /// isolation scanner: a WebSocket frame held another user's canary or id.
    WsCrosstalk = "ws_crosstalk", High;
    /// isolation scanner: any other answer held another user's canary or id.
    DataLeak = "data_leak", High;
    /// isolation probes: another user's thread was readable, writable or deletable.
    Bola = "bola", High;
    /// isolation probes: a refusal's error body held the thread owner's data (its canary, or an
    /// id the prober did not send).
    ErrorLeak = "error_leak", High;
    /// token-refresh and the JWT probes: two tokens issued in the same second (a refresh and the
    /// pair it replaces, two logins of one account at once) were the same.
    TokenCollision = "token_collision", Medium;
    /// token-refresh: a refreshed access token, or the deployment's answer to it, named another
    /// identity (`sub`, `email`) than the login's.
    IdentityDrift = "identity_drift", High;
    /// data-export: the usage the deployment reports (the quota's `used`) is not what it
    /// accepted of the user's messages (a lost update under concurrency: a billing defect).
    UsageMiscounted = "usage_miscounted", Medium;
    /// any journey: a valid request failed (5xx or a reset) under load and succeeded when
    /// replayed one at a time.
    ConcurrencyError = "concurrency_error", Low;
}

impl Severity {
    /// Whether a finding of this severity, unknown to the profile, is a breach (exit 3); a
    /// reliability defect fails the run (exit 1) instead.
    pub fn breaches(self) -> bool {
        self != Severity::Low
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FindingKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FindingKind, D::Error> {
        let name = String::deserialize(d)?;
        FindingKind::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown finding kind `{name}` (known: {})",
                FindingKind::NAMES.join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_every_kind_is_explained_in_the_readme() {
        let readme = include_str!("../../README.md");
        for (kind, name) in FindingKind::ALL.iter().zip(FindingKind::NAMES) {
            assert_eq!((kind.as_str(), FindingKind::parse(name)), (*name, Some(*kind)));
            assert!(readme.contains(&format!("`{name}`")), "README's findings table lacks `{name}`");
        }
        assert_eq!(FindingKind::parse("bolaa"), None);
        assert_eq!(serde_json::to_string(&FindingKind::NoRateLimit).unwrap(), "\"no_rate_limit\"");
        assert!(serde_json::from_str::<FindingKind>("\"telepathy\"").is_err());
        assert_eq!(FindingKind::MessageLost.severity().to_string(), "medium");
    }

    #[test]
    fn the_report_schema_lists_every_kind_and_severity() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/report.schema.json")).unwrap();
        let finding = &schema["properties"]["findings"]["items"]["properties"];
        let listed = |field: &str| -> Vec<String> {
            finding[field]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(listed("kind"), FindingKind::NAMES);
        let severities = [Severity::High, Severity::Medium, Severity::Low].map(|s| s.to_string());
        assert_eq!(listed("severity"), severities);
    }
}
