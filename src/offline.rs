//! The subcommands that work on report files, without any network: `report` (render again, into
//! the run folder, a file or stdout), `compare` (regression between two runs) and `merge` (a
//! distributed run's reports into one).
//! Bad input (a missing, malformed, truncated or mismatched report) is one line, exit 2.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::{CompareArgs, CompareFormat, MergeArgs, ReportArgs, ReportFormat};
use crate::exit;
use crate::report::{compare, files, load, merge, render};

pub fn report(args: ReportArgs) -> anyhow::Result<u8> {
    let name = match args.format {
        ReportFormat::Html => files::HTML,
        ReportFormat::Md => files::MARKDOWN,
        ReportFormat::Junit => files::JUNIT,
    };
    // `None`: stdout.
    let to = match args.output.as_deref() {
        Some(path) if path == Path::new("-") => None,
        Some(path) => Some(path.to_owned()),
        None => Some(run_folder(&args.input).join(name)),
    };
    if to.is_none() && matches!(args.format, ReportFormat::Html) && std::io::stdout().is_terminal() {
        bail!(
            "-o -: the HTML report is a whole page, not for a terminal: write it with -o report.html, or without -o into the run folder"
        );
    }
    let report = load::load(&args.input)?;
    let mut text = Vec::new();
    match args.format {
        ReportFormat::Html => text.extend(crate::report::html::page(&report).into_bytes()),
        ReportFormat::Md => render::markdown(&report, &mut text)?,
        ReportFormat::Junit => {
            text.extend(crate::report::junit::render(&report).map_err(anyhow::Error::msg)?.into_bytes())
        }
    }
    emit(to.as_deref(), &text).map_err(|e| match args.output {
        None => anyhow::anyhow!("{e:#}; write it elsewhere with -o FILE"),
        Some(_) => e,
    })?;
    if let Some(path) = to {
        println!("wrote {}", path.display());
    }
    Ok(exit::OK)
}

/// The run folder of `input`: the folder itself, or the folder holding the report file.
fn run_folder(input: &Path) -> PathBuf {
    if input.is_dir() {
        return input.to_owned();
    }
    match input.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

pub fn compare(args: CompareArgs) -> anyhow::Result<u8> {
    let base = load::load(&args.baseline)?;
    let cand = load::load(&args.candidate)?;
    let limits = compare::Limits {
        max_regression: args.max_regression,
        max_error_increase: args.max_error_increase,
        min_samples: args.min_samples,
        min_change_us: args.min_change.as_micros() as u64,
    };
    let comparison = compare::compare(&base, &cand, limits, args.force).map_err(anyhow::Error::msg)?;
    let mut text = Vec::new();
    match args.format {
        CompareFormat::Md => compare::markdown(&comparison, &mut text)?,
        CompareFormat::Text => compare::text(&comparison, &mut text)?,
    }
    emit(args.output.as_deref(), &text)?;
    Ok(if comparison.regressions().is_empty() { exit::OK } else { exit::MISSED })
}

pub fn merge(args: MergeArgs) -> anyhow::Result<u8> {
    let reports = args.inputs.iter().map(|p| load::load(p)).collect::<Result<Vec<_>, _>>()?;
    let occupied = std::fs::read_dir(&args.output).is_ok_and(|mut entries| entries.next().is_some());
    if occupied && !args.force {
        bail!(
            "-o {}: the folder already holds files: give an empty or new folder, or --force to replace them",
            args.output.display()
        );
    }
    let merged = merge::merge(reports, args.allow_partial).map_err(anyhow::Error::msg)?;
    merged.write_folder(&args.output)?;
    if !args.quiet {
        let mut out = std::io::stdout().lock();
        render::summary(&merged, &mut out)?;
        writeln!(out, "merged report: {}", args.output.display())?;
    }
    Ok(merged.verdict.exit_code)
}

fn emit(output: Option<&Path>, text: &[u8]) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display())),
        // A reader that stopped early (`| head`) took what it wanted.
        None => match std::io::stdout().lock().write_all(text) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.context("cannot write to stdout"),
        },
    }
}
