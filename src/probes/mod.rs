//! Active checks that run beside the load, not as simulated users: the JWT hardening probes
//! ([`jwt`]: once at the start, then again every so often while the users run, so a defence that
//! gives way under load is caught) and the cross-user isolation prober ([`isolation`]). Each is a
//! [`Background`] task with a stop signal and a grace period. They use the client like the
//! journeys do, and report findings to the run's sink.

pub mod isolation;
pub mod jwt;
mod task;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::{CallError, Identity, Netra, Slot};
use crate::findings::FindingSink;
pub use jwt::JwtProbe;
pub use task::{Background, Ended, FINISH_WAIT, Shutdown};

/// Which JWT probes run (decided before the run), and how often after the first round (`None`:
/// only at the start).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSettings {
    /// The probes the run exercises; empty when the JWT probes are off.
    pub jwt: Vec<JwtProbe>,
    /// The probes it cannot exercise, each with the reason (for the report).
    pub skipped: Vec<(JwtProbe, String)>,
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

/// The JWT probes, running.
pub struct JwtProbes(Background<ProbeSummary>);

impl JwtProbes {
    /// Stops after the round under way (so the first round always completes) and returns the
    /// summary; a round still waiting on a target that does not answer is cut after
    /// [`FINISH_WAIT`], so that the run ends on time.
    pub async fn finish(self) -> ProbeSummary {
        self.0.finish(FINISH_WAIT).await.unwrap_or_else(|ended| ProbeSummary {
            setup_error: Some(match ended {
                Ended::Cut => "the JWT probes were cut at the run's end: the target did not answer".into(),
                Ended::Failed(e) => format!("the JWT probes failed: {e}"),
            }),
            ..ProbeSummary::default()
        })
    }
}

/// Starts the JWT probes. `run_tag` makes the probers' emails unique to the run.
pub fn spawn(
    netra: Netra,
    settings: ProbeSettings,
    secret: Option<String>,
    run_tag: String,
    findings: Arc<FindingSink>,
) -> JwtProbes {
    JwtProbes(Background::spawn(move |mut shutdown| async move {
        let skipped = settings.skipped.iter().map(|(probe, why)| format!("jwt `{probe}`: {why}")).collect();
        let mut summary = ProbeSummary { skipped, ..ProbeSummary::default() };
        if settings.jwt.is_empty() {
            return summary;
        }
        let subjects = match subjects(&netra, &run_tag).await {
            Ok(s) => s,
            Err(e) => {
                summary.setup_error = Some(format!("jwt probes: cannot set up their users: {e}"));
                return summary;
            }
        };
        let probes = jwt::probes(&subjects, secret.as_deref(), &settings.jwt);
        loop {
            let (checks, found) = jwt::round(&netra, &probes, &findings).await;
            summary.rounds += 1;
            summary.checks += checks;
            for f in found {
                findings.report(f);
            }
            let Some(every) = settings.every else { break };
            if !shutdown.sleep(every).await {
                break;
            }
        }
        summary
    }))
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
