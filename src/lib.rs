//! netra-load: load-tests the Netra platform (an auth service issuing JWTs and a backend with
//! REST threads and a WebSocket chat) and proves, under load, that no user sees another user's
//! data.
//!
//! # Layout
//! - [`cli`]: clap types only.
//! - [`target`]: the embedded reference Netra target, with fault knobs; a leaf module.
//! - `serve`: the `netra-load target` subcommand.
//!
//! `main.rs` is a shim: it parses, calls [`run`] and maps the outcome to an exit code.

pub mod cli;
mod serve;
pub mod target;

/// Exit codes are API (see the README).
pub mod exit {
    /// Every target met.
    pub const OK: u8 = 0;
    /// Usage or operational error: bad flag, bad profile, target unreachable or port in use.
    pub const USAGE: u8 = 2;
}

/// Runs one command to completion.
pub async fn run(cli: cli::Cli) -> anyhow::Result<u8> {
    match cli.command {
        cli::Command::Target(args) => serve::run(args).await.map(|()| exit::OK),
    }
}
