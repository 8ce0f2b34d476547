//! Command-line types (clap) and nothing else: they are resolved into validated configurations
//! once, by the command that uses them, and never read below that.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::bounds;
use crate::reference::{Dialect, Fault, Rate, WsFanout};

/// The exit codes of a run, in the order the verdict takes them.
const EXIT_CODES: &str = "\
Exit codes of a run:
  0    PASS: every target met, every check asked for exercised
  1    FAIL: a target missed (availability, stalls and drops are targets too), or a
       reliability defect (concurrency_error) not in [expect] known_findings
  2    bad input, or the deployment unreachable at the start (before any user starts)
  3    BREACH: an isolation or security finding not in [expect] known_findings
  4    INCOMPLETE: a check asked for never ran (the probes' set-up failed throughout, a persona
       got no user, no step that checks a finding completed)
  5    PARTIAL (merge --allow-partial): segments of the run missing, the rest judged
  130  interrupted (the report of what ran is written)
Precedence: BREACH (3) over PARTIAL (5) over INCOMPLETE (4) over FAIL (1) over PASS (0).";

#[derive(Debug, Parser)]
#[command(
    name = "netra-load",
    version,
    about = "Load-test the Netra platform and prove that no user sees another user's data",
    after_help = EXIT_CODES
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `run`'s flags, for `netra-load --users 100` without the word `run`.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a load test (the default): personas run journeys, every step is timed, the run ends
    /// with a verdict and reports.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Serve the embedded reference Netra target (auth service and backend) until Ctrl-C.
    Target(TargetArgs),
    /// Render a run's report again from its report.json (HTML, Markdown or JUnit XML) into its
    /// run folder, or to -o FILE; prints where it wrote.
    Report(ReportArgs),
    /// Compare a candidate run with a baseline run; exit 1 when a figure regressed.
    Compare(CompareArgs),
    /// Merge the reports of a distributed run (or of several machines) into one, judged again.
    Merge(MergeArgs),
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Md,
    Junit,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run folder or its report.json.
    #[arg(value_name = "RUN_DIR_OR_JSON")]
    pub input: PathBuf,

    /// html writes report.html, md report.md, junit junit.xml.
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,

    /// Write to FILE instead of the run folder (the folder given, or the one holding the
    /// report.json given); `-` is stdout, which HTML never goes to when it is a terminal.
    #[arg(short, long, value_name = "FILE|-")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CompareFormat {
    Md,
    Text,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline run (folder or report.json), e.g. the last release's.
    pub baseline: PathBuf,
    /// The candidate run.
    pub candidate: PathBuf,

    /// A latency figure regresses when it grows by more than this.
    #[arg(long, value_name = "PCT", default_value = "10%", value_parser = parse_percent)]
    pub max_regression: f64,

    /// ... and by more than this much time: a tenth of a millisecond more on a sub-millisecond
    /// step is a shared machine's noise, not a regression.
    #[arg(long, value_name = "DUR", default_value = "1ms", value_parser = bounds::min_change)]
    pub min_change: Duration,

    /// An error rate regresses when it rises by more than this many percentage points.
    #[arg(long, value_name = "PCT", default_value = "1%", value_parser = parse_percent)]
    pub max_error_increase: f64,

    /// Figures with fewer samples on either side are shown but not judged.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub min_samples: u64,

    /// Compare even when the runs' load differs (profile, users, a segment, personas, arrival
    /// model), their kind of target, or the embedded target's limits and token lifetimes; the
    /// differences are shown.
    #[arg(long)]
    pub force: bool,

    /// `text` for a terminal, `md` for a pull-request comment.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CompareFormat,

    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The reports (run folders or report.json files) of one profile.
    #[arg(required = true, value_name = "REPORT")]
    pub inputs: Vec<PathBuf>,

    /// The folder that receives the merged report.json, report.md, report.html and junit.xml.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,

    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,

    /// Merge a distributed run with segments missing: the verdict is PARTIAL (exit 5).
    #[arg(long)]
    pub allow_partial: bool,

    /// Write into an -o folder that already holds files (they are replaced).
    #[arg(long)]
    pub force: bool,
}

/// `10%` or `0.1`.
fn parse_percent(s: &str) -> Result<f64, String> {
    let value = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => s.trim().parse::<f64>(),
    };
    value
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("`{s}` is not a percentage: write e.g. 10% or 0.1"))
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address of the auth service (port 0 picks a free port).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8001")]
    pub auth_addr: SocketAddr,

    /// Address of the backend (REST and WebSocket).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8000")]
    pub backend_addr: SocketAddr,

    /// HS256 signing secret shared by both services; random when unset (never printed). Prefer
    /// the environment variable NETRA_JWT_SECRET: a flag's value shows in `ps` to every user.
    #[arg(long, value_name = "S", env = "NETRA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Lifetime of access tokens (1s to 30d).
    #[arg(long, value_name = "DUR", default_value = "900s", value_parser = bounds::access_ttl)]
    pub access_ttl: Duration,

    /// Lifetime of refresh tokens (1s to 365d).
    #[arg(long, value_name = "DUR", default_value = "7d", value_parser = bounds::refresh_ttl)]
    pub refresh_ttl: Duration,

    /// Refill rate of each user's token bucket on /api/*.
    #[arg(long, value_name = "N/PERIOD", default_value = "60/min")]
    pub rate_limit: Rate,

    /// Capacity of each user's token bucket.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Think time of the simulated agent for one chat turn (at most 1m).
    #[arg(long, value_name = "DUR", default_value = "5ms", value_parser = bounds::agent_latency)]
    pub agent_latency: Duration,

    /// Misbehave on purpose (repeatable; durations at most 1d); see the README's fault table.
    #[arg(long = "fault", value_name = "F")]
    pub faults: Vec<Fault>,

    /// Which state of Netra to imitate: reference, s1 or beta (see docs/netra-api.md).
    #[arg(long, value_name = "D", default_value = "reference")]
    pub dialect: Dialect,

    /// Which connections an agent turn's events reach: every connection of the thread's owner
    /// (owner), or only the one that sent the message (origin).
    #[arg(long, value_name = "F", default_value = "owner", value_parser = WsFanout::parse)]
    pub ws_fanout: WsFanout,

    /// Let the agent answer in words of its own, as a real model does, instead of quoting the
    /// message as the contract's reference does.
    #[arg(long)]
    pub no_reply_quotes: bool,
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Profile NAME (profiles/NAME.toml, else built in) or PATH to a .toml file.
    #[arg(long, value_name = "NAME|PATH", default_value = "chat")]
    pub profile: String,

    /// Simulated users (overrides the profile).
    #[arg(short = 'u', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub users: Option<u64>,

    /// Users started per second (default: all within about one second).
    #[arg(short = 'r', long, value_name = "R")]
    pub increase_rate: Option<f64>,

    /// How long the load runs, e.g. 30s or 5m, at most 7d (overrides the profile).
    #[arg(short = 't', long, value_name = "DUR", value_parser = bounds::run_time, conflicts_with = "iterations")]
    pub run_time: Option<Duration>,

    /// The open model: start journeys at this rate whatever the completions (e.g. 50/s), with
    /// at most --users in flight; latency counts from when each journey was due.
    #[arg(long, value_name = "N/PERIOD", conflicts_with = "iterations")]
    pub arrival_rate: Option<Rate>,

    /// Journeys each user runs, instead of a run time.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,

    /// Auth service of a deployment to test; alone (no --backend-url) the auth service is tested
    /// by itself; none: the embedded target.
    #[arg(long, value_name = "URL")]
    pub auth_url: Option<String>,

    /// Backend of a deployment to test (needs --auth-url).
    #[arg(long, value_name = "URL")]
    pub backend_url: Option<String>,

    /// Fault of the embedded target (repeatable); see the README's fault table. Refused when the
    /// target could not answer the start-up check with it: latency and a stall's pause at most
    /// 4s (together too), ws-handshake at most 5s, slowdown at most 1s, hang 1s or more.
    #[arg(long = "target-fault", value_name = "F")]
    pub target_faults: Vec<Fault>,

    /// The deployment's JWT signing secret, for the probes that mint tokens (never printed).
    /// Prefer the environment variable NETRA_JWT_SECRET: a flag's value shows in `ps` to every
    /// user.
    #[arg(long, value_name = "S", env = "NETRA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Accounts for `login` provisioning: CSV `email,password` or TOML `[[account]]` (passwords
    /// are never printed). Overrides the profile's `[api] credentials`.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,

    /// Where users come from (overrides the profile's `[api] provisioning`): register, login
    /// (existing accounts, --credentials), dev-login (s1's POST /auth/dev/login) or mint (tokens
    /// signed with --jwt-secret).
    #[arg(long, value_name = "HOW")]
    pub provisioning: Option<crate::client::ProvisioningKind>,

    /// Run share I (from 0) of N of the users and their arrival rate, for a distributed run
    /// whose N reports are merged with `netra-load merge`.
    #[arg(long, value_name = "I/N")]
    pub segment: Option<Segment>,

    /// Start the users at this instant (RFC 3339, e.g. 2026-12-03T08:30:00Z, or epoch seconds):
    /// the segments of a distributed run given one time start together. The target is checked
    /// first, then the run waits; a time more than 5 s past or a day ahead is refused.
    #[arg(long, value_name = "TIME", value_parser = bounds::start_at)]
    pub start_at: Option<std::time::SystemTime>,

    /// Folder that receives the run folder; checked before the run starts (created and written
    /// to), refused when it cannot be written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,

    /// Seed for the run's names (emails), so runs can be repeated.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Print nothing but errors; the reports are still written.
    #[arg(long)]
    pub quiet: bool,

    /// No progress display.
    #[arg(long)]
    pub no_progress: bool,

    /// Serve live Prometheus metrics at http://ADDR/metrics while the run lasts, until its
    /// reports are written (e.g. 127.0.0.1:9898; port 0 picks a free one, printed at start).
    #[arg(long, value_name = "IP:PORT")]
    pub metrics_addr: Option<SocketAddr>,
}

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
