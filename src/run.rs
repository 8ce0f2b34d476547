//! `netra-load run`: resolve the flags and profile, start the embedded target when no deployment
//! is given, check that Netra answers, drive the load, then judge, report and return the exit code.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::bounds::{CALL_TIMEOUT, HEALTH_TIMEOUT};
use crate::cli::RunArgs;
use crate::client::{Failure, Identity, Netra, Provisioning, Slot};
use crate::config::{self, Deployment, RunConfig, Stop};
use crate::load::{self, LoadResult, Progress};
use crate::metrics::{EndedBy, LiveMetrics, MetricsServer};
use crate::report::{self, Cohort, ErrorReport, JourneyReport, PersonaReport, Report, Stats};
use crate::{Outcome, reference, verdict};

pub async fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let config = config::resolve(args)?;
    // Found only after the load, a folder that cannot be written would lose the run's results.
    report::check_writable(&config.report_dir).context("--report-dir")?;
    for check in &config.plan.checks {
        match &check.skipped {
            None => tracing::debug!("will check {}", check.check),
            Some(why) => tracing::debug!("will not check {}: {why}", check.check),
        }
    }
    // Bound before anything starts: an address that cannot be served is a usage error (exit 2).
    let metrics = match config.metrics_addr {
        Some(addr) => {
            let live = Arc::new(LiveMetrics::new(config.plan.personas.iter().map(|p| p.name.clone())));
            let server = MetricsServer::start(addr, live.clone()).await?;
            if !config.quiet {
                eprintln!("metrics: serving Prometheus metrics at {}", server.url());
            }
            Some((live, server))
        }
        None => None,
    };
    load::handle_interrupts();
    raise_fd_limit(config.plan.users);
    let (embedded, auth_url, backend_url) = match &config.deployment {
        Deployment::Embedded(target_config) => {
            let t =
                reference::start((**target_config).clone()).await.context("starting the embedded target")?;
            let urls = (t.auth_url().to_owned(), t.backend_url().to_owned());
            (Some(t), urls.0, urls.1)
        }
        Deployment::Remote { auth_url, backend_url } => {
            (None, auth_url.clone(), backend_url.clone().unwrap_or_default())
        }
    };
    let backend = Some(backend_url.as_str()).filter(|b| !b.is_empty());
    let netra = Netra::new(&auth_url, backend, CALL_TIMEOUT)
        .map_err(anyhow::Error::msg)?
        .with_api(config.api.clone());
    let embedded_faults = match &config.deployment {
        Deployment::Embedded(_) if config.fault_names.is_empty() => Some(String::new()),
        Deployment::Embedded(_) => Some(format!(" (with --target-fault {})", config.fault_names.join(", "))),
        Deployment::Remote { .. } => None,
    };
    let checked = async {
        preflight(&netra, embedded_faults.is_some()).await?;
        preflight_user(&netra, &config.plan.run_tag).await
    }
    .await;
    if let (Err(e), Some(faults)) = (&checked, &embedded_faults) {
        // Its URLs are its own, not the user's: say which target failed.
        bail!("the embedded target failed its start-up check{faults}: {e:#}");
    }
    checked?;
    // Said once the run is about to start: a run refused at preflight has only that to say.
    for note in config.plan.personas.iter().filter_map(|p| p.note.as_ref()) {
        tracing::warn!("skipped {note}");
    }
    if let (Stop::After(d), None) = (config.plan.stop, config.plan.arrival) {
        let ramp = config.plan.users as f64 / config.plan.increase_rate;
        if ramp > d.as_secs_f64() && config.plan.personas.iter().any(|p| p.runs) {
            let starts = (d.as_secs_f64() * config.plan.increase_rate).floor().max(1.0);
            tracing::warn!(
                "the ramp ({} users at {}/s: {ramp:.1} s) is longer than the run time ({} s), which includes it: only about {starts} users will start; raise -t or -r",
                config.plan.users,
                config.plan.increase_rate,
                d.as_secs_f64()
            );
        }
    }
    if let Some(at) = config.start_at {
        // Checked at the command line; the checks since may have taken a moment of it.
        if let Ok(wait) = at.duration_since(std::time::SystemTime::now()) {
            if !config.quiet {
                eprintln!(
                    "waiting {:.1} s for the common start at {}",
                    wait.as_secs_f64(),
                    humantime::format_rfc3339_millis(at)
                );
            }
            tokio::time::sleep(wait).await;
        }
    }
    let progress = Progress::choose(config.quiet, config.no_progress);
    let result = load::run(&config.plan, netra, progress, metrics.as_ref().map(|(live, _)| live)).await?;
    if let Some(t) = embedded {
        t.shutdown().await;
    }
    let mut report = build_report(&config, &result, &auth_url, &backend_url);
    for finding in &mut report.findings {
        finding.known = config.known_findings.contains(&finding.kind);
    }
    report.coverage = crate::coverage::ledger(&config.plan.checks, &config.plan.personas, &report);
    report.judge(&config.targets);
    let written = report.write_run_folder(&config.report_dir);
    if !config.quiet {
        let mut out = std::io::stdout().lock();
        report::render::summary(&report, &mut out)?;
        if let Ok(folder) = &written {
            writeln!(out, "report: {} (run {})", folder.display(), report.run.run_id)?;
        }
    }
    let left = if config.quiet { "" } else { " (the summary on stdout is what is left)" };
    let folder =
        written.with_context(|| format!("the run ended, but its reports could not be written{left}"))?;
    if let Some((_, server)) = metrics {
        server.stop().await;
    }
    let exit_code = if result.ended_by == EndedBy::Interrupted {
        crate::exit::INTERRUPTED
    } else {
        report.verdict.exit_code
    };
    Ok(Outcome { exit_code, run_folder: Some(folder) })
}

/// Each simulated user needs about four descriptors; ask for that, and say so if we cannot.
fn raise_fd_limit(users: usize) {
    let wanted = (users as u64).saturating_mul(8).saturating_add(256);
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got < wanted => eprintln!(
            "warning: the open-file limit is {got}, {users} users want about {wanted}: raise the hard limit (ulimit -Hn) or use fewer users"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
}

/// Both services must answer their health check before any user starts. The embedded target's
/// URLs are not the user's to check.
async fn preflight(netra: &Netra, embedded: bool) -> anyhow::Result<()> {
    let mut services = vec![("auth service", netra.auth_url("/health"))];
    if netra.has_backend() {
        services.push(("backend", netra.backend_url("/health")));
    }
    for (service, url) in services {
        match netra.request(crate::client::Method::GET, &url).timeout(HEALTH_TIMEOUT).send().await {
            Ok(resp) if resp.status.is_success() => {}
            Ok(resp) => bail!("the {service} is not healthy: GET {url} answered {}", resp.status),
            Err(e) if embedded => bail!("its {service} did not answer GET {url}: {}", root_cause(&e)),
            Err(e) => bail!(
                "cannot reach the {service} at {url}: {}; check the URL and that it is running",
                root_cause(&e)
            ),
        }
    }
    Ok(())
}

/// One user goes through provisioning (register, login) and the WebSocket upgrade before any
/// simulated user starts, so a deployment that cannot serve the journeys fails fast and clearly.
async fn preflight_user(netra: &Netra, run_tag: &str) -> anyhow::Result<()> {
    let api = netra.api();
    // With existing accounts: the first simulated user's, which it will log in with anyway.
    let who = api.provisioning.identity(
        Identity::new(format!("nl-{run_tag}-preflight@example.com"), "netra-load preflight", "free"),
        Slot::User(0),
    );
    let (how, url) = match api.provisioning {
        Provisioning::Register => ("register and log in", netra.auth_url(&api.register)),
        Provisioning::Login(_) => ("log in with the credentials file's accounts", netra.auth_url(&api.login)),
        Provisioning::DevLogin => ("dev login", netra.auth_url(&api.dev_login)),
        Provisioning::Mint(_) => ("use a minted token", netra.backend_url(&api.profile)),
    };
    let login = netra.provision(&who).await.map_err(|e| {
        // No such endpoint: the deployment provisions users another way.
        let other_way = match (&e.kind, &api.provisioning) {
            (Failure::Status(404 | 405), Provisioning::Register) => {
                "; the service has no such endpoint: try --provisioning dev-login (Netra s1), mint (with NETRA_JWT_SECRET) or login (with --credentials)"
            }
            (Failure::Status(404 | 405), Provisioning::DevLogin) => {
                "; the service has no such endpoint: try --provisioning mint (with NETRA_JWT_SECRET), register, or login (with --credentials)"
            }
            _ => "",
        };
        anyhow::anyhow!("preflight: cannot {how} one user at {url}: {e}{other_way}")
    })?;
    if !netra.has_backend() {
        // The auth service alone: the token must work there.
        let me = netra.auth_url(&api.me);
        netra
            .me(&login.access)
            .await
            .map_err(|e| anyhow::anyhow!("preflight: the auth service refused its own token at {me}: {e}"))?;
        return Ok(());
    }
    if matches!(api.provisioning, Provisioning::Mint(_)) {
        // A minted token is only known to work once the backend has taken it.
        netra
            .profile(&login.access)
            .await
            .map_err(|e| anyhow::anyhow!("preflight: the backend refused a minted token at {url}: {e}"))?;
    }
    let chat = netra
        .chat(&login.access)
        .await
        .map_err(|e| anyhow::anyhow!("preflight: the WebSocket upgrade at {} failed: {e}", netra.ws_url()))?;
    chat.close().await;
    Ok(())
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn build_report(config: &RunConfig, result: &LoadResult, auth_url: &str, backend_url: &str) -> Report {
    let snap = &result.snapshot;
    let mut journeys: BTreeMap<String, JourneyReport> = BTreeMap::new();
    let mut personas = BTreeMap::new();
    for ((persona, journey), series) in &snap.journeys {
        let j = journeys.entry((*journey).to_owned()).or_default();
        j.stats.merge(&Stats::of(&series.total));
        for (step, s) in &series.steps {
            j.steps.entry((*step).to_owned()).or_default().merge(&Stats::of(s));
        }
        let plan = &config.plan.personas[*persona];
        personas.insert(
            plan.name.clone(),
            PersonaReport {
                journey: plan.journey.name.to_owned(),
                plan_tier: plan.plan_tier.clone(),
                weight: plan.weight,
                stats: Stats::of(&series.total),
            },
        );
    }
    let mut sizes: Vec<usize> = config
        .targets
        .iter()
        .filter_map(|t| match t.metric {
            verdict::Metric::Cohort(n) => Some(n),
            _ => None,
        })
        .collect();
    sizes.push(config.cohort);
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let cohorts = sizes
        .into_iter()
        .map(|n| {
            let completed_us = snap.completions.get(n - 1).map(|d| d.as_micros() as u64);
            (n.to_string(), Cohort { users: n, completed_us })
        })
        .collect();
    let mut errors: Vec<ErrorReport> = snap
        .errors
        .iter()
        .map(|((step, kind), e)| ErrorReport {
            step: step.to_string(),
            kind: kind.to_string(),
            count: e.count,
            sample: e.sample.clone(),
        })
        .collect();
    report::sort_errors(&mut errors);
    let plan = &config.plan;
    let (run_time_s, iterations) = match plan.stop {
        Stop::After(d) => (Some(d.as_secs_f64()), None),
        Stop::Iterations(n) => (None, Some(n)),
    };
    let kind = match &config.deployment {
        Deployment::Embedded(_) => "embedded",
        Deployment::Remote { backend_url: None, .. } => "auth-service",
        Deployment::Remote { .. } => "deployment",
    };
    Report {
        schema_version: report::SCHEMA_VERSION,
        tool: report::Tool { name: "netra-load".into(), version: env!("CARGO_PKG_VERSION").into() },
        run: report::RunInfo {
            run_id: uuid::Uuid::new_v4().to_string(),
            profile: config.profile.name.clone(),
            profile_source: config.profile.source.clone(),
            users: plan.users,
            increase_rate: plan.increase_rate,
            run_time_s,
            iterations,
            seed: config.seed,
            started_at: humantime::format_rfc3339_seconds(result.started_at).to_string(),
            ended_at: humantime::format_rfc3339_seconds(result.ended_at).to_string(),
            ended_by: result.ended_by,
            duration_s: result.elapsed.as_secs_f64(),
            target: report::DeploymentInfo {
                kind: kind.into(),
                auth_url: auth_url.into(),
                backend_url: backend_url.into(),
                faults: config.fault_names.clone(),
            },
            targets: config.targets.iter().map(|t| t.expr()).collect(),
            personas: plan
                .personas
                .iter()
                .map(|p| report::PersonaConfig {
                    name: p.name.clone(),
                    weight: p.weight,
                    journey: p.journey.name.to_owned(),
                    plan_tier: p.plan_tier.clone(),
                })
                .collect(),
            segment: config.segment.map(|s| s.to_string()),
            missing_segments: Vec::new(),
            started_at_ms: result
                .started_at
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as u64),
            start_spread_ms: None,
            start_at: config.start_at.map(|t| humantime::format_rfc3339_millis(t).to_string()),
            startup_ms: result.startup.map(|d| d.as_secs_f64() * 1000.0),
            peak_rss_kib: crate::peak_rss_kib(),
            merged_from: Vec::new(),
            embedded_target: match &config.deployment {
                Deployment::Embedded(t) => Some(report::EmbeddedConfig {
                    rate_limit: t.rate.to_string(),
                    burst: t.burst,
                    access_ttl_s: t.access_ttl.as_secs(),
                    refresh_ttl_s: t.refresh_ttl.as_secs(),
                    agent_latency_ms: t.agent_latency.as_secs_f64() * 1000.0,
                    jwt_secret: "[redacted]".into(),
                }),
                Deployment::Remote { .. } => None,
            },
        },
        journeys,
        personas,
        cohorts,
        // Enough completions for a merge to find every cohort again.
        completions_us: snap.completions.iter().take(largest).map(|d| d.as_micros() as u64).collect(),
        timeline: report::TimelineReport {
            ramp_s: load::ramp(plan).as_secs_f64(),
            windows: snap.windows.clone(),
            endpoints: endpoints(config),
        },
        errors,
        observations: snap
            .observed
            .iter()
            .map(|(name, o)| {
                let mean = if o.count == 0 { 0.0 } else { o.sum as f64 / o.count as f64 };
                let (count, min, max, expected) = (o.count, o.min, o.max, o.expected);
                let report = report::ObservationReport { count, min, max, mean, expected };
                ((*name).to_owned(), report)
            })
            .collect(),
        findings: result.findings.clone(),
        skipped: config.plan.skipped(),
        not_run: config.plan.not_run.clone(),
        arrival: result.arrival.clone(),
        probes: result.probes.clone(),
        isolation: result.isolation.clone(),
        service: snap.service.clone(),
        coverage: Vec::new(),
        degradation: Default::default(),
        verdict: verdict::Verdict { passed: false, outcome: None, exit_code: 0, targets: Vec::new() },
    }
}

/// The endpoints of every step the run's personas run, by step.
fn endpoints(config: &RunConfig) -> BTreeMap<String, Vec<String>> {
    let backend = config.deployment.has_backend();
    let steps = config.plan.personas.iter().filter(|p| p.runs).flat_map(|p| p.steps.iter().copied());
    steps.map(|s| (s.name().to_owned(), crate::journeys::endpoints::of(s, &config.api, backend))).collect()
}
