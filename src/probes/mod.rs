//! Active checks that run beside the load, not as simulated users: the JWT hardening probes
//! ([`jwt`]: once at the start, then again every so often while the users run, so a defence that
//! gives way under load is caught) and the cross-user isolation prober ([`isolation`]). Each is a
//! [`Background`] task with a stop signal and a grace period. They use the client like the
//! journeys do, and report findings to the run's sink.

pub mod isolation;
pub mod jwt;
mod task;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// What each probe got, by its name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_probe: BTreeMap<String, jwt::Tally>,
    /// Probes not run, with the reason.
    pub skipped: Vec<String>,
    /// Failed attempts to set up the probes' users (retried with back-off for the whole run).
    #[serde(default)]
    pub setup_failures: u64,
    /// When the probes could start, in seconds from the run's start (`null`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_s: Option<f64>,
    /// The last failed set-up attempt's error (the probes may have started after it, see
    /// `started_s`), or why they were cut before sending anything.
    pub setup_error: Option<String>,
    /// The round under way at the run's end was cut (the target did not answer it in time).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_at_end: bool,
}

/// The first wait after a failed set-up; it doubles with every failure, up to the second.
const SETUP_BACKOFF: Duration = Duration::from_millis(250);
const MAX_SETUP_BACKOFF: Duration = Duration::from_secs(4);

/// How a background prober's set-up went: retried with back-off until it succeeds or the run
/// ends. Each failure is counted and said (on stderr as it happens; the summary counts them).
#[derive(Debug, Default)]
pub struct SetUp {
    pub failures: u64,
    pub last_error: Option<String>,
}

impl SetUp {
    /// Runs `attempt` (given its number, from 1) until it succeeds (`Some`) or the run is over
    /// (`None`). An attempt under way when the run ends may finish (within the task's grace
    /// period): a short run still gets its probes when the set-up succeeds at once.
    pub async fn retry<T, F, Fut>(&mut self, what: &str, shutdown: &mut Shutdown, mut attempt: F) -> Option<T>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = Result<T, CallError>>,
    {
        let mut wait = SETUP_BACKOFF;
        loop {
            match attempt(self.failures + 1).await {
                Ok(done) => return Some(done),
                Err(e) => {
                    self.failures += 1;
                    eprintln!(
                        "{what}: set-up attempt {} failed: {e}; retrying in {} ms",
                        self.failures,
                        wait.as_millis()
                    );
                    self.last_error = Some(format!("{what}: cannot set up their users: {e}"));
                }
            }
            if !shutdown.sleep(wait).await {
                return None;
            }
            wait = (wait * 2).min(MAX_SETUP_BACKOFF);
        }
    }
}

/// The JWT probes, running. What they did so far is kept beside the task, so that a round cut
/// at the run's end loses only itself.
pub struct JwtProbes {
    task: Background<()>,
    summary: Arc<Mutex<ProbeSummary>>,
}

impl JwtProbes {
    /// Each probe's sendings with a clear answer so far, by name, read while the probes run
    /// (live metrics).
    pub fn answered(&self) -> impl Fn() -> Vec<(String, u64)> + Send + Sync + 'static {
        let summary = self.summary.clone();
        move || {
            let s = summary.lock().unwrap_or_else(|e| e.into_inner());
            s.by_probe.iter().map(|(name, tally)| (name.clone(), tally.sent)).collect()
        }
    }

    /// Stops after the round under way (so the first round completes when the target answers in
    /// time) and returns the summary; a round still waiting on a target that does not answer is
    /// cut after [`FINISH_WAIT`], so that the run ends on time, and keeps what it sent.
    pub async fn finish(self) -> ProbeSummary {
        let ended = self.task.finish(FINISH_WAIT).await;
        let mut summary = std::mem::take(&mut *self.summary.lock().unwrap_or_else(|e| e.into_inner()));
        match ended {
            Ok(()) => {}
            Err(Ended::Cut) => summary.cut_at_end = true,
            Err(Ended::Failed(e)) => summary.setup_error = Some(format!("the JWT probes failed: {e}")),
        }
        if summary.cut_at_end && summary.checks == 0 && summary.setup_error.is_none() {
            summary.setup_error =
                Some("the JWT probes were cut at the run's end: the target did not answer".into());
        }
        summary
    }
}

/// Starts the JWT probes. `run_tag` makes the probers' emails unique to the run; `started` is
/// the run's start.
pub fn spawn(
    netra: Netra,
    settings: ProbeSettings,
    secret: Option<String>,
    run_tag: String,
    findings: Arc<FindingSink>,
    started: Instant,
) -> JwtProbes {
    let skipped = settings.skipped.iter().map(|(probe, why)| format!("jwt `{probe}`: {why}")).collect();
    let summary = Arc::new(Mutex::new(ProbeSummary { skipped, ..ProbeSummary::default() }));
    let shared = summary.clone();
    let update =
        move |f: &mut dyn FnMut(&mut ProbeSummary)| f(&mut shared.lock().unwrap_or_else(|e| e.into_inner()));
    let tallied = summary.clone();
    let publish = move |tallies: &BTreeMap<String, jwt::Tally>| {
        let mut s = tallied.lock().unwrap_or_else(|e| e.into_inner());
        s.checks = tallies.values().map(|t| t.sent).sum();
        s.by_probe.clone_from(tallies);
    };
    let task = Background::spawn(move |mut shutdown| async move {
        if settings.jwt.is_empty() {
            return;
        }
        // A deployment that fails the set-up now (a 500 under the load's first burst) may not
        // later: retried for the whole run.
        let mut setup = SetUp::default();
        let subjects = setup.retry("jwt probes", &mut shutdown, |n| subjects(&netra, &run_tag, n)).await;
        let Some(subjects) = subjects else {
            let why =
                setup.last_error.unwrap_or_else(|| "jwt probes: the run ended before their set-up".into());
            update(&mut |s| (s.setup_failures, s.setup_error) = (setup.failures, Some(why.clone())));
            return;
        };
        let at = started.elapsed().as_secs_f64();
        update(&mut |s| {
            (s.setup_failures, s.started_s, s.setup_error) =
                (setup.failures, Some(at), setup.last_error.clone());
        });
        let mut probes = jwt::probes(&subjects, secret.as_deref(), &settings.jwt);
        let mut tallies = BTreeMap::new();
        loop {
            let found = jwt::round(&netra, &probes, &findings, &mut tallies, &publish).await;
            update(&mut |s| s.rounds += 1);
            // Logins once a run: a deployment's lockout after failed logins must not lock a real
            // account out, and the twin logins' sessions need not pile up.
            probes.retain(|p| !p.probe.logs_in());
            for f in found {
                findings.report(f);
            }
            let Some(every) = settings.every else { break };
            if !shutdown.sleep(every).await {
                break;
            }
        }
    });
    JwtProbes { task, summary }
}

/// Three fresh users: `a` with a live pair, `b` whose id a tampered token claims, and one whose
/// pair was logged out.
async fn subjects(netra: &Netra, run_tag: &str, attempt: u64) -> Result<jwt::Subjects, CallError> {
    let mut users = Vec::new();
    let mut a_account = None;
    for (slot, who) in ["a", "b", "r"].into_iter().enumerate() {
        // Each attempt registers users of its own: one that failed halfway left some behind.
        let email = format!("nl-{run_tag}-prober-{who}{attempt}@example.com");
        let fresh = Identity::new(email, "netra-load prober", "free");
        let identity = netra.api().provisioning.identity(fresh, Slot::Prober(slot));
        users.push(netra.provision(&identity).await?);
        if slot == 0 && netra.api().provisioning.has_passwords() {
            // The account a wrong password must not open.
            a_account = Some((identity.email, identity.password));
        }
    }
    let revoked = users.pop().expect("three users");
    netra.logout(&revoked.access).await?;
    let b = users.pop().expect("two users");
    let a = users.pop().expect("one user");
    Ok(jwt::Subjects { a, a_account, b, revoked })
}
