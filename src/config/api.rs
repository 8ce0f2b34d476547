//! A profile's `[api]` section: how a deployment differs from the reference dialect. Every key is
//! optional; what is not given stays as in the reference dialect.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::client::api::{Account, Api, Mint, Provisioning, Transport};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// The deployment's services, when no URL is given on the command line. An auth URL without
    /// a backend one tests the auth service alone.
    pub auth_url: Option<String>,
    pub backend_url: Option<String>,
    pub register: Option<String>,
    pub login: Option<String>,
    pub dev_login: Option<String>,
    pub refresh: Option<String>,
    pub logout: Option<String>,
    pub me: Option<String>,
    pub verify: Option<String>,
    pub validate: Option<String>,
    pub profile: Option<String>,
    pub threads: Option<String>,
    pub thread: Option<String>,
    pub messages: Option<String>,
    pub export: Option<String>,
    pub usage: Option<String>,
    pub usage_field: Option<String>,
    pub ws_path: Option<String>,
    /// owner (default) or origin: which of a user's connections get an agent turn's events.
    pub ws_fanout: Option<String>,
    pub origin: Option<String>,
    /// header | subprotocol-raw | subprotocol-b64url | query
    pub token_transport: Option<String>,
    pub first_message: Option<String>,
    pub first_message_field: Option<String>,
    pub message: Option<String>,
    pub message_field: Option<String>,
    pub post_field: Option<String>,
    pub reply_quotes: Option<bool>,
    pub turn_done: Option<Vec<String>>,
    pub turn_failed: Option<Vec<String>>,
    /// Statuses that count as refused for another user's object (default 401, 403, 404).
    pub refused: Option<Vec<u16>>,
    /// JSON pointers to an error body's message and code, first match wins.
    pub error_message: Option<Vec<String>>,
    pub error_code: Option<Vec<String>>,
    pub provisioning: Option<ProvisioningKind>,
    /// The accounts for `login` provisioning: a CSV or TOML file, relative to the profile.
    pub credentials: Option<String>,
    pub mint: Option<MintSettings>,
}

pub use crate::client::ProvisioningKind;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintSettings {
    pub iss: Option<String>,
    pub aud: Option<String>,
    pub lifetime: Option<String>,
    #[serde(default)]
    pub extra: BTreeMap<String, toml::Value>,
}

/// The dialect a profile asks for; `secret` signs minted tokens, `accounts` (from a credentials
/// file) are what `login` provisioning logs in with.
pub fn resolve(s: &ApiSettings, secret: Option<&str>, accounts: Option<Vec<Account>>) -> Result<Api, String> {
    let mut api = Api::default();
    let set = |field: &mut String, value: &Option<String>| {
        if let Some(v) = value {
            *field = v.clone();
        }
    };
    set(&mut api.register, &s.register);
    set(&mut api.login, &s.login);
    set(&mut api.dev_login, &s.dev_login);
    set(&mut api.refresh, &s.refresh);
    set(&mut api.logout, &s.logout);
    set(&mut api.me, &s.me);
    set(&mut api.verify, &s.verify);
    set(&mut api.validate, &s.validate);
    set(&mut api.profile, &s.profile);
    set(&mut api.threads, &s.threads);
    set(&mut api.thread, &s.thread);
    set(&mut api.messages, &s.messages);
    set(&mut api.export, &s.export);
    set(&mut api.usage, &s.usage);
    set(&mut api.usage_field, &s.usage_field);
    set(&mut api.ws_path, &s.ws_path);
    set(&mut api.first_message.0, &s.first_message);
    set(&mut api.first_message.1, &s.first_message_field);
    set(&mut api.message.0, &s.message);
    set(&mut api.message.1, &s.message_field);
    set(&mut api.post_field, &s.post_field);
    if let Some(quotes) = s.reply_quotes {
        api.reply_quotes = quotes;
    }
    api.origin = s.origin.clone();
    if let Some(fanout) = &s.ws_fanout {
        api.ws_fanout = crate::reference::WsFanout::parse(fanout)?;
    }
    if let Some(t) = &s.token_transport {
        api.transport = t.parse::<Transport>()?;
    }
    if let Some(done) = &s.turn_done {
        api.turn_done = done.clone();
    }
    if let Some(failed) = &s.turn_failed {
        api.turn_failed = failed.clone();
    }
    if let Some(refused) = &s.refused {
        if let Some(bad) = refused.iter().find(|c| !(400..500).contains(*c)) {
            return Err(format!("[api] refused: {bad} is not a 4xx status"));
        }
        api.refused = refused.clone();
    }
    for (key, pointers, field) in [
        ("error_message", &s.error_message, &mut api.error_message),
        ("error_code", &s.error_code, &mut api.error_code),
    ] {
        if let Some(pointers) = pointers {
            if let Some(bad) = pointers.iter().find(|p| !p.starts_with('/')) {
                return Err(format!(
                    "[api] {key}: `{bad}` is not a JSON pointer: write it like \"/detail\" or \"/error/message\""
                ));
            }
            *field = pointers.clone();
        }
    }
    for (key, path) in [("thread", &api.thread), ("messages", &api.messages)] {
        if !path.contains("{id}") {
            return Err(format!("[api] {key} = \"{path}\" needs `{{id}}` where the thread id goes"));
        }
    }
    let default = if accounts.is_some() { ProvisioningKind::Login } else { ProvisioningKind::Register };
    let provisioning = s.provisioning.unwrap_or(default);
    if accounts.is_some() && provisioning != ProvisioningKind::Login {
        return Err(format!(
            "a credentials file is given but [api] provisioning = \"{provisioning}\": set provisioning = \"login\" or drop the file"
        ));
    }
    api.provisioning = match provisioning {
        ProvisioningKind::Register => Provisioning::Register,
        ProvisioningKind::Login => Provisioning::Login(
            accounts
                .ok_or("[api] provisioning = \"login\" logs in existing accounts: give [api] credentials = \"FILE\" or --credentials FILE (CSV email,password)")?
                .into(),
        ),
        ProvisioningKind::DevLogin => Provisioning::DevLogin,
        ProvisioningKind::Mint => {
            let secret = secret.ok_or(
                "[api] provisioning = \"mint\" signs tokens with the deployment's secret: give NETRA_JWT_SECRET (or --jwt-secret, whose value shows in ps)",
            )?;
            let m = s.mint.clone().unwrap_or_default();
            let lifetime = crate::bounds::access_ttl(m.lifetime.as_deref().unwrap_or("15m"))
                .map_err(|e| format!("[api.mint] lifetime: {e}"))?;
            let extra = m
                .extra
                .into_iter()
                .map(|(k, v)| {
                    serde_json::to_value(v).map(|v| (k, v)).map_err(|e| format!("[api.mint] extra: {e}"))
                })
                .collect::<Result<_, _>>()?;
            Provisioning::Mint(Mint {
                secret: secret.to_owned(),
                iss: m.iss.unwrap_or_else(|| "netra-auth-service".into()),
                aud: m.aud,
                lifetime,
                extra,
            })
        }
    };
    Ok(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_changes_only_what_it_names_and_refuses_nonsense() {
        let s: ApiSettings = toml::from_str(
            "ws_path = \"/ws/secure\"\ntoken_transport = \"subprotocol-b64url\"\nprovisioning = \"mint\"\n[mint]\nlifetime = \"5m\"\n",
        )
        .unwrap();
        let api = resolve(&s, Some("k"), None).unwrap();
        assert_eq!(
            (api.ws_path.as_str(), api.transport, api.profile.as_str()),
            ("/ws/secure", Transport::SubprotocolB64url, "/api/users/profile")
        );
        assert!(
            matches!(api.provisioning, Provisioning::Mint(ref m) if m.lifetime.as_secs() == 300 && m.iss == "netra-auth-service")
        );
        assert!(resolve(&s, None, None).unwrap_err().contains("--jwt-secret"));
        let bad: ApiSettings = toml::from_str("thread = \"/api/threads\"").unwrap();
        assert!(resolve(&bad, None, None).unwrap_err().contains("{id}"));
        let bad: ApiSettings = toml::from_str("refused = [403, 200]").unwrap();
        assert!(resolve(&bad, None, None).unwrap_err().contains("200"));
        let bad: ApiSettings = toml::from_str("error_message = [\"message\"]").unwrap();
        assert!(resolve(&bad, None, None).unwrap_err().contains("JSON pointer"));
        let login: ApiSettings = toml::from_str("provisioning = \"login\"").unwrap();
        assert!(resolve(&login, None, None).unwrap_err().contains("--credentials"));
        let account = Account { email: "a@x.io".into(), password: "pw".into() };
        assert!(resolve(&s, Some("k"), Some(vec![account.clone()])).unwrap_err().contains("provisioning"));
        let api = resolve(&ApiSettings::default(), None, Some(vec![account])).unwrap();
        assert!(api.provisioning.reuses_accounts());
        let bad = toml::from_str::<ApiSettings>("provisioning = \"telepathy\"").unwrap_err();
        assert!(bad.message().contains("unknown variant `telepathy`") && bad.message().contains("dev-login"));
        assert!(format!("{:?}", resolve(&s, Some("topsecret"), None).unwrap()).contains("[redacted]"));
        assert!(!format!("{:?}", resolve(&s, Some("topsecret"), None).unwrap()).contains("topsecret"));
    }
}
