//! netra-load: load-tests the Netra platform (an auth service issuing JWTs and a backend with
//! REST threads and a WebSocket chat) and proves, under load, that no user sees another user's
//! data.
//!
//! # Layout
//! - [`cli`]: clap types only.
//! - [`config`]: profiles and the validated [`config::RunConfig`] (parse, then resolve).
//! - [`target`]: the embedded reference Netra target, with fault knobs; a leaf module.
//! - [`client`]: speaks Netra over HTTP and WebSocket, for journeys and probes.
//! - [`load`]: the only code that touches Goose: personas, journeys, progress.
//! - [`metrics`]: HDR histograms and the collector; a leaf module.
//! - [`probes`]: security probes beside the load (JWT hardening).
//! - [`findings`]: security results with evidence (plain data).
//! - [`isolation`]: canaries, ownership ledger, passive scanning and cross-user probes.
//! - [`verdict`]: targets judged on a report.
//! - [`report`]: the report model and its renderers.
//! - `run`, `serve`: the `run` and `target` subcommands; `offline`: `report`, `compare` and
//!   `merge`, which work on report files.
//!
//! `main.rs` is a shim: it parses, calls [`run`] and maps the outcome to an exit code.

pub mod cli;
pub mod client;
pub mod config;
pub mod findings;
pub mod isolation;
pub mod load;
pub mod metrics;
mod offline;
pub mod probes;
pub mod report;
mod run;
mod serve;
pub mod target;
pub mod verdict;

/// Exit codes are API (see the README).
pub mod exit {
    /// Every target met.
    pub const OK: u8 = 0;
    /// A performance target missed.
    pub const MISSED: u8 = 1;
    /// Usage or operational error: bad flag, bad profile, target unreachable or port in use.
    pub const USAGE: u8 = 2;
    /// An isolation or security breach; wins over [`MISSED`].
    pub const BREACH: u8 = 3;
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

/// Runs one command to completion.
pub async fn run(cli: cli::Cli) -> anyhow::Result<u8> {
    match cli.command {
        Some(cli::Command::Target(args)) => serve::run(args).await.map(|()| exit::OK),
        Some(cli::Command::Run(args)) => run::run(args).await,
        Some(cli::Command::Report(args)) => offline::report(args),
        Some(cli::Command::Compare(args)) => offline::compare(args),
        Some(cli::Command::Merge(args)) => offline::merge(args),
        None => run::run(cli.run).await,
    }
}
