//! The subcommands that work on report files, without any network: `report` (render again),
//! `compare` (regression between two runs) and `merge` (a distributed run's reports into one).
//! Bad input (a missing, malformed, truncated or mismatched report) is one line, exit 2.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::{CompareArgs, CompareFormat, MergeArgs, ReportArgs, ReportFormat};
use crate::exit;
use crate::report::{compare, load, merge, render};

pub fn report(args: ReportArgs) -> anyhow::Result<u8> {
    let report = load::load(&args.input)?;
    let mut text = Vec::new();
    match args.format {
        ReportFormat::Html => text.extend(crate::report::html::page(&report).into_bytes()),
        ReportFormat::Md => render::markdown(&report, &mut text)?,
        ReportFormat::Junit => {
            text.extend(crate::report::junit::render(&report).map_err(anyhow::Error::msg)?.into_bytes())
        }
    }
    emit(args.output.as_deref(), &text)?;
    Ok(exit::OK)
}

pub fn compare(args: CompareArgs) -> anyhow::Result<u8> {
    let base = load::load(&args.baseline)?;
    let cand = load::load(&args.candidate)?;
    let limits = compare::Limits {
        max_regression: args.max_regression,
        max_error_increase: args.max_error_increase,
        min_samples: args.min_samples,
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
    let merged = merge::merge(reports).map_err(anyhow::Error::msg)?;
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
        None => std::io::stdout().lock().write_all(text).context("cannot write to stdout"),
    }
}
