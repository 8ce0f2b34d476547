//! `netra-load target`: resolve the flags into a [`ReferenceConfig`], start the embedded target,
//! print where it listens, and serve until Ctrl-C.

use std::io::Write;

use anyhow::{Context, bail};

use crate::cli::TargetArgs;
use crate::reference::{self, Fault, Faults, ReferenceConfig, Secret};

/// Turns the flags into a validated configuration. The second value says where the secret came
/// from, for printing: the secret itself is never shown.
pub fn resolve(args: TargetArgs) -> anyhow::Result<(ReferenceConfig, &'static str)> {
    let faults = Faults::from_list(&args.faults).map_err(anyhow::Error::msg)?;
    let (jwt_secret, secret_source) = match args.jwt_secret {
        Some(s) if s.is_empty() => bail!(
            "--jwt-secret (or NETRA_JWT_SECRET) is empty: give a non-empty secret or leave it unset for a random one"
        ),
        Some(s) => (Secret::new(s), "set (hidden)"),
        None => (Secret::random(), "random"),
    };
    if args.access_ttl.as_secs() == 0 || args.refresh_ttl.as_secs() == 0 {
        bail!("--access-ttl and --refresh-ttl must be at least 1s: tokens carry whole seconds");
    }
    let config = ReferenceConfig {
        auth_addr: args.auth_addr,
        backend_addr: args.backend_addr,
        jwt_secret,
        access_ttl: args.access_ttl,
        refresh_ttl: args.refresh_ttl,
        rate: args.rate_limit,
        burst: args.burst,
        agent_latency: args.agent_latency,
        faults,
        dialect: args.dialect,
        ws_fanout: args.ws_fanout,
        reply_quotes: !args.no_reply_quotes,
    };
    Ok((config, secret_source))
}

pub async fn run(args: TargetArgs) -> anyhow::Result<()> {
    let fault_list: Vec<String> = args.faults.iter().map(Fault::to_string).collect();
    let (config, secret_source) = resolve(args)?;
    let summary = format!(
        "limits:       {} per user, burst {}; access {}, refresh {}; agent latency {}",
        config.rate,
        config.burst,
        humantime::format_duration(config.access_ttl),
        humantime::format_duration(config.refresh_ttl),
        humantime::format_duration(config.agent_latency),
    );
    let dialect = config.dialect;
    let target = reference::start(config).await?;
    // Listen for Ctrl-C before saying so: a SIGINT that came between the banner and the first
    // poll of a lazy `ctrl_c()` would kill the process instead of stopping it.
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("listening for Ctrl-C")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "netra-load target: {dialect} dialect")?;
    writeln!(out, "auth service: {}", target.auth_url())?;
    let ws_path = if dialect == reference::Dialect::S1 { "/ws/secure" } else { "/ws" };
    writeln!(
        out,
        "backend:      {}  (WebSocket ws://{}{ws_path})",
        target.backend_url(),
        target.backend_addr()
    )?;
    writeln!(out, "jwt secret:   {secret_source}")?;
    writeln!(out, "{summary}")?;
    let faults = if fault_list.is_empty() { "none".to_owned() } else { fault_list.join(", ") };
    writeln!(out, "faults:       {faults}")?;
    writeln!(out, "serving until Ctrl-C")?;
    out.flush()?;
    drop(out);
    #[cfg(unix)]
    interrupt.recv().await;
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    eprintln!("stopping: finishing in-flight requests");
    target.shutdown().await;
    Ok(())
}
