//! The endpoints each step calls, as `METHOD /path` templates of the run's dialect (ids as
//! `{id}`; the WebSocket as `WS /path`): what the per-endpoint figures of the timeline merge, and
//! what the degradation section names beside a step. Declared here beside the steps, not
//! observed: recording every request's step would cost the per-request path a lookup.

use super::Step;
use crate::client::{Api, Provisioning};

/// The endpoints `step` calls against this deployment (`backend`: not an auth service alone).
/// A step that waits, or sends nothing (a minted login), has none.
pub fn of(step: Step, api: &Api, backend: bool) -> Vec<String> {
    let get = |path: &str| format!("GET {path}");
    let post = |path: &str| format!("POST {path}");
    let ws = || format!("WS {}", api.ws_path);
    // A token used where the deployment checks it: the backend's profile, or the auth service's
    // `me` when the auth service is tested alone.
    let token_check = || if backend { get(&api.profile) } else { get(&api.me) };
    let login = || match api.provisioning {
        Provisioning::Mint(_) => None,
        Provisioning::DevLogin => Some(post(&api.dev_login)),
        Provisioning::Register | Provisioning::Login(_) => Some(post(&api.login)),
    };
    let one = |e: String| vec![e];
    match step {
        Step::Register => one(post(&api.register)),
        Step::Login | Step::Relogin => login().into_iter().collect(),
        // Every device is a login with the password (not a dev login).
        Step::MoreDevices => one(post(&api.login)),
        Step::AuthMe => one(get(&api.me)),
        Step::Profile | Step::Burst | Step::Recover => one(get(&api.profile)),
        // Steps of several calls: each is listed; an endpoint's trend takes none of them.
        Step::ReuseOldRefresh => vec![post(&api.refresh), token_check()],
        Step::UseNewAccess if backend => vec![token_check(), ws()],
        Step::UseAfterLogout => vec![get(&api.verify), post(&api.refresh), token_check()],
        Step::Expiry => vec![token_check(), post(&api.refresh)],
        Step::PostMessages => vec![post(&api.messages), get(&api.usage)],
        Step::ConnectDevices => vec![post(&api.threads), ws()],
        Step::CreateThread => one(post(&api.threads)),
        Step::History | Step::HistoryAfterDrop => one(get(&api.messages)),
        Step::ListThreads => one(get(&api.threads)),
        Step::UseAccess | Step::UseNewAccess => one(token_check()),
        Step::Refresh => one(post(&api.refresh)),
        Step::Logout | Step::LogoutOneDevice => one(post(&api.logout)),
        Step::Export => one(get(&api.export)),
        Step::Usage => one(get(&api.usage)),
        Step::Health => one(get("/health")),
        Step::WsConnect
        | Step::FirstReply
        | Step::Quota
        | Step::ChatAllDevices
        | Step::OthersStillWork
        | Step::InterruptedTurn
        | Step::Reconnect
        | Step::TurnAfterReconnect
        | Step::Hold => one(ws()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_dialect_and_the_deployment() {
        let api = Api::default();
        assert_eq!(of(Step::History, &api, true), ["GET /api/threads/{id}/messages"]);
        assert_eq!(of(Step::UseNewAccess, &api, true), ["GET /api/users/profile", "WS /ws"]);
        assert_eq!(of(Step::UseNewAccess, &api, false), ["GET /auth/me"]);
        assert_eq!(of(Step::FirstReply, &api, true), ["WS /ws"]);
        let dev = Api { provisioning: Provisioning::DevLogin, ..Api::default() };
        assert_eq!(of(Step::Login, &dev, false), ["POST /auth/dev/login"]);
    }
}
