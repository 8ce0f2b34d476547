//! Parse, then resolve: clap's [`RunArgs`] and a profile become one validated [`RunConfig`],
//! with the run's [`Plan`] decided (which personas run, what is skipped and why, which probes
//! and checks run) before any target starts or any request is sent. Nothing after this reads
//! raw flags. Bad input is an [`InputError`] naming it.

pub mod api;
pub mod credentials;
mod error;
mod plan;
pub mod profile;

use std::path::PathBuf;
use std::time::Duration;

use crate::bounds;
use crate::cli::{RunArgs, Segment};
use crate::findings::FindingKind;
use crate::journeys::Expect;
use crate::reference::{Faults, Rate, ReferenceConfig, Secret, parse_duration};
use crate::verdict::Threshold;
pub use api::ProvisioningKind;
pub use error::InputError;
pub use plan::{PersonaPlan, Plan, Reach, Stop};

/// Where the load goes.
#[derive(Clone, Debug)]
pub enum Deployment {
    /// Started in-process on port 0 with this configuration, stopped at the end.
    Embedded(Box<ReferenceConfig>),
    /// A deployment; without a backend, the auth service alone is tested.
    Remote { auth_url: String, backend_url: Option<String> },
}

impl Deployment {
    /// Whether there is a backend to test (not only an auth service).
    pub fn has_backend(&self) -> bool {
        !matches!(self, Deployment::Remote { backend_url: None, .. })
    }
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub profile: profile::Loaded,
    /// The dialect the client speaks.
    pub api: crate::client::Api,
    pub plan: Plan,
    pub deployment: Deployment,
    pub fault_names: Vec<String>,
    pub targets: Vec<Threshold>,
    /// Finding kinds the profile accepts as known.
    pub known_findings: Vec<FindingKind>,
    pub cohort: usize,
    pub report_dir: PathBuf,
    pub seed: Option<u64>,
    pub segment: Option<Segment>,
    /// When the users start (`--start-at`): the run waits for it after its checks.
    pub start_at: Option<std::time::SystemTime>,
    pub quiet: bool,
    pub no_progress: bool,
    /// Where the live Prometheus metrics are served (`--metrics-addr`).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

const DEFAULT_RUN_TIME: Duration = Duration::from_secs(30);

pub fn resolve(args: RunArgs) -> Result<RunConfig, InputError> {
    let loaded = profile::load(&args.profile)?;
    let p = &loaded.profile;
    let at = |what: &str| InputError::profile(&loaded.source, what);
    let users = args.users.map(|u| u as usize).or(p.run.users).unwrap_or(10);
    if users == 0 {
        return Err(at("users must be at least 1"));
    }
    // All users within about a second, never slower than 1000 a second (Goose's default is 1).
    let increase_rate = args.increase_rate.or(p.run.increase_rate).unwrap_or(users.max(1000) as f64);
    if !(increase_rate.is_finite() && increase_rate > 0.0) {
        return Err(InputError::Invalid(format!(
            "increase rate {increase_rate}: give a number of users per second above 0"
        )));
    }
    // A segment runs its share of the users, arriving at its share of the rate.
    let (first_user, share) = args.segment.map_or((0, users), |s| s.share(users));
    if share == 0 {
        let segment = args.segment.map(|s| s.to_string()).unwrap_or_default();
        return Err(InputError::Flag {
            flag: "--segment",
            message: format!(
                "segment {segment} of {users} users has no user: use at most {users} segments or more users"
            ),
        });
    }
    let segment_rate = increase_rate * share as f64 / users as f64;
    let stop = match (args.run_time, args.iterations) {
        (Some(d), _) => Stop::After(d),
        (None, Some(n)) => Stop::Iterations(n as usize),
        (None, None) => match (&p.run.run_time, p.run.iterations) {
            (Some(_), Some(_)) => return Err(at("set run_time or iterations in [run], not both")),
            (Some(t), None) => {
                Stop::After(bounds::run_time(t).map_err(|e| at(&format!("[run] run_time: {e}")))?)
            }
            (None, Some(n)) => Stop::Iterations(n),
            (None, None) => Stop::After(DEFAULT_RUN_TIME),
        },
    };
    let arrival = match (&args.arrival_rate, &p.run.arrival_rate) {
        (Some(rate), _) => Some(rate.per_second()),
        (None, Some(text)) => {
            Some(text.parse::<Rate>().map_err(|e| at(&format!("[run] arrival_rate: {e}")))?.per_second())
        }
        (None, None) => None,
    };
    if let (Some(_), Stop::Iterations(_)) = (arrival, stop) {
        return Err(at(
            "the open model (arrival rate) runs for a time: give a run time instead of iterations",
        ));
    }
    if arrival.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(InputError::Invalid("the arrival rate must be above 0, e.g. 50/s".into()));
    }
    if stop == Stop::After(Duration::ZERO) || stop == Stop::Iterations(0) {
        return Err(InputError::Invalid(
            "the run would do nothing: give a run time of 1s or more, or 1 iteration or more".into(),
        ));
    }
    let isolation_every = if p.isolation.probes {
        let every = bounds::within(&p.isolation.probe_every, bounds::PROBE_EVERY)
            .map_err(|e| at(&format!("[isolation] probe_every: {e}")))?;
        Some(every)
    } else {
        None
    };
    let given_secret = match args.jwt_secret {
        Some(s) if s.is_empty() => {
            return Err(InputError::Flag {
                flag: "--jwt-secret",
                message: "the secret (from the flag or NETRA_JWT_SECRET) is empty: give it or leave it unset"
                    .into(),
            });
        }
        other => other.map(Secret::new),
    };
    let deployment =
        deployment(&loaded, &args.target_faults, args.auth_url, args.backend_url, &given_secret)?;
    let cohort = p.run.cohort.unwrap_or(10);
    if cohort == 0 {
        return Err(at("[run] cohort must be at least 1 (the number of users timed together)"));
    }
    let mut known_findings = Vec::new();
    for name in &p.expect.known_findings {
        let Some(kind) = FindingKind::parse(name) else {
            let hint = profile::closest(name, FindingKind::NAMES)
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            return Err(at(&format!(
                "[expect] known_findings: no finding kind `{name}`; {hint}the kinds are listed in the README"
            )));
        };
        known_findings.push(kind);
    }
    let mut targets = Vec::new();
    for (name, rule) in &p.targets {
        targets.push(Threshold::parse(name, rule).map_err(|e| at(&e))?);
    }
    // A run that stops being answered, or cannot keep its schedule, never passes: these hold
    // unless the profile sets its own.
    let open = arrival.map(|_| crate::verdict::DEFAULT_OPEN_TARGETS).unwrap_or_default();
    let own_step_trend = targets.iter().any(|t| {
        matches!(
            t.metric,
            crate::verdict::Metric::Trend { of: crate::metrics::TrendOf::Step, name: None, .. }
        )
    });
    for (name, rule) in crate::verdict::DEFAULT_TARGETS.iter().chain(open) {
        let trend = *name == crate::verdict::DEFAULT_TREND.0;
        let set = targets.iter().any(|t| t.name == *name) || (trend && own_step_trend);
        if !set {
            targets.push(Threshold::parse(name, rule).expect("the default targets parse"));
        }
    }
    // The embedded target's secret is ours to know; a deployment's only when given.
    let jwt_secret = match &deployment {
        Deployment::Embedded(config) => Some(config.jwt_secret.clone()),
        Deployment::Remote { .. } => given_secret,
    };
    let credentials = match (&args.credentials, &p.api.credentials) {
        (Some(flag), _) => Some(flag.clone()),
        (None, Some(file)) => Some(loaded.relative(file)),
        (None, None) => None,
    };
    let accounts = match &credentials {
        Some(path) => Some(credentials::load(path)?),
        None => None,
    };
    if let (Some(accounts), Some(path)) = (&accounts, &credentials) {
        let needed = crate::client::Provisioning::accounts_needed(users);
        if accounts.len() < needed {
            let probers = crate::client::api::PROBER_ACCOUNTS;
            return Err(InputError::Credentials {
                path: path.clone(),
                line: None,
                message: format!(
                    "holds {} accounts; {users} users need {needed} (one each, {probers} for the probers): add accounts or use --users {}",
                    accounts.len(),
                    accounts.len().saturating_sub(probers).max(1),
                ),
            });
        }
    }
    if arrival.is_some() && accounts.is_some() {
        // Journey k of the open model is a fresh user numbered k: existing accounts would be
        // shared by journeys in flight together, and their data would look leaked.
        return Err(at(
            "the open model (arrival rate) starts a fresh user per journey, which existing accounts (login provisioning) cannot be: use the closed model with a credentials file",
        ));
    }
    let mut section = p.api.clone();
    if args.provisioning.is_some() {
        section.provisioning = args.provisioning;
    }
    let api =
        api::resolve(&section, jwt_secret.as_ref().map(Secret::expose), accounts).map_err(|e| at(&e))?;
    let expect = Expect {
        burst: p.expect.burst.or(p.target.burst).unwrap_or(20).max(1),
        free_quota: p.expect.free_quota.unwrap_or(10),
    };
    let every = parse_duration(&p.probes.jwt_every)
        .and_then(
            |d| if d.is_zero() { Ok(d) } else { bounds::within(&p.probes.jwt_every, bounds::JWT_EVERY) },
        )
        .map_err(|e| at(&format!("[probes] jwt_every: {e} (or \"0s\": only at the start)")))?;
    // What runs, decided now: the deployment and the dialect say what can.
    let reach = Reach { backend: deployment.has_backend(), api: &api };
    let personas = plan::personas(&p.personas, &reach)?;
    let not_run = plan::not_run(&personas);
    let probes =
        plan::jwt_probes(p.probes.jwt, (!every.is_zero()).then_some(every), jwt_secret.is_some(), &reach);
    plan::something_runs(&personas, &probes)?;
    // The isolation probes ask the backend for other users' objects.
    // The isolation probes ask the backend for other users' objects: threads the journeys made.
    let victims = personas.iter().filter(|p| p.runs).flat_map(|p| &p.steps).any(|s| s.creates_thread());
    // s1's dev login gives every user the one email the backend finds users by: one user's
    // threads are every user's, and isolation would be breached by design, not by a bug.
    if reach.backend && matches!(api.provisioning, crate::client::Provisioning::DevLogin) {
        return Err(at(DEV_LOGIN_BACKEND));
    }
    let isolation_skipped = match (p.isolation.probes, reach.backend, victims) {
        (false, _, _) => None,
        (true, false, _) => Some(
            "isolation probes: they need the backend, and this run tests the auth service alone: give --backend-url"
                .to_owned(),
        ),
        (true, true, false) => {
            Some("isolation probes: no journey of this run creates a thread for them to try".to_owned())
        }
        (true, true, true) => None,
    };
    let isolation_every = isolation_every.filter(|_| isolation_skipped.is_none());
    let seed = args.seed;
    let mut run_tag = format!("{:08x}", seed.unwrap_or_else(rand::random) as u32);
    if let Some(s) = args.segment {
        // Segments of one seed still make emails of their own.
        run_tag.push_str(&format!("s{}", s.index));
    }
    let short_tokens = match &deployment {
        Deployment::Embedded(config) => Some(crate::journeys::waits_out(config.access_ttl.as_secs())),
        Deployment::Remote { .. } => None,
    };
    let mut plan = Plan {
        users: share,
        first_user,
        arrival: arrival.map(|r| r * share as f64 / users as f64),
        increase_rate: segment_rate,
        stop,
        personas,
        run_tag,
        expect,
        probes,
        isolation_every,
        scan: p.isolation.scan,
        jwt_secret,
        isolation_skipped,
        not_run,
        checks: Vec::new(),
    };
    let asked = plan::Asked {
        jwt: p.probes.jwt,
        isolation: p.isolation.probes,
        short_tokens,
        backend: reach.backend,
    };
    plan.checks = plan::checks(&plan, &asked);
    Ok(RunConfig {
        plan,
        api,
        deployment,
        fault_names: args.target_faults.iter().map(ToString::to_string).collect(),
        targets,
        known_findings,
        cohort,
        report_dir: args.report_dir,
        seed,
        segment: args.segment,
        start_at: args.start_at,
        quiet: args.quiet,
        no_progress: args.no_progress,
        metrics_addr: args.metrics_addr,
        profile: loaded,
    })
}

/// Why dev-login users cannot test a backend.
const DEV_LOGIN_BACKEND: &str = "dev-login users all share one email (dev@example.com), by which s1's backend finds users: against a backend they are one user, and every journey would see another's data; use dev-login against the auth service alone (no --backend-url), or --provisioning mint with NETRA_JWT_SECRET";

/// The embedded target (no URL given), or the deployment the URLs name.
fn deployment(
    loaded: &profile::Loaded,
    faults: &[crate::reference::Fault],
    auth_url: Option<String>,
    backend_url: Option<String>,
    secret: &Option<Secret>,
) -> Result<Deployment, InputError> {
    let p = &loaded.profile;
    // Where each URL came from, for the error naming it.
    let auth_from = if auth_url.is_some() { "--auth-url" } else { "[api] auth_url" };
    let backend_from = if backend_url.is_some() { "--backend-url" } else { "[api] backend_url" };
    match (auth_url.or_else(|| p.api.auth_url.clone()), backend_url.or_else(|| p.api.backend_url.clone())) {
        (None, None) => {
            let mut config = embedded(loaded, faults)?;
            if let Some(secret) = secret {
                config.jwt_secret = secret.clone();
            }
            Ok(Deployment::Embedded(Box::new(config)))
        }
        (Some(auth_url), backend_url) => {
            if !faults.is_empty() {
                return Err(InputError::Invalid(
                    "--target-fault only applies to the embedded target: drop it or drop the URLs".into(),
                ));
            }
            for (flag, url) in [(auth_from, Some(&auth_url)), (backend_from, backend_url.as_ref())] {
                if let Some(message) = url.and_then(|u| bad_url(u)) {
                    return Err(InputError::Url { flag, url: url.cloned().unwrap_or_default(), message });
                }
            }
            Ok(Deployment::Remote { auth_url, backend_url })
        }
        (None, Some(_)) => Err(InputError::Invalid(
            "a backend needs its auth service: give --auth-url too (an auth URL alone tests the auth service by itself)"
                .into(),
        )),
    }
}

/// What is wrong with a deployment's URL, if anything: its scheme, its host, its port (1 to
/// 65535: one out of range is bad input, not a refused connection).
fn bad_url(url: &str) -> Option<String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Some("must start with http:// or https://".into());
    }
    let example = "e.g. http://127.0.0.1:8001";
    match reqwest::Url::parse(url) {
        // The parser's own words name what is wrong: "invalid port number" for 99999.
        Err(e @ url::ParseError::InvalidPort) => {
            Some(format!("is not a valid URL ({e}): ports are 1 to 65535, {example}"))
        }
        Err(e) => Some(format!("is not a valid URL ({e}): {example}")),
        Ok(u) if u.port() == Some(0) => Some(format!("has port 0: ports are 1 to 65535, {example}")),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Some(format!("names no host: {example}")),
        Ok(_) => None,
    }
}

/// The embedded target, with the profile's `[target]` settings and the faults asked for.
fn embedded(
    loaded: &profile::Loaded,
    faults: &[crate::reference::Fault],
) -> Result<ReferenceConfig, InputError> {
    let t = &loaded.profile.target;
    let at = |e: String| InputError::profile(&format!("{} [target]", loaded.source), e);
    let list = faults;
    let faults =
        Faults::from_list(list).map_err(|message| InputError::Flag { flag: "--target-fault", message })?;
    bounds::startable(list, &faults)
        .map_err(|message| InputError::Flag { flag: "--target-fault", message })?;
    let mut config = ReferenceConfig { faults, ..ReferenceConfig::default() };
    if let Some(rate) = &t.rate_limit {
        config.rate = rate.parse::<Rate>().map_err(at)?;
    }
    if let Some(burst) = t.burst {
        config.burst = burst.max(1);
    }
    if let Some(latency) = &t.agent_latency {
        config.agent_latency =
            bounds::agent_latency(latency).map_err(|e| at(format!("agent_latency: {e}")))?;
    }
    if let Some(fanout) = &t.ws_fanout {
        config.ws_fanout = crate::reference::WsFanout::parse(fanout).map_err(at)?;
    }
    if let Some(quotes) = t.reply_quotes {
        config.reply_quotes = quotes;
    }
    if let Some(dialect) = &t.dialect {
        config.dialect = dialect.parse().map_err(at)?;
    }
    if let Some(ttl) = &t.access_ttl {
        config.access_ttl = bounds::access_ttl(ttl).map_err(|e| at(format!("access_ttl: {e}")))?;
    }
    Ok(config)
}
