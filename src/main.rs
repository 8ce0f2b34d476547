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
            // clap's own text spans several lines; keep its first, which names the flag and value.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            eprintln!("error: {first} (see netra-load --help)");
            return ExitCode::from(exit::USAGE);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
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
