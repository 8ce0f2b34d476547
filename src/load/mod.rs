//! The only code that touches Goose. A [`Plan`] becomes one Goose scenario per persona (weighted
//! as the profile says) with one transaction per journey step; the attack runs with our own
//! measurements going to a [`Collector`], and returns them.
//!
//! Goose's global state (its Ctrl-C handler and killswitch) stays behind this module: one attack
//! per process at a time.

mod bench;
mod flows;
pub mod journey;
pub mod open;
mod progress;
mod rate_limit;
mod signup_chat;
mod token_refresh;
mod users;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use goose::config::GooseConfiguration;
use goose::prelude::*;

use crate::client::Netra;
use crate::findings::{Finding, FindingSink};
use crate::isolation::{Isolation, IsolationSummary};
use crate::metrics::{Collector, Snapshot};
use crate::probes::{self, ProbeSettings, ProbeSummary};
use crate::target::Secret;
use journey::{Context, JourneyKind, Live};
pub use progress::Progress;

/// How the run stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    After(Duration),
    Iterations(usize),
}

#[derive(Clone, Debug)]
pub struct PersonaPlan {
    pub name: String,
    pub weight: usize,
    pub journey: String,
    pub plan_tier: String,
}

/// What the deployment's limits are expected to be, for the rate-limit checks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expect {
    /// Requests a fresh user may send at once before a 429.
    pub burst: u32,
    /// Chat messages a free user may send a day.
    pub free_quota: u32,
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The first SIGINT or SIGTERM stops the users gracefully (the run ends, the report of what ran
/// is written, exit 130); a second one exits at once. Installed before Goose, whose own handler
/// then stands aside.
pub fn handle_interrupts() {
    let installed = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            eprintln!("interrupted again: exiting now, without a report");
            std::process::exit(i32::from(crate::exit::INTERRUPTED));
        }
        eprintln!("interrupted: stopping the users and writing the report (interrupt again to quit now)");
        goose::trigger_killswitch("interrupted");
    });
    if let Err(e) = installed {
        tracing::warn!("cannot handle interrupts: {e}");
    }
}

/// Whether the run was interrupted (SIGINT or SIGTERM).
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// How long the probes may take to stop once the run is over.
pub const FINISH_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct Plan {
    /// Simulated users (closed model), or the most journeys in flight at once (open model).
    pub users: usize,
    /// Journeys started per second whatever the completions (the open model); `None`: the
    /// closed model, each user starting its next journey when the last one ends.
    pub arrival: Option<f64>,
    /// The number of this process's first user in the whole run (`--segment`): user numbers in
    /// findings and accounts from a credentials file are the whole run's.
    pub first_user: usize,
    /// Users started per second.
    pub increase_rate: f64,
    pub stop: Stop,
    pub personas: Vec<PersonaPlan>,
    pub run_tag: String,
    pub expect: Expect,
    pub probes: ProbeSettings,
    /// Passive scanning of what the users receive.
    pub scan: bool,
    /// How often the isolation prober tries a victim's thread (`None`: never).
    pub isolation_every: Option<Duration>,
    /// The signing secret, when known: some JWT probes need it.
    pub jwt_secret: Option<Secret>,
}

pub struct LoadResult {
    pub snapshot: Snapshot,
    /// Personas not run, with the reason.
    pub skipped: Vec<String>,
    /// Journeys, steps and personas that no running persona covers.
    pub not_run: Vec<String>,
    pub isolation: IsolationSummary,
    pub probes: ProbeSummary,
    pub findings: Vec<Finding>,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    pub elapsed: Duration,
    pub ended_by: String,
    /// From the process's start to the load's.
    pub startup: Option<Duration>,
    /// The open model's schedule and what became of it (`None`: the closed model).
    pub arrival: Option<open::ArrivalReport>,
}

/// Runs the attack to its end (time, iterations or Ctrl-C).
pub async fn run(plan: &Plan, netra: Netra, progress: Progress) -> anyhow::Result<LoadResult> {
    let quiet = progress == Progress::Quiet;
    let started = Instant::now();
    let started_at = SystemTime::now();
    let live = Arc::new(Live::default());
    let active = {
        let live = live.clone();
        Arc::new(move || live.users_started.load(std::sync::atomic::Ordering::Relaxed))
    };
    let recorder = Collector::spawn(started, JourneyKind::SignupChat.name(), active);
    let findings = Arc::new(FindingSink::default());
    // The run is over when Goose stops its users (ramp, then the run time) or on Ctrl-C; steps
    // in flight are cut then.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let deadline = match plan.stop {
        // The open model starts no users: its run time counts from the start.
        Stop::After(d) if plan.arrival.is_some() => Some(started + d),
        Stop::After(d) => Some(started + d + Duration::from_secs_f64(plan.users as f64 / plan.increase_rate)),
        Stop::Iterations(_) => None,
    };
    let stopper = tokio::spawn(async move {
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            if interrupted() && !goose::is_killswitch_triggered() {
                // Interrupted before Goose started (which resets its killswitch): stop it now.
                goose::trigger_killswitch("interrupted");
            }
            if goose::is_killswitch_triggered() || deadline.is_some_and(|d| Instant::now() >= d) {
                let _ = stop_tx.send(true);
                return;
            }
        }
    });
    // Our steps use the client in `netra`; one shared Goose client (instead of one per user,
    // ~140 KiB and a TLS setup each) keeps Goose's own cost flat.
    let stamp_live = live.clone();
    let stamp: probes::Stamp = Arc::new(move |kind: &str, endpoint: &str| {
        let active = stamp_live.users_started.load(std::sync::atomic::Ordering::Relaxed);
        Finding::new(kind, "high", vec!["prober".into()], endpoint, started.elapsed().as_secs_f64(), active)
    });
    let isolation = Arc::new(Isolation::new(findings.clone(), stamp.clone()));
    // Every body and frame the simulated users receive goes past the isolation scanner.
    let watched = if plan.scan { netra.clone().watched(isolation.clone()) } else { netra.clone() };
    let mut skipped = Vec::new();
    let mut contexts = Vec::new();
    let mut ran = Vec::new();
    for (index, persona) in plan.personas.iter().enumerate() {
        let journey = JourneyKind::parse(&persona.journey).ok_or_else(|| {
            anyhow::anyhow!("persona `{}`: unknown journey `{}`", persona.name, persona.journey)
        })?;
        let needs_sessions = matches!(journey, JourneyKind::TokenRefresh | JourneyKind::MultiDevice);
        if needs_sessions && !netra.api().provisioning.has_sessions() {
            skipped.push(format!(
                "persona `{}` ({}): needs refresh tokens and logout sessions, which minted users do not have",
                persona.name, persona.journey
            ));
            continue;
        }
        if !netra.has_backend() {
            if journey != JourneyKind::TokenRefresh {
                skipped.push(format!(
                    "persona `{}` ({}): needs the backend, and this run tests the auth service alone",
                    persona.name, persona.journey
                ));
                continue;
            }
            skipped.push(format!(
                "persona `{}` (token-refresh): the backend checks use the auth service's {} instead, and the WebSocket reconnect is skipped: this run tests the auth service alone",
                persona.name,
                netra.api().me
            ));
        }
        if journey == JourneyKind::RateLimit && netra.api().provisioning.reuses_accounts() {
            skipped.push(format!(
                "persona `{}` ({}): needs a fresh user per journey (its own bucket and quota); accounts from a credentials file carry theirs over",
                persona.name, persona.journey
            ));
            continue;
        }
        let ctx = Arc::new(Context {
            netra: watched.clone(),
            isolation: isolation.clone(),
            recorder: recorder.clone(),
            live: live.clone(),
            findings: findings.clone(),
            journey,
            persona: index,
            plan_tier: persona.plan_tier.clone(),
            expect: plan.expect,
            run_tag: plan.run_tag.clone(),
            first_user: plan.first_user,
            started,
            stop: stop_rx.clone(),
        });
        contexts.push((persona, ctx));
        ran.push((persona.name.as_str(), journey));
    }
    let secret = plan.jwt_secret.as_ref().map(|s| s.expose().to_owned());
    let prober = probes::spawn(
        netra.clone(),
        plan.probes.clone(),
        secret,
        plan.run_tag.clone(),
        findings.clone(),
        stamp,
    );
    let not_run = not_run(&plan.personas, &ran);
    if ran.is_empty() {
        anyhow::bail!("every persona was skipped: {}", skipped.join("; "));
    }
    for line in &skipped {
        tracing::warn!("skipped {line}");
    }
    // The isolation probes ask the backend for other users' objects.
    let isolation_every = plan.isolation_every.filter(|_| netra.has_backend());
    if plan.isolation_every.is_some() && isolation_every.is_none() {
        skipped.push(
            "isolation probes: they need the backend, and this run tests the auth service alone".into(),
        );
    }
    let isolation_prober = isolation_every.map(|every| {
        crate::isolation::probe::spawn(netra.clone(), isolation.clone(), every, plan.run_tag.clone())
    });
    let ticker = progress.start(plan, live.clone(), started);
    let arrival = match (plan.arrival, plan.stop) {
        (Some(rate), Stop::After(run_time)) => {
            let open = open::Schedule { per_second: rate, max_in_flight: plan.users, run_time };
            Some(open::run(open, &contexts, &live, started).await)
        }
        _ => {
            closed(plan, &netra, &contexts, quiet).await?;
            None
        }
    };
    ticker.finish();
    stopper.abort();
    let probes = prober.finish().await;
    let isolation_error = match isolation_prober {
        Some(p) => p.finish().await,
        None => None,
    };
    let mut isolation = isolation.summary();
    isolation.setup_error = isolation_error;
    let snapshot = recorder.finish().await;
    let elapsed = started.elapsed();
    let ended_by = match plan.stop {
        _ if interrupted() || goose::is_killswitch_triggered() => "interrupted".to_owned(),
        Stop::After(d) if elapsed + Duration::from_millis(500) >= d => "run_time".to_owned(),
        Stop::After(_) => "interrupted".to_owned(),
        Stop::Iterations(_) => "iterations".to_owned(),
    };
    Ok(LoadResult {
        snapshot,
        skipped,
        not_run,
        isolation,
        probes,
        findings: findings.all(),
        started_at,
        ended_at: SystemTime::now(),
        elapsed,
        ended_by,
        startup: crate::process_started().map(|p| started.saturating_duration_since(p)),
        arrival,
    })
}

/// The closed model: Goose users, a scenario per persona, a transaction per step.
async fn closed(
    plan: &Plan,
    netra: &Netra,
    contexts: &[(&PersonaPlan, Arc<Context>)],
    quiet: bool,
) -> anyhow::Result<()> {
    // One shared Goose client (instead of one per user, ~140 KiB and a TLS setup each) keeps
    // Goose's own cost flat; our steps use the client in `netra`.
    let shared = goose::client::GooseClientBuilder::new().without_cookies();
    let mut attack = GooseAttack::initialize_with_config(goose_config(plan, netra))
        .and_then(|a| a.set_client_builder_without_cookies(shared))
        .map_err(|e| anyhow::anyhow!("cannot set up the load engine: {e:?}"))?;
    for (persona, ctx) in contexts {
        let mut scenario = Scenario::new(&persona.name)
            .set_weight(persona.weight)
            .map_err(|e| anyhow::anyhow!("persona `{}`: {e:?}", persona.name))?;
        for step in ctx.journey.steps() {
            scenario = scenario.register_transaction(users::transaction(ctx.clone(), *step));
        }
        attack = attack.register_scenario(scenario);
    }
    let _goose_stdout = StdoutAside::new(quiet);
    attack.execute().await.map_err(|e| anyhow::anyhow!("the load engine failed: {e:?}"))?;
    Ok(())
}

fn goose_config(plan: &Plan, netra: &Netra) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    // Goose wants a host; every call of ours carries full URLs, so it is only a label.
    config.host = Some(netra.auth_url(""));
    config.users = Some(plan.users);
    config.increase_rate = Some(format!("{}", plan.increase_rate));
    match plan.stop {
        Stop::After(d) => {
            config.run_time = Some(format!("{}", d.as_secs().max(1)));
            // Keep the whole run's statistics: Goose would reset them once all users are
            // launched. (With iterations Goose never resets, and refuses the flag.)
            config.no_reset_metrics = true;
        }
        Stop::Iterations(n) => config.iterations = Some(n),
    }
    config.no_telnet = true;
    // netra-load times every step itself (HDR histograms, failures by kind): Goose's own
    // metrics would only double the cost of every request (measured: bench/peers.sh).
    config.no_metrics = true;
    config.no_transaction_metrics = true;
    config.no_scenario_metrics = true;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    config.quiet = 1;
    config
}

/// Goose prints a few lines (e.g. "10 users launched.") on stdout, which is the summary's. While
/// this guard lives, file descriptor 1 points at stderr (at /dev/null when quiet); dropping it
/// puts stdout back.
struct StdoutAside {
    #[cfg(unix)]
    saved: Option<std::os::fd::OwnedFd>,
}

impl StdoutAside {
    fn new(quiet: bool) -> StdoutAside {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        #[cfg(unix)]
        {
            use std::os::fd::{AsFd, AsRawFd, OwnedFd};
            let saved = std::io::stdout().as_fd().try_clone_to_owned().ok();
            let sink: Option<OwnedFd> = if quiet {
                std::fs::OpenOptions::new().write(true).open("/dev/null").ok().map(OwnedFd::from)
            } else {
                std::io::stderr().as_fd().try_clone_to_owned().ok()
            };
            // SAFETY: dup2 onto fd 1, which this process owns for its whole life, from a
            // descriptor we own; it only changes what fd 1 refers to.
            match (&saved, sink) {
                (Some(_), Some(sink)) if unsafe { libc::dup2(sink.as_raw_fd(), 1) } >= 0 => {
                    StdoutAside { saved }
                }
                _ => StdoutAside { saved: None },
            }
        }
        #[cfg(not(unix))]
        StdoutAside {}
    }
}

impl Drop for StdoutAside {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        #[cfg(unix)]
        if let Some(saved) = self.saved.take() {
            use std::os::fd::AsRawFd;
            // SAFETY: as above; `saved` is a valid descriptor we own until it drops here.
            unsafe { libc::dup2(saved.as_raw_fd(), 1) };
        }
    }
}

/// What the profile names that no running persona covers: the skipped personas, their journeys
/// and the steps only those journeys have.
fn not_run(personas: &[PersonaPlan], ran: &[(&str, JourneyKind)]) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    let ran_steps: Vec<&str> = ran.iter().flat_map(|(_, j)| j.steps().iter().map(|s| s.name())).collect();
    for persona in personas.iter().filter(|p| !ran.iter().any(|(name, _)| *name == p.name)) {
        out.insert(persona.name.clone());
        let Some(journey) = JourneyKind::parse(&persona.journey) else { continue };
        if !ran.iter().any(|(_, j)| *j == journey) {
            out.insert(journey.name().to_owned());
        }
        for step in journey.steps().iter().map(|s| s.name()).filter(|s| !ran_steps.contains(s)) {
            out.insert(step.to_owned());
        }
    }
    out.into_iter().collect()
}
