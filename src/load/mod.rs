//! The only code that touches Goose. A [`Plan`] becomes one Goose scenario per running persona
//! (weighted as the profile says) with one transaction per journey step, or the open model's
//! schedule; the attack runs with our own measurements going to a [`Collector`], beside the
//! probes, and returns them. What runs was decided before (`config`): nothing here skips a
//! persona.
//!
//! Goose's global state (its Ctrl-C handler and killswitch) stays behind this module: one attack
//! per process at a time.

mod live;
pub mod open;
mod progress;
mod users;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use goose::config::GooseConfiguration;
use goose::prelude::*;

use crate::client::Netra;
use crate::config::{PersonaPlan, Plan, Stop};
use crate::findings::{Finding, FindingSink};
use crate::isolation::{Isolation, IsolationSummary};
use crate::journeys::concurrency::{self, Suspects};
use crate::journeys::{Context, Live, RunEnd};
use crate::metrics::{Collector, EndedBy, Gauges, LiveMetrics, Snapshot};
use crate::probes::{self, ProbeSummary};
pub use progress::Progress;

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The first SIGINT or SIGTERM stops the users gracefully (the run ends, the report of what ran
/// is written, exit 130); a second one exits at once. Installed before Goose, whose own handler
/// then stands aside.
pub fn handle_interrupts() {
    let installed = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
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
    INTERRUPTED.load(Ordering::SeqCst)
}

pub struct LoadResult {
    pub snapshot: Snapshot,
    pub isolation: IsolationSummary,
    pub probes: ProbeSummary,
    pub findings: Vec<Finding>,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    pub elapsed: Duration,
    pub ended_by: EndedBy,
    /// From the process's start to the load's.
    pub startup: Option<Duration>,
    /// The open model's schedule and what became of it (`None`: the closed model).
    pub arrival: Option<crate::metrics::ArrivalReport>,
}

/// Runs the attack to its end (time, iterations or Ctrl-C); `metrics` are the live ones of
/// `--metrics-addr`, when served.
pub async fn run(
    plan: &Plan,
    netra: Netra,
    progress: Progress,
    metrics: Option<&Arc<LiveMetrics>>,
) -> anyhow::Result<LoadResult> {
    // A run before this one in the process stopped Goose by its killswitch (the run time's end).
    goose::reset_killswitch();
    let started = Instant::now();
    let started_at = SystemTime::now();
    let live = Arc::new(Live::default());
    let gauges = {
        let (active, begun, waiting) = (live.clone(), live.clone(), live.clone());
        Gauges {
            active: Arc::new(move || active.users_started.load(Ordering::Relaxed)),
            begun: Arc::new(move || begun.journeys_started.count()),
            waiting: Arc::new(move || waiting.waiting.any()),
            ramp: ramp(plan),
        }
    };
    let recorder = Collector::spawn_live(started, gauges, metrics.cloned());
    let findings = Arc::new(FindingSink::new(started, live.users_started.clone()));
    // The run is over when Goose stops its users (ramp, then the run time) or on Ctrl-C; steps
    // in flight are cut then.
    let end = Arc::new(RunEnd::default());
    // The run time covers the whole run, the ramp included (as k6's stages do): users still to
    // be started when it ends never start.
    let deadline = match plan.stop {
        Stop::After(d) => Some(started + d),
        Stop::Iterations(_) => None,
    };
    let ending = end.clone();
    let stopper = tokio::spawn(async move {
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            let due = interrupted() || deadline.is_some_and(|d| Instant::now() >= d);
            if due && !goose::is_killswitch_triggered() {
                // Goose runs longer than the run time (below): this stops it on time. Asked
                // again until the load ends, as Goose resets its killswitch when it starts.
                goose::trigger_killswitch(if interrupted() { "interrupted" } else { "run time" });
            }
            if due || goose::is_killswitch_triggered() {
                ending.end();
            }
        }
    });
    let isolation = Arc::new(Isolation::new(findings.clone()));
    let suspects = Arc::new(Suspects::default());
    // Every body and frame the simulated users receive goes past the isolation scanner.
    let watched = if plan.scan { netra.clone().watched(isolation.clone()) } else { netra.clone() };
    let contexts: Vec<(&PersonaPlan, Arc<Context>)> = plan
        .personas
        .iter()
        .enumerate()
        .filter(|(_, persona)| persona.runs)
        .map(|(index, persona)| {
            let ctx = Context {
                journey: persona.journey,
                steps: persona.steps.clone(),
                netra: watched.clone(),
                recorder: recorder.clone(),
                live: live.clone(),
                findings: findings.clone(),
                isolation: isolation.clone(),
                suspects: suspects.clone(),
                persona: index,
                plan_tier: persona.plan_tier.clone(),
                expect: plan.expect,
                run_tag: plan.run_tag.clone(),
                first_user: plan.first_user,
                end: end.clone(),
            };
            (persona, Arc::new(ctx))
        })
        .collect();
    if contexts.is_empty() && plan.probes.jwt.is_empty() {
        // The plan was checked to run a persona or the probes; a plan made by hand may not.
        anyhow::bail!("no persona of the plan runs, and no probe");
    }
    let secret = plan.jwt_secret.as_ref().map(|s| s.expose().to_owned());
    // What the JWT probes receive is scanned too: the prober is one viewer, owning nothing of the
    // users'. (The isolation prober reads its own answers: it knows which id it sent.)
    let prober = probes::spawn(
        watched.for_viewer(crate::isolation::PROBER),
        plan.probes.clone(),
        secret,
        plan.run_tag.clone(),
        findings.clone(),
        started,
    );
    if let Some(metrics) = metrics {
        live::attach(metrics, &live, &findings, &isolation, &prober);
    }
    let isolation_prober = plan
        .isolation_every
        .map(|every| probes::isolation::spawn(netra.clone(), isolation.clone(), every, plan.run_tag.clone()));
    let ticker = progress.start(plan, live.clone(), started);
    let arrival = match (plan.arrival, plan.stop) {
        (Some(rate), Stop::After(run_time)) => {
            let open = open::Schedule { per_second: rate, max_in_flight: plan.users, run_time };
            Some(open::run(open, &contexts, &live, started).await)
        }
        _ if contexts.is_empty() => {
            probes_alone(plan, &end).await;
            None
        }
        _ => {
            closed(plan, &netra, &contexts).await?;
            None
        }
    };
    recorder.users_done();
    ticker.finish();
    stopper.abort();
    let probes = prober.finish().await;
    let prober_setup = match isolation_prober {
        Some(p) => p.finish().await,
        None => probes::isolation::SetUpReport::default(),
    };
    let mut isolation = isolation.summary();
    (isolation.setup_error, isolation.setup_failures) = (prober_setup.error, prober_setup.failures);
    let snapshot = recorder.finish().await;
    let elapsed = started.elapsed();
    let ended_by = match plan.stop {
        _ if interrupted() => EndedBy::Interrupted,
        Stop::After(d) if elapsed + Duration::from_millis(500) >= d => EndedBy::RunTime,
        Stop::Iterations(_) if !goose::is_killswitch_triggered() => EndedBy::Iterations,
        Stop::After(_) => EndedBy::Interrupted,
        Stop::Iterations(_) => EndedBy::Interrupted,
    };
    if !suspects.is_empty() && ended_by != EndedBy::Interrupted {
        replay_suspects(&contexts, &suspects, &snapshot, started).await;
    }
    Ok(LoadResult {
        snapshot,
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

/// Replays the steps whose valid requests failed under load, one user at a time
/// (`journeys::concurrency`), after the run's time.
async fn replay_suspects(
    contexts: &[(&PersonaPlan, Arc<Context>)],
    suspects: &Suspects,
    snapshot: &Snapshot,
    started: Instant,
) {
    eprintln!(
        "replaying, one user at a time, the steps that failed with a 5xx or a broken exchange (at most {} s)",
        concurrency::REPLAY_TIME.as_secs()
    );
    let attempts = |persona: usize, step: &str| -> u64 {
        let of_persona = snapshot.journeys.iter().filter(|((p, _), _)| *p == persona);
        let series = of_persona.flat_map(|(_, j)| j.steps.iter()).filter(|(name, _)| *name == step);
        series.map(|(_, s)| s.histogram.count() + s.failures).sum()
    };
    let contexts: Vec<&Context> = contexts.iter().map(|(_, c)| c.as_ref()).collect();
    concurrency::replay(&contexts, suspects, attempts, started).await;
}

/// Until every user is started, as planned (the run time at most, which includes it); none in
/// the open model or a run of the probes alone.
pub fn ramp(plan: &Plan) -> Duration {
    if !plan.personas.iter().any(|p| p.runs) || plan.arrival.is_some() {
        return Duration::ZERO;
    }
    let ramp = Duration::from_secs_f64(plan.users as f64 / plan.increase_rate);
    match plan.stop {
        Stop::After(d) => ramp.min(d),
        Stop::Iterations(_) => ramp,
    }
}

/// A run of the probes alone (no persona can run: an auth service tested by itself with minted
/// users): the probes run for the run time; with iterations, their first round is the run.
async fn probes_alone(plan: &Plan, end: &RunEnd) {
    if let Stop::After(_) = plan.stop {
        // The stopper says when the run time is over, or the run was interrupted.
        end.over(&end.waiter()).await;
    }
}

/// The closed model: Goose users, a scenario per persona, a transaction per step.
async fn closed(plan: &Plan, netra: &Netra, contexts: &[(&PersonaPlan, Arc<Context>)]) -> anyhow::Result<()> {
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
        for step in &ctx.steps {
            scenario = scenario.register_transaction(users::transaction(ctx.clone(), *step));
        }
        attack = attack.register_scenario(scenario);
    }
    let _goose_stdout = StdoutAside::new();
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
            // Goose counts its run time from the last user's start; ours counts from the first,
            // and stops Goose (`run`'s stopper): Goose's own end is only a backstop.
            config.run_time = Some(format!("{}", d.as_secs() + 2));
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

/// Goose prints a few lines (e.g. "All 10 users launched.", "All 1 users launched.") on stdout,
/// which is the summary's; the progress line says the same in its own words. While this guard
/// lives, file descriptor 1 points at /dev/null; dropping it puts stdout back.
struct StdoutAside {
    #[cfg(unix)]
    saved: Option<std::os::fd::OwnedFd>,
}

impl StdoutAside {
    fn new() -> StdoutAside {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        #[cfg(unix)]
        {
            use std::os::fd::{AsFd, AsRawFd, OwnedFd};
            let saved = std::io::stdout().as_fd().try_clone_to_owned().ok();
            let sink: Option<OwnedFd> =
                std::fs::OpenOptions::new().write(true).open("/dev/null").ok().map(OwnedFd::from);
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
