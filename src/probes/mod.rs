//! Security probes that run beside the load, not as Goose users: once at the start, then again
//! every so often while the users run, so a defence that gives way under load is caught.
//! They use the client like the journeys do, and report [`Finding`]s to the run's sink.

pub mod jwt;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::{CallError, Identity, Netra, Slot};
use crate::findings::{Finding, FindingSink};

/// Which probes run, and how often after the first round (`None`: only at the start).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSettings {
    pub jwt: bool,
    pub every: Option<Duration>,
}

/// What the probes did, for the report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProbeSummary {
    pub rounds: u64,
    /// Probe sendings that got a clear answer (refused, accepted or a server error).
    pub checks: u64,
    /// Probes not run, with the reason.
    pub skipped: Vec<String>,
    /// Why the probes could not start, if they could not.
    pub setup_error: Option<String>,
}

/// Stamps a finding of a kind at an endpoint with the time and load (given by the load engine).
pub type Stamp = Arc<dyn Fn(&str, &str) -> Finding + Send + Sync>;

pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<ProbeSummary>,
}

impl Running {
    /// Stops after the round under way (so the first round always completes) and returns the
    /// summary.
    /// Stops the probes; a round still waiting on a target that does not answer is cut after
    /// [`crate::load::FINISH_WAIT`], so that the run ends on time.
    pub async fn finish(mut self) -> ProbeSummary {
        let _ = self.stop.send(true);
        match tokio::time::timeout(crate::load::FINISH_WAIT, &mut self.task).await {
            Ok(summary) => summary.unwrap_or_default(),
            Err(_) => {
                self.task.abort();
                ProbeSummary {
                    setup_error: Some(
                        "the JWT probes were cut at the run's end: the target did not answer".into(),
                    ),
                    ..ProbeSummary::default()
                }
            }
        }
    }
}

/// Starts the probes. `run_tag` makes the probers' emails unique to the run.
pub fn spawn(
    netra: Netra,
    settings: ProbeSettings,
    secret: Option<String>,
    run_tag: String,
    findings: Arc<FindingSink>,
    stamp: Stamp,
) -> Running {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut summary = ProbeSummary::default();
        if !settings.jwt {
            return summary;
        }
        let subjects = match subjects(&netra, &run_tag).await {
            Ok(s) => s,
            Err(e) => {
                summary.setup_error = Some(format!("jwt probes: cannot set up their users: {e}"));
                return summary;
            }
        };
        let (probes, skipped) = jwt::probes(&subjects, secret.as_deref());
        summary.skipped = skipped
            .iter()
            .map(|name| match *name {
                "refresh as access" => format!("jwt `{name}`: the users have no refresh token (minted)"),
                _ => format!("jwt `{name}`: needs the signing secret (--jwt-secret)"),
            })
            .collect();
        loop {
            let (checks, found) = jwt::round(&netra, &probes, |kind, endpoint| stamp(kind, endpoint)).await;
            summary.rounds += 1;
            summary.checks += checks;
            for f in found {
                findings.report(f);
            }
            let Some(every) = settings.every else { break };
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
            if *stopped.borrow() {
                break;
            }
        }
        summary
    });
    Running { stop, task }
}

/// Three fresh users: `a` with a live pair, `b` whose id a tampered token claims, and one whose
/// pair was logged out.
async fn subjects(netra: &Netra, run_tag: &str) -> Result<jwt::Subjects, CallError> {
    let mut users = Vec::new();
    for (slot, who) in ["a", "b", "r"].into_iter().enumerate() {
        let fresh =
            Identity::new(format!("nl-{run_tag}-prober-{who}@example.com"), "netra-load prober", "free");
        let identity = netra.api().provisioning.identity(fresh, Slot::Prober(slot));
        users.push(netra.provision(&identity).await?);
    }
    let revoked = users.pop().expect("three users");
    netra.logout(&revoked.access).await?;
    let b = users.pop().expect("two users");
    let a = users.pop().expect("one user");
    Ok(jwt::Subjects { a, b, revoked })
}
