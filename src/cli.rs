//! Command-line types (clap) and nothing else: they are resolved into validated configurations
//! once, by the command that uses them, and never read below that.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::target::{Fault, Rate, parse_duration};

#[derive(Debug, Parser)]
#[command(
    name = "netra-load",
    version,
    about = "Load-test the Netra platform and prove that no user sees another user's data"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the embedded reference Netra target (auth service and backend) until Ctrl-C.
    Target(TargetArgs),
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address of the auth service (port 0 picks a free port).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8001")]
    pub auth_addr: SocketAddr,

    /// Address of the backend (REST and WebSocket).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8000")]
    pub backend_addr: SocketAddr,

    /// HS256 signing secret shared by both services; random when unset (never printed).
    #[arg(long, value_name = "S", env = "NETRA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Lifetime of access tokens.
    #[arg(long, value_name = "DUR", default_value = "900s", value_parser = parse_duration)]
    pub access_ttl: Duration,

    /// Lifetime of refresh tokens.
    #[arg(long, value_name = "DUR", default_value = "7d", value_parser = parse_duration)]
    pub refresh_ttl: Duration,

    /// Refill rate of each user's token bucket on /api/*.
    #[arg(long, value_name = "N/PERIOD", default_value = "60/min")]
    pub rate_limit: Rate,

    /// Capacity of each user's token bucket.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Think time of the simulated agent for one chat turn.
    #[arg(long, value_name = "DUR", default_value = "5ms", value_parser = parse_duration)]
    pub agent_latency: Duration,

    /// Misbehave on purpose (repeatable); see the README's fault table.
    #[arg(long = "fault", value_name = "F")]
    pub faults: Vec<Fault>,
}
