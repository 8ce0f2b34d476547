//! netra-load: load-tests the Netra platform (an auth service issuing JWTs and a backend with
//! REST threads and a WebSocket chat) and proves, under load, that no user sees another user's
//! data.
//!
//! # Layout
//! - [`cli`]: clap types only.
//! - [`config`]: profiles and the validated [`config::RunConfig`] with the run's plan (parse,
//!   then resolve: what runs is decided there, before any request).
//! - [`reference`](mod@reference): the embedded reference Netra server (`netra-load target`), with its faults;
//!   a leaf module.
//! - [`client`]: speaks Netra over HTTP and WebSocket, for journeys and probes; typed failures.
//! - [`journeys`]: one file per journey, the table of them, and the step runner's rules.
//! - [`load`]: the only code that touches Goose: the closed and open models, progress.
//! - [`probes`]: active checks beside the load: JWT hardening and the cross-user prober.
//! - [`isolation`]: canaries, the ownership ledger, the scanner and the matrix (plain data).
//! - [`findings`]: security results with evidence, and the table of their kinds (plain data).
//! - [`checks`]: every assertion a report can list, in one vocabulary.
//! - [`coverage`]: the ledger of what each check of the plan came to (exercised, found, or why
//!   not run).
//! - [`metrics`]: HDR histograms, the collector, the timeline and the figures; a leaf module.
//! - [`verdict`]: targets judged on a narrow view of the figures.
//! - [`limits`]: the bounds durations and intervals of input are held to, and the faults the
//!   embedded target can start a run with.
//! - [`report`]: the report model, its renderers, and loading, comparing and merging reports.
//! - `run`, `serve`: the `run` and `target` subcommands; `offline`: `report`, `compare` and
//!   `merge`, which work on report files.
//!
//! Imports point toward data: no two modules import each other, directly or around a circle
//! (`tests/modules.rs` checks it); `reference` and `metrics` import nothing else of the crate.
//!
//! `main.rs` is a shim: it parses, calls [`run`] and maps the [`Outcome`] to an exit code.

pub mod bounds;
pub mod checks;
pub mod cli;
pub mod client;
pub mod config;
pub mod coverage;
pub mod findings;
pub mod isolation;
pub mod journeys;
pub mod load;
pub mod metrics;
mod offline;
pub mod probes;
pub mod reference;
pub mod report;
mod run;
mod serve;
pub mod verdict;

/// Exit codes are API (see the README).
pub mod exit {
    /// Every target met.
    pub const OK: u8 = 0;
    /// A performance target missed.
    pub const MISSED: u8 = 1;
    /// Usage or operational error: bad flag, bad profile, target unreachable or port in use.
    pub const USAGE: u8 = 2;
    /// An isolation or security breach; wins over [`INCOMPLETE`] and [`MISSED`].
    pub const BREACH: u8 = 3;
    /// A check the profile asked for never ran (e.g. the probes' set-up failed throughout):
    /// wins over [`MISSED`].
    pub const INCOMPLETE: u8 = 4;
    /// A merged report of a distributed run with segments missing (`merge --allow-partial`):
    /// what it judged is only part of the run.
    pub const PARTIAL: u8 = 5;
    /// Interrupted (SIGINT or SIGTERM): the report of what ran was written.
    pub const INTERRUPTED: u8 = 130;
}

static PROCESS_STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Marks the process's start (the binary calls this first thing); reports measure start-up
/// from it.
pub fn mark_process_start() {
    PROCESS_STARTED.get_or_init(std::time::Instant::now);
}

/// When the process started, if the binary said so.
pub fn process_started() -> Option<std::time::Instant> {
    PROCESS_STARTED.get().copied()
}

/// The process's peak resident memory so far (Linux: `VmHWM`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What a command came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The exit code ([`exit`]).
    pub exit_code: u8,
    /// The run folder written, for `run`.
    pub run_folder: Option<std::path::PathBuf>,
}

impl Outcome {
    fn code(exit_code: u8) -> Outcome {
        Outcome { exit_code, run_folder: None }
    }
}

/// Runs one command to completion. Bad input and operational errors are errors (exit 2); a
/// target that misses or breaches is an outcome.
pub async fn run(cli: cli::Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Some(cli::Command::Target(args)) => serve::run(args).await.map(|()| Outcome::code(exit::OK)),
        Some(cli::Command::Run(args)) => run::run(args).await,
        Some(cli::Command::Report(args)) => offline::report(args).map(Outcome::code),
        Some(cli::Command::Compare(args)) => offline::compare(args).map(Outcome::code),
        Some(cli::Command::Merge(args)) => offline::merge(args).map(Outcome::code),
        None => run::run(cli.run).await,
    }
}
