//! The journeys simulated users run, one file each, and the one table of them ([`JOURNEYS`]):
//! a journey's name, its steps, the state its steps hand to each other (its own [`Progress`]),
//! what it needs of the deployment and the findings it can report. Every list and parser of
//! journeys (profiles, targets, the load engine, reports) derives from the table: adding a
//! journey is a file and one entry here.
//!
//! A step that fails ends its journey (the remaining steps of that iteration are skipped) and is
//! counted by kind; the run goes on. Security results found on the way are findings, reported to
//! the run's sink; they do not fail the step. The rules every step follows are the [`runner`]'s.

pub mod concurrency;
mod consistency;
mod context;
mod data_export;
mod end;
pub mod endpoints;
mod health;
mod hygiene;
mod idle_chat;
mod multi_device;
mod rate_limit;
pub mod runner;
mod signup_chat;
mod step;
mod token_refresh;
mod ws_resilience;

use std::future::Future;
use std::pin::Pin;

use crate::client::chat::ChatSession;
use crate::client::{CallError, Netra};
use crate::findings::FindingKind;
pub use context::{Context, Expect, Live};
pub use end::{RunEnd, Waiter};
pub use runner::{Done, Run, User, run_step};
pub use step::Step;
pub use token_refresh::{MAX_EXPIRY_WAIT_S, waits_out};

/// A step being performed.
pub type Performing<'a> = Pin<Box<dyn Future<Output = Result<(), CallError>> + Send + 'a>>;
/// A journey closing what it holds open.
pub type Closing<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A journey's own state (what its steps hand to each other), and how it performs its steps;
/// register and login are the same in every journey, the runner's. Written with `async fn`;
/// [`Progress`] is the boxed form the runner holds.
pub trait Steps: Default + Send + 'static {
    fn step(
        &mut self,
        ctx: &Context,
        netra: &Netra,
        user: &User,
        step: Step,
    ) -> impl Future<Output = Result<(), CallError>> + Send;

    /// Whether `step` applies now; one that does not is skipped, untimed, and counted as not
    /// applying (so its detector is `not run`, not blamed on the run).
    fn applies(&self, _step: Step) -> bool {
        true
    }

    /// Closes what the journey holds open (its WebSockets), at its end or when it fails.
    fn close(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// One journey in progress, as the runner holds it: any [`Steps`], boxed.
pub trait Progress: Send {
    fn perform<'a>(
        &'a mut self,
        ctx: &'a Context,
        netra: &'a Netra,
        user: &'a User,
        step: Step,
    ) -> Performing<'a>;
    fn applies(&self, step: Step) -> bool;
    fn close(&mut self) -> Closing<'_>;
}

impl<T: Steps> Progress for T {
    fn perform<'a>(
        &'a mut self,
        ctx: &'a Context,
        netra: &'a Netra,
        user: &'a User,
        step: Step,
    ) -> Performing<'a> {
        Box::pin(Steps::step(self, ctx, netra, user, step))
    }

    fn applies(&self, step: Step) -> bool {
        Steps::applies(self, step)
    }

    fn close(&mut self) -> Closing<'_> {
        Box::pin(Steps::close(self))
    }
}

/// A fresh journey of kind `T`, boxed (the table's `start`).
pub fn start<T: Steps>() -> Box<dyn Progress> {
    Box::<T>::default()
}

/// Hangs up a journey's connection, if it holds one.
async fn hang_up(chat: &mut Option<ChatSession>) {
    if let Some(chat) = chat.take() {
        chat.close().await;
    }
}

/// What a journey needs of the deployment, to decide before the run whether it can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// Against an auth service alone (no backend): `None` when the journey needs the backend,
    /// else what it does differently then (said in the report).
    pub auth_alone: Option<&'static str>,
    /// Refresh tokens and sessions that logout ends (minted users have neither).
    pub sessions: bool,
    /// A fresh user per journey, with its own limits (existing accounts carry theirs over).
    pub fresh_users: bool,
}

/// The backend, sessions or not; any users.
const BACKEND: Needs = Needs { auth_alone: None, sessions: false, fresh_users: false };

/// One entry of the table.
pub struct Journey {
    /// Its name in profiles and reports.
    pub name: &'static str,
    /// In order: the first begins a journey, the last completes it.
    pub steps: &'static [Step],
    /// A fresh state for one journey of one user.
    pub start: fn() -> Box<dyn Progress>,
    pub needs: Needs,
    /// The findings its own checks can report. (Every journey's 429s are judged for
    /// `noisy_neighbour` by its account's own requests, in [`runner`]; the leaks its answers can
    /// show the scanner follow from its steps: [`Step::exposes`].)
    pub finds: &'static [FindingKind],
    /// Its completions time the run's cohorts (`cohort.N`).
    pub cohort: bool,
    /// Its users register on the free tier whatever the persona says (it checks free's quota).
    pub free_tier: bool,
}

impl std::fmt::Debug for Journey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Journey {
    fn eq(&self, other: &Journey) -> bool {
        self.name == other.name
    }
}

/// A journey of the table with the defaults most have.
const fn journey(name: &'static str, steps: &'static [Step], start: fn() -> Box<dyn Progress>) -> Journey {
    Journey { name, steps, start, needs: BACKEND, finds: &[], cohort: false, free_tier: false }
}

/// The journeys this build can run.
pub static JOURNEYS: &[Journey] = &[
    Journey { cohort: true, ..journey("signup-chat", signup_chat::STEPS, start::<signup_chat::SignupChat>) },
    journey("chat-export", signup_chat::WITH_EXPORT, start::<signup_chat::SignupChat>),
    Journey {
        needs: Needs {
            auth_alone: Some(
                "the backend checks use the auth service's {me} instead, and the WebSocket reconnect is skipped",
            ),
            sessions: true,
            fresh_users: false,
        },
        finds: &[
            FindingKind::RefreshReuseAccepted,
            FindingKind::ReuseFamilyNotRevoked,
            FindingKind::LogoutNotRevoked,
            FindingKind::ExpiredTokenAccepted,
            FindingKind::TokenCollision,
            FindingKind::IdentityDrift,
        ],
        ..journey("token-refresh", token_refresh::STEPS, start::<token_refresh::TokenRefresh>)
    },
    Journey {
        needs: Needs { fresh_users: true, ..BACKEND },
        finds: &[FindingKind::NoRateLimit, FindingKind::QuotaNotEnforced],
        free_tier: true,
        ..journey("rate-limit", rate_limit::STEPS, start::<rate_limit::RateLimit>)
    },
    journey("consistency", consistency::STEPS, start::<consistency::Consistency>),
    Journey {
        finds: &[FindingKind::UsageMiscounted],
        ..journey("data-export", data_export::STEPS, start::<data_export::DataExport>)
    },
    Journey {
        needs: Needs { sessions: true, ..BACKEND },
        ..journey("multi-device", multi_device::STEPS, start::<multi_device::MultiDevice>)
    },
    Journey {
        finds: &[FindingKind::MessageLost],
        ..journey("ws-resilience", ws_resilience::STEPS, start::<ws_resilience::WsResilience>)
    },
    // Measuring netra-load itself (`bench/`): `GET /health`, and a user holding a WebSocket.
    journey("health", health::STEPS, start::<health::Health>),
    journey("idle-chat", idle_chat::STEPS, start::<idle_chat::IdleChat>),
];

/// Creates a thread titled with the journey's name and the user's canary, owned in the ledger
/// by the user (and a possible victim for the isolation probes).
async fn create_thread(ctx: &Context, netra: &Netra, user: &User) -> Result<String, CallError> {
    let title = format!("netra-load {} {}", ctx.journey.name, user.canary);
    let thread = netra.create_thread(&user.logged_in()?.access, &title).await?;
    ctx.isolation.thread_created(&thread, user.number as u32);
    Ok(thread)
}

/// The journey named `name`.
pub fn find(name: &str) -> Option<&'static Journey> {
    JOURNEYS.iter().find(|j| j.name == name)
}

/// Every journey's name, in the table's order.
pub fn names() -> Vec<&'static str> {
    JOURNEYS.iter().map(|j| j.name).collect()
}

/// The journey whose completions time the cohorts.
pub fn cohort_journey() -> &'static Journey {
    JOURNEYS.iter().find(|j| j.cohort).expect("one journey times the cohorts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_journey_once_and_each_step_once_in_its_journey() {
        let names = names();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[..i].contains(name), "{name} twice");
            let j = find(name).unwrap();
            assert!(matches!(j.steps.first(), Some(Step::Register | Step::Health)), "{name}: {:?}", j.steps);
            // The runner knows a journey's last step by its name.
            for (k, step) in j.steps.iter().enumerate() {
                assert!(!j.steps[..k].contains(step), "{name} has {step:?} twice");
            }
        }
        assert_eq!(JOURNEYS.iter().filter(|j| j.cohort).count(), 1);
        assert_eq!(cohort_journey().name, "signup-chat");
        assert!(find("signup-chatt").is_none());
    }
}
