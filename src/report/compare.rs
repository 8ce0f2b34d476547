//! `netra-load compare BASELINE CANDIDATE`: per journey and step, p50/p95/p99 (computed from the
//! stored histograms, never from stored percentiles) and the error rate, with sample counts. A
//! latency figure regresses when it grows past `max_regression`; an error rate when it rises by
//! more than `max_error_increase` (percentage points). Figures with fewer than `min_samples`
//! samples on either side (and a pNN with fewer than 100/(100-NN), so that its tail holds one)
//! are shown but not judged.

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::render::{md_table, ms, text_table};
use super::setup::{Difference, differences};
use super::{Report, Stats};

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// e.g. 0.10 for +10 %.
    pub max_regression: f64,
    /// e.g. 0.01 for one percentage point.
    pub max_error_increase: f64,
    pub min_samples: u64,
    /// A latency figure's change within this many microseconds either way is noise.
    pub min_change_us: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok,
    Regressed,
    Improved,
    TooFewSamples,
    /// Only in one of the two runs.
    Missing,
}

#[derive(Clone, Debug)]
pub struct Row {
    pub figure: String,
    pub baseline: String,
    pub candidate: String,
    pub change: String,
    pub samples: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug)]
pub struct Comparison {
    pub baseline: String,
    pub candidate: String,
    pub limits: Limits,
    /// What differs between the two runs' set-ups (compared anyway when any blocks: `--force`).
    pub setup: Vec<Difference>,
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn regressions(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.outcome == Outcome::Regressed).collect()
    }
}

const QUANTILES: [(&str, f64); 3] = [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)];

/// Compares two runs set up alike; runs whose load or kind of target differ are refused unless
/// `force` (`setup::differences` says which items block). Other differences are shown.
pub fn compare(base: &Report, cand: &Report, limits: Limits, force: bool) -> Result<Comparison, String> {
    let setup = differences(base, cand);
    let blocking: Vec<String> = setup.iter().filter(|d| d.blocks).map(Difference::describe).collect();
    if !blocking.is_empty() && !force {
        return Err(format!(
            "the two runs were set up differently, so their figures measure different things: {}; compare them anyway with --force",
            blocking.join("; ")
        ));
    }
    let mut rows = Vec::new();
    let journeys: BTreeSet<&String> = base.journeys.keys().chain(cand.journeys.keys()).collect();
    for journey in journeys {
        let (b, c) = (base.journeys.get(journey), cand.journeys.get(journey));
        figures(&mut rows, journey, b.map(|j| &j.stats), c.map(|j| &j.stats), limits);
        let steps: BTreeSet<&String> = b.iter().chain(c.iter()).flat_map(|j| j.steps.keys()).collect();
        for step in steps {
            let name = format!("{journey} / {step}");
            let (bs, cs) = (b.and_then(|j| j.steps.get(step)), c.and_then(|j| j.steps.get(step)));
            figures(&mut rows, &name, bs, cs, limits);
        }
    }
    Ok(Comparison { baseline: label(base), candidate: label(cand), limits, setup, rows })
}

/// A run as a reader finds it again: profile, start, id.
fn label(r: &Report) -> String {
    let id = if r.run.run_id.is_empty() { String::new() } else { format!(", run {}", r.run.run_id) };
    format!("{} ({}{id})", r.run.profile, r.run.started_at)
}

fn figures(rows: &mut Vec<Row>, name: &str, b: Option<&Stats>, c: Option<&Stats>, limits: Limits) {
    let (Some(b), Some(c)) = (b, c) else {
        let side = if b.is_some() { "the baseline" } else { "the candidate" };
        rows.push(Row {
            figure: name.to_owned(),
            baseline: String::new(),
            candidate: String::new(),
            change: format!("only in {side}"),
            samples: String::new(),
            outcome: Outcome::Missing,
        });
        return;
    };
    // The quantiles are over every journey that ended, failed ones too: so are the samples.
    let (b_all, c_all) = (b.ended(), c.ended());
    let samples = format!("{} / {}", b_all.count(), c_all.count());
    for (label, q) in QUANTILES {
        // A tail needs samples in it: p99 is judged from 100 samples on, p95 from 20.
        let needed = limits.min_samples.max((1.0 / (1.0 - q)).round() as u64);
        let enough = b_all.count().min(c_all.count()) >= needed;
        let (bv, cv) = (b_all.quantile(q), c_all.quantile(q));
        let change = if bv == 0 { 0.0 } else { cv as f64 / bv as f64 - 1.0 };
        let moved = bv.abs_diff(cv) > limits.min_change_us;
        let outcome = if !enough {
            Outcome::TooFewSamples
        } else if change > limits.max_regression && moved {
            Outcome::Regressed
        } else if change < -limits.max_regression && moved {
            Outcome::Improved
        } else {
            Outcome::Ok
        };
        rows.push(Row {
            figure: format!("{name} {label}"),
            baseline: ms(bv),
            candidate: ms(cv),
            change: format!("{:+.1}%", change * 100.0),
            samples: samples.clone(),
            outcome,
        });
    }
    let rate = |s: &Stats| {
        let all = s.count + s.failures;
        if all == 0 { 0.0 } else { s.failures as f64 / all as f64 }
    };
    let (br, cr) = (rate(b), rate(c));
    let all = (b.count + b.failures).min(c.count + c.failures);
    let outcome = if all < limits.min_samples {
        Outcome::TooFewSamples
    } else if cr - br > limits.max_error_increase {
        Outcome::Regressed
    } else if br - cr > limits.max_error_increase {
        Outcome::Improved
    } else {
        Outcome::Ok
    };
    rows.push(Row {
        figure: format!("{name} errors"),
        baseline: format!("{:.2}%", br * 100.0),
        candidate: format!("{:.2}%", cr * 100.0),
        change: format!("{:+.2} pp", (cr - br) * 100.0),
        samples: format!("{} / {}", b.count + b.failures, c.count + c.failures),
        outcome,
    });
}

const HEAD: [&str; 6] = ["figure", "baseline", "candidate", "change", "samples (base / cand)", "result"];

fn table(c: &Comparison, markdown: bool) -> Vec<Vec<String>> {
    c.rows
        .iter()
        .map(|r| {
            let result = match (&r.outcome, markdown) {
                (Outcome::Ok, _) => "ok",
                (Outcome::Regressed, true) => "**REGRESSED**",
                (Outcome::Regressed, false) => "REGRESSED",
                (Outcome::Improved, _) => "improved",
                (Outcome::TooFewSamples, _) => "too few samples",
                (Outcome::Missing, _) => "missing",
            };
            vec![
                r.figure.clone(),
                r.baseline.clone(),
                r.candidate.clone(),
                r.change.clone(),
                r.samples.clone(),
                result.to_owned(),
            ]
        })
        .collect()
}

fn headline(c: &Comparison) -> String {
    let regressed = c.regressions();
    let limits = format!(
        "latency +{:.0}% and {}, errors +{:.2} pp, at least {} samples",
        c.limits.max_regression * 100.0,
        ms(c.limits.min_change_us),
        c.limits.max_error_increase * 100.0,
        c.limits.min_samples
    );
    match regressed.len() {
        0 => format!("no regression ({limits})"),
        n => format!(
            "{} regressed ({limits}): {}",
            super::words::count(n as u64, "figure"),
            regressed.iter().map(|r| r.figure.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The set-up differences in words: nothing when the runs were set up alike.
fn setup_lines(c: &Comparison) -> Vec<String> {
    c.setup
        .iter()
        .map(|d| {
            let how = if d.blocks { "DIFFERS (compared with --force)" } else { "differs" };
            format!("{}: {how}: {} vs {}", d.item, d.baseline, d.candidate)
        })
        .collect()
}

pub fn markdown(c: &Comparison, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "### netra-load compare\n")?;
    writeln!(out, "Baseline {} vs candidate {}: **{}**\n", c.baseline, c.candidate, headline(c))?;
    let setup = setup_lines(c);
    if !setup.is_empty() {
        writeln!(out, "Set-up:\n")?;
        for line in setup {
            writeln!(out, "- {}", line.replace('|', "\\|"))?;
        }
        writeln!(out)?;
    }
    md_table(out, &HEAD, &table(c, true))
}

pub fn text(c: &Comparison, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "baseline  {}\ncandidate {}", c.baseline, c.candidate)?;
    let setup = setup_lines(c);
    match setup.is_empty() {
        true => writeln!(out, "set-up: the same\n")?,
        false => writeln!(out, "set-up:\n  {}\n", setup.join("\n  "))?,
    }
    text_table(out, &HEAD, &table(c, false))?;
    writeln!(out, "\n{}", headline(c))
}
