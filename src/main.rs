//! The `netra-load` binary: parse, run, map the outcome to an exit code. Errors are one line on
//! stderr with their cause chain (a line per reason where there are several).

use std::process::ExitCode;

/// glibc's allocator contends on its arena locks when thousands of simulated users and the
/// embedded target allocate from both cores at once (perf: a fifth of the CPU in malloc and
/// futex wake-ups); mimalloc's per-thread heaps avoid that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use clap::error::ErrorKind;
use netra_load::{cli::Cli, exit};

fn main() -> ExitCode {
    netra_load::mark_process_start();
    // Transparent huge pages (`always` on many Linux boxes, this project's among them) back
    // mimalloc's arenas in 2 MiB pages, which thousands of small users fill sparsely: 10 000 users
    // holding a WebSocket peaked at 441 MiB with them, 300 MiB without, CPU per request unchanged
    // (docs/performance.md). Pages faulted before this line keep their size; none after.
    #[cfg(target_os = "linux")]
    // SAFETY: integer arguments only; it sets a flag of this process (inherited by children).
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
        Err(e) => {
            eprintln!("error: {} (see netra-load --help)", one_line(&e.to_string()));
            return ExitCode::from(exit::USAGE);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn".into())
                // tungstenite traces each upgrade request whole, its token included: never.
                .add_directive("tungstenite::handshake=debug".parse().expect("a valid directive")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    match runtime.block_on(netra_load::run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::USAGE)
        }
    }
}

/// clap's message as one line. clap spreads it over paragraphs (the error, then the missing
/// arguments or the possible values on lines of their own, a tip, the usage): everything before
/// the usage is kept, each line trimmed, so the line names what is missing or what is allowed.
fn one_line(text: &str) -> String {
    let mut parts = Vec::new();
    for paragraph in text.split("\n\n") {
        let paragraph = paragraph.trim();
        if paragraph.starts_with("Usage:") || paragraph.starts_with("For more information") {
            break;
        }
        let joined: Vec<&str> = paragraph.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if !joined.is_empty() {
            parts.push(joined.join(" "));
        }
    }
    let line = parts.join("; ");
    let line = line.trim_start_matches("error: ");
    if line.is_empty() { "invalid arguments".to_owned() } else { line.to_owned() }
}
