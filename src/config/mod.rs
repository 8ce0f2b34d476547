//! Parse, then resolve: clap's [`RunArgs`] and a profile become one validated [`RunConfig`].
//! Nothing after this reads raw flags.

pub mod api;
pub mod credentials;
pub mod profile;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::RunArgs;
use crate::load::{Expect, PersonaPlan, Plan, Stop};
use crate::probes::ProbeSettings;
use crate::target::{Faults, Rate, Secret, TargetConfig, parse_duration};
use crate::verdict::Target;

/// Where the load goes.
#[derive(Clone, Debug)]
pub enum Deployment {
    /// Started in-process on port 0 with this configuration, stopped at the end.
    Embedded(Box<TargetConfig>),
    /// A deployment; without a backend, the auth service alone is tested.
    Remote { auth_url: String, backend_url: Option<String> },
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub profile: profile::Loaded,
    /// The dialect the client speaks.
    pub api: crate::client::Api,
    pub plan: Plan,
    pub deployment: Deployment,
    pub fault_names: Vec<String>,
    pub targets: Vec<Target>,
    /// Finding kinds the profile accepts as known.
    pub known_findings: Vec<String>,
    pub cohort: usize,
    pub report_dir: PathBuf,
    pub seed: Option<u64>,
    pub segment: Option<Segment>,
    pub quiet: bool,
    pub no_progress: bool,
}

const DEFAULT_RUN_TIME: Duration = Duration::from_secs(30);

/// `--segment I/N`: this process runs share I (0-based) of N of the users and of their
/// arrival rate, as k6's execution segments do; the N reports are merged afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Segment {
    type Err = String;

    fn from_str(s: &str) -> Result<Segment, String> {
        let bad = || format!("segment `{s}`: write I/N with 0 <= I < N, e.g. 0/4 .. 3/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Segment { index, count })
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Segment {
    /// The first user of this segment and how many it runs, of `users` in all.
    pub fn share(&self, users: usize) -> (usize, usize) {
        let edge = |i: usize| users * i / self.count;
        (edge(self.index), edge(self.index + 1) - edge(self.index))
    }
}

pub fn resolve(args: RunArgs) -> Result<RunConfig, String> {
    let loaded = profile::load(&args.profile)?;
    let p = &loaded.profile;
    let at = |what: &str| format!("{}: {what}", loaded.source);
    let users = args.users.map(|u| u as usize).or(p.run.users).unwrap_or(10);
    if users == 0 {
        return Err(at("users must be at least 1"));
    }
    // All users within about a second, never slower than 1000 a second (Goose's default is 1).
    let increase_rate = args.increase_rate.or(p.run.increase_rate).unwrap_or(users.max(1000) as f64);
    if !(increase_rate.is_finite() && increase_rate > 0.0) {
        return Err(format!("increase rate {increase_rate}: give a number of users per second above 0"));
    }
    // A segment runs its share of the users, arriving at its share of the rate.
    let (first_user, share) = args.segment.map_or((0, users), |s| s.share(users));
    if share == 0 {
        let segment = args.segment.map(|s| s.to_string()).unwrap_or_default();
        return Err(format!(
            "segment {segment} of {users} users has no user: use at most {users} segments or more users"
        ));
    }
    let segment_rate = increase_rate * share as f64 / users as f64;
    let stop = match (args.run_time, args.iterations) {
        (Some(d), _) => Stop::After(d),
        (None, Some(n)) => Stop::Iterations(n as usize),
        (None, None) => match (&p.run.run_time, p.run.iterations) {
            (Some(_), Some(_)) => return Err(at("set run_time or iterations in [run], not both")),
            (Some(t), None) => Stop::After(parse_duration(t).map_err(|e| at(&e))?),
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
        return Err("the arrival rate must be above 0, e.g. 50/s".into());
    }
    if stop == Stop::After(Duration::ZERO) || stop == Stop::Iterations(0) {
        return Err("the run would do nothing: give a run time of 1s or more, or 1 iteration or more".into());
    }
    let isolation_every = if p.isolation.probes {
        let every = parse_duration(&p.isolation.probe_every)
            .map_err(|e| at(&format!("[isolation] probe_every: {e}")))?;
        Some(every.max(Duration::from_millis(1)))
    } else {
        None
    };
    let given_secret = match args.jwt_secret {
        Some(s) if s.is_empty() => {
            return Err(
                "--jwt-secret (or NETRA_JWT_SECRET) is empty: give the secret or leave it unset".into()
            );
        }
        other => other.map(Secret::new),
    };
    let auth_url = args.auth_url.or_else(|| p.api.auth_url.clone());
    let backend_url = args.backend_url.or_else(|| p.api.backend_url.clone());
    let deployment = match (auth_url, backend_url) {
        (None, None) => {
            let mut config = embedded(&loaded, &args.target_faults)?;
            if let Some(secret) = &given_secret {
                config.jwt_secret = secret.clone();
            }
            Deployment::Embedded(Box::new(config))
        }
        (Some(auth_url), backend_url) => {
            if !args.target_faults.is_empty() {
                return Err(
                    "--target-fault only applies to the embedded target: drop it or drop the URLs".into()
                );
            }
            for (flag, url) in [("--auth-url", Some(&auth_url)), ("--backend-url", backend_url.as_ref())] {
                if let Some(url) = url.filter(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
                    return Err(format!("{flag} `{url}` must start with http:// or https://"));
                }
            }
            Deployment::Remote { auth_url, backend_url }
        }
        (None, Some(_)) => {
            return Err(
                "a backend needs its auth service: give --auth-url too (an auth URL alone tests the auth service by itself)"
                    .into(),
            );
        }
    };
    let cohort = p.run.cohort.unwrap_or(10);
    if cohort == 0 {
        return Err(at("[run] cohort must be at least 1 (the number of users timed together)"));
    }
    for kind in &p.expect.known_findings {
        if !crate::findings::KINDS.contains(&kind.as_str()) {
            let hint = profile::closest(kind, crate::findings::KINDS)
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            return Err(at(&format!(
                "[expect] known_findings: no finding kind `{kind}`; {hint}the kinds are listed in the README"
            )));
        }
    }
    let mut targets = Vec::new();
    for (name, rule) in &p.targets {
        targets.push(Target::parse(name, rule).map_err(|e| at(&e))?);
    }
    let personas = p
        .personas
        .iter()
        .map(|persona| PersonaPlan {
            name: persona.name.clone(),
            weight: persona.weight,
            journey: persona.journey.clone(),
            plan_tier: persona.plan_tier.clone(),
        })
        .collect();
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
    let accounts = credentials.as_deref().map(credentials::load).transpose()?;
    if let Some(accounts) = &accounts {
        let needed = crate::client::Provisioning::accounts_needed(users);
        if accounts.len() < needed {
            return Err(format!(
                "credentials {} holds {} accounts; {users} users need {needed} (one each, {} for the probers): add accounts or use --users {}",
                credentials.as_deref().unwrap_or(Path::new("")).display(),
                accounts.len(),
                crate::client::api::PROBER_ACCOUNTS,
                accounts.len().saturating_sub(crate::client::api::PROBER_ACCOUNTS).max(1),
            ));
        }
    }
    if arrival.is_some() && accounts.is_some() {
        // Journey k of the open model is a fresh user numbered k: existing accounts would be
        // shared by journeys in flight together, and their data would look leaked.
        return Err(at(
            "the open model (arrival rate) starts a fresh user per journey, which existing accounts (login provisioning) cannot be: use the closed model with a credentials file",
        ));
    }
    let api = api::resolve(&p.api, jwt_secret.as_ref().map(Secret::expose), accounts).map_err(|e| at(&e))?;
    let expect = Expect {
        burst: p.expect.burst.or(p.target.burst).unwrap_or(20).max(1),
        free_quota: p.expect.free_quota.unwrap_or(10),
    };
    let every = parse_duration(&p.probes.jwt_every).map_err(|e| at(&format!("[probes] jwt_every: {e}")))?;
    let probes = ProbeSettings { jwt: p.probes.jwt, every: (!every.is_zero()).then_some(every) };
    let seed = args.seed;
    let mut run_tag = format!("{:08x}", seed.unwrap_or_else(rand::random) as u32);
    if let Some(s) = args.segment {
        // Segments of one seed still make emails of their own.
        run_tag.push_str(&format!("s{}", s.index));
    }
    Ok(RunConfig {
        api,
        plan: Plan {
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
        },
        deployment,
        fault_names: args.target_faults.iter().map(ToString::to_string).collect(),
        targets,
        known_findings: p.expect.known_findings.clone(),
        cohort,
        report_dir: args.report_dir,
        seed,
        segment: args.segment,
        quiet: args.quiet,
        no_progress: args.no_progress,
        profile: loaded,
    })
}

/// The embedded target, with the profile's `[target]` settings and the faults asked for.
fn embedded(loaded: &profile::Loaded, faults: &[crate::target::Fault]) -> Result<TargetConfig, String> {
    let t = &loaded.profile.target;
    let at = |e: String| format!("{} [target]: {e}", loaded.source);
    let mut config = TargetConfig { faults: Faults::from_list(faults)?, ..TargetConfig::default() };
    if let Some(rate) = &t.rate_limit {
        config.rate = rate.parse::<Rate>().map_err(at)?;
    }
    if let Some(burst) = t.burst {
        config.burst = burst.max(1);
    }
    if let Some(latency) = &t.agent_latency {
        config.agent_latency = parse_duration(latency).map_err(at)?;
    }
    if let Some(dialect) = &t.dialect {
        config.dialect = dialect.parse().map_err(at)?;
    }
    if let Some(ttl) = &t.access_ttl {
        config.access_ttl = parse_duration(ttl).map_err(at)?;
    }
    Ok(config)
}
