//! Targets and the verdict. A target is a [`Threshold`], `METRIC < LIMIT`, written in a
//! profile's `[targets]` as `"METRIC" = "< LIMIT"`:
//!
//! - `journey.NAME.pNN` / `journey.NAME.max`: a journey's latency percentile (e.g. `p99`, `p99.9`);
//! - `step.NAME.pNN` / `step.NAME.max`: a step's latency, over every journey that has the step;
//! - `persona.NAME.pNN` / `persona.NAME.max`: the journey latency of one persona;
//! - `cohort.N`: time from the run's start until the first N users completed signup-chat;
//! - `errors.rate`: failed journeys over all journeys (`1%` or `0.01`);
//! - `availability` (written `> 90%`): the share of the run's time in which the target answered:
//!   a window (1 s) in which work waited on the target through the whole window and no step
//!   completed is unavailable;
//! - `stall.max`: the longest stretch with work waiting on the target and no step completed;
//! - `dropped.rate`: the open model's journeys dropped (due while the most were in flight) over
//!   those due;
//! - `trend.NAME.pNN`, `trend.step.NAME.pNN`, `trend.endpoint.NAME.pNN` (written `< +50%`): how
//!   much a journey's, step's or endpoint's percentile grew from the steady phase's start to its
//!   end (`crate::metrics::trend`: a steady phase of 10 windows at least, each side of 20 samples
//!   at least, growth under 5 ms does not count); `*` for NAME judges every step (endpoint) and
//!   reports the worst. Every run is judged on `trend.step.*.p50 < +50%` unless its profile sets
//!   a step trend of its own.
//!
//! Latencies are over every journey (step) that ended, failed and cut ones included. Durations
//! are humantime (`500ms`, `5s`). A metric with no data fails its target: a run that measured
//! nothing has proven nothing. A target that cannot apply to the run (`cohort.10` with 5 users,
//! `dropped.rate` in the closed model, a journey that does not run) is *not run*, with the
//! reason. The verdict reads a narrow view of the figures ([`Figures`]), which the report
//! implements.
//!
//! The verdict's precedence: BREACH (exit 3) over INCOMPLETE (4: a check the profile asked for
//! never ran) over FAIL (1) over PASS (0).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::{Stats, Trend, TrendOf, format_us};

#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    Journey {
        name: String,
        stat: Stat,
    },
    Step {
        name: String,
        stat: Stat,
    },
    Persona {
        name: String,
        stat: Stat,
    },
    Cohort(usize),
    ErrorRate,
    /// How much a journey's, step's or endpoint's latency quantile grew from the steady phase's
    /// first windows to its last ones, as a ratio (`0.5` = +50 %); `name` `None`: every one.
    Trend {
        of: TrendOf,
        name: Option<String>,
        quantile: f64,
    },
    /// The share of the run's time the target answered in (a ratio).
    Availability,
    /// The longest stall, in microseconds.
    StallMax,
    /// The open model's dropped journeys over those due (a ratio).
    DroppedRate,
}

impl Metric {
    /// The journey, step or persona the metric is about (none for cohorts and the error rate).
    pub fn subject(&self) -> Option<&str> {
        match self {
            Metric::Journey { name, .. } | Metric::Step { name, .. } | Metric::Persona { name, .. } => {
                Some(name)
            }
            Metric::Trend { name, .. } => name.as_deref(),
            Metric::Cohort(_)
            | Metric::ErrorRate
            | Metric::Availability
            | Metric::StallMax
            | Metric::DroppedRate => None,
        }
    }

    /// A ratio (shown and written in percent), not a duration.
    fn is_ratio(&self) -> bool {
        matches!(self, Metric::ErrorRate | Metric::Availability | Metric::DroppedRate)
    }
}

/// The run-wide targets every run is judged on unless its profile sets them: a target that
/// stops answering never passes.
pub const DEFAULT_TARGETS: &[(&str, &str)] =
    &[("availability", "> 90%"), ("stall.max", "< 3s"), (DEFAULT_TREND.0, DEFAULT_TREND.1)];

/// The trend every run is judged on unless its profile sets a step trend: no step's median grows
/// by half from the steady phase's start to its end.
pub const DEFAULT_TREND: (&str, &str) = ("trend.step.*.p50", "< +50%");

/// What an open-model run is judged on besides, unless its profile sets it: one that cannot keep
/// its schedule never passes.
pub const DEFAULT_OPEN_TARGETS: &[(&str, &str)] = &[("dropped.rate", "< 1%")];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    Quantile(f64),
    Max,
}

/// A target of the profile: `METRIC < LIMIT` (`availability > LIMIT`).
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub name: String,
    pub metric: Metric,
    /// Microseconds for latency metrics, a ratio for `errors.rate`, `availability` and
    /// `dropped.rate`.
    pub limit: f64,
}

impl Threshold {
    /// `availability` must stay above its limit; every other metric below.
    fn above(&self) -> bool {
        self.metric == Metric::Availability
    }

    fn met(&self, value: f64) -> bool {
        if self.above() { value > self.limit } else { value < self.limit }
    }
}

impl Threshold {
    /// Parses `name` (the metric) and `rule` (`< 5s`).
    pub fn parse(name: &str, rule: &str) -> Result<Threshold, String> {
        let bad = |why: &str| format!("bad target `{name} = \"{rule}\"`: {why}");
        let metric = parse_metric(name).map_err(|e| bad(&e))?;
        let example = match metric {
            Metric::Availability => "\"> 90%\"",
            Metric::ErrorRate | Metric::DroppedRate => "\"< 1%\"",
            Metric::Trend { .. } => "\"< +50%\"",
            _ => "\"< 5s\"",
        };
        let (sign, how) = if metric == Metric::Availability { ('>', "> SHARE") } else { ('<', "< VALUE") };
        let value = rule
            .trim()
            .strip_prefix(sign)
            .ok_or_else(|| bad(&format!("write it as \"{how}\", e.g. {example}")))?
            .trim();
        let threshold = if matches!(metric, Metric::Trend { .. }) {
            value
                .strip_suffix('%')
                .and_then(|p| p.trim().trim_start_matches('+').parse::<f64>().ok())
                .filter(|p| p.is_finite())
                .map(|p| p / 100.0)
                .ok_or_else(|| bad("a trend is a change in percent, e.g. \"< +50%\""))?
        } else if metric.is_ratio() {
            match value.strip_suffix('%') {
                Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
                None => value.parse::<f64>(),
            }
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| bad("a share is a percentage or a ratio from 0 to 1, e.g. 1% or 0.01"))?
        } else {
            humantime::parse_duration(value)
                .map_err(|_| bad("the threshold is a duration, e.g. 500ms or 5s"))?
                .as_micros() as f64
        };
        Ok(Threshold { name: name.to_owned(), metric, limit: threshold })
    }

    pub fn expr(&self) -> String {
        let threshold = match self.metric {
            // Rounded in the ninth digit: 0.95 * 100 is 94.999...
            _ if self.metric.is_ratio() => format!("{}%", (self.limit * 1e11).round() / 1e9),
            Metric::Trend { .. } => format!("{:+}%", self.limit * 100.0),
            // humantime reads what it writes: `expr` parses back (merged reports re-judge).
            _ => humantime::format_duration(Duration::from_micros(self.limit as u64)).to_string(),
        };
        format!("{} {} {threshold}", self.name, if self.above() { ">" } else { "<" })
    }

    /// Parses what [`Threshold::expr`] writes: `NAME < THRESHOLD`.
    pub fn parse_expr(expr: &str) -> Result<Threshold, String> {
        // The last ` < ` or ` > `: an endpoint's name has a space of its own.
        let at = [" < ", " > "].iter().filter_map(|sign| expr.rfind(sign)).max();
        let at = at.ok_or_else(|| format!("bad target `{expr}`: write it as NAME < THRESHOLD"))?;
        Threshold::parse(&expr[..at], &expr[at + 1..])
    }
}

fn parse_metric(name: &str) -> Result<Metric, String> {
    let parts: Vec<&str> = name.splitn(3, '.').collect();
    let stat = |s: &str| -> Result<Stat, String> {
        if s == "max" {
            return Ok(Stat::Max);
        }
        let q = s
            .strip_prefix('p')
            .and_then(|p| p.parse::<f64>().ok())
            .filter(|p| (0.0..=100.0).contains(p))
            .ok_or_else(|| format!("`{s}` is not a statistic: use p50, p95, p99, p99.9 or max"))?;
        Ok(Stat::Quantile(q / 100.0))
    };
    match parts.as_slice() {
        ["journey", journey, s] => Ok(Metric::Journey { name: (*journey).to_owned(), stat: stat(s)? }),
        ["step", step, s] => Ok(Metric::Step { name: (*step).to_owned(), stat: stat(s)? }),
        ["persona", persona, s] => Ok(Metric::Persona { name: (*persona).to_owned(), stat: stat(s)? }),
        ["cohort", n] => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(Metric::Cohort)
            .ok_or_else(|| format!("`{n}` is not a cohort size: use e.g. cohort.10")),
        ["errors", "rate"] => Ok(Metric::ErrorRate),
        ["availability"] => Ok(Metric::Availability),
        ["stall", "max"] => Ok(Metric::StallMax),
        ["dropped", "rate"] => Ok(Metric::DroppedRate),
        ["trend", kind @ ("step" | "endpoint"), rest] => {
            let of = if *kind == "step" { TrendOf::Step } else { TrendOf::Endpoint };
            let (name, s) = split_stat(rest)
                .ok_or_else(|| format!("write trend.{kind}.NAME.p50, or trend.{kind}.*.p50 for every one"))?;
            let name = (name != "*").then(|| name.to_owned());
            match stat(s)? {
                Stat::Quantile(quantile) => Ok(Metric::Trend { of, name, quantile }),
                Stat::Max => Err("a trend compares a percentile: use e.g. trend.step.*.p50".into()),
            }
        }
        ["trend", journey, s] => match stat(s)? {
            Stat::Quantile(quantile) => {
                Ok(Metric::Trend { of: TrendOf::Journey, name: Some((*journey).to_owned()), quantile })
            }
            Stat::Max => Err("a trend compares a percentile: use e.g. trend.signup-chat.p50".into()),
        },
        _ => Err(
            "unknown metric: use journey.NAME.p99, step.NAME.p95, persona.NAME.p99, cohort.N, errors.rate, trend.NAME.p50, trend.step.*.p50, availability, stall.max or dropped.rate"
                .into(),
        ),
    }
}

/// `NAME.p99.9` (or `NAME.max`) as (`NAME`, `p99.9`): the statistic may hold a dot of its own.
pub fn split_stat(text: &str) -> Option<(&str, &str)> {
    let at = text.rfind(".p").or_else(|| text.strip_suffix(".max").map(|name| name.len()))?;
    Some((&text[..at], &text[at + 1..]))
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetResult {
    pub name: String,
    pub expr: String,
    /// The observed value as text (`12.345ms`, `0.5%`), `no data`, or `not run`.
    pub observed: String,
    pub passed: bool,
    /// The target cannot apply to this run (its journey, step or persona did not run; a cohort
    /// larger than the users; drops in the closed model): neither met nor missed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_run: bool,
    /// Why it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The one word a run ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "UPPERCASE")]
#[strum(serialize_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    Fail,
    /// A check the profile asked for never ran: what the run promised is unproven.
    Incomplete,
    Breach,
    /// A merge of a distributed run's segments with some missing (`--allow-partial`).
    Partial,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// PASS, FAIL, INCOMPLETE, BREACH or PARTIAL (absent in older reports: read from the exit
    /// code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub exit_code: u8,
    pub targets: Vec<TargetResult>,
}

impl Verdict {
    /// The verdict's word, also for reports written before it was kept.
    pub fn outcome(&self) -> Outcome {
        self.outcome.unwrap_or(match self.exit_code {
            crate::exit::OK => Outcome::Pass,
            crate::exit::BREACH => Outcome::Breach,
            crate::exit::INCOMPLETE => Outcome::Incomplete,
            crate::exit::PARTIAL => Outcome::Partial,
            _ => Outcome::Fail,
        })
    }
}

/// What the verdict judges: a narrow view of a run's figures (a report gives it), so that judging
/// needs nothing else of the report.
pub trait Figures {
    fn journey(&self, name: &str) -> Option<&Stats>;
    fn persona(&self, name: &str) -> Option<&Stats>;
    /// A step's figures over every journey that has the step.
    fn step(&self, name: &str) -> Stats;
    /// Microseconds from the run's start until `users` users completed the cohort journey.
    fn cohort(&self, users: usize) -> Option<u64>;
    /// Every journey's (step's, endpoint's) quantile early and late in the steady phase, or why
    /// it cannot be judged (see the report's timeline), by name.
    fn trends(&self, of: TrendOf, quantile: f64) -> Vec<(String, Result<Trend, String>)>;
    /// Journeys completed and failed, over every journey.
    fn journeys_done_and_failed(&self) -> (u64, u64);
    /// The share of the run's time the target answered in (`None`: no time measured).
    fn availability(&self) -> Option<f64>;
    /// The longest stall, in microseconds.
    fn stall_max(&self) -> Option<u64>;
    /// The open model's journeys due and dropped (`None`: the closed model).
    fn dropped(&self) -> Option<(u64, u64)>;
    /// Why a target on `metric` cannot apply to this run, if it cannot (its journey, step or
    /// persona did not run; a cohort larger than the run's users; drops in the closed model).
    fn inapplicable(&self, metric: &Metric) -> Option<String>;
    /// Whether a finding not known to the profile, and a breach, was reported.
    fn breached(&self) -> bool;
    /// Whether a reliability defect not known to the profile was reported (a FAIL).
    fn defective(&self) -> bool;
    /// Whether a check the profile asked for never ran (the probes' set-up failed throughout,
    /// no step that checks it completed).
    fn incomplete(&self) -> bool;
}

/// Judges every target on the run's figures. Exit code 1 when any target is missed or a
/// reliability defect was found; 4 (INCOMPLETE) wins over it when a check the profile asked for
/// never ran, and 3 (a breach) over both when a finding not known to the profile, other than a
/// reliability defect, was reported.
pub fn judge(targets: &[Threshold], figures: &dyn Figures) -> Verdict {
    let results: Vec<TargetResult> = targets
        .iter()
        .map(|t| {
            let expr = t.expr();
            if let Some(why) = figures.inapplicable(&t.metric) {
                let observed = "not run".to_owned();
                return TargetResult {
                    name: t.name.clone(),
                    expr,
                    observed,
                    passed: true,
                    not_run: true,
                    reason: Some(why),
                };
            }
            if let Metric::Trend { of, name, quantile } = &t.metric {
                return trend_result(t, expr, figures.trends(*of, *quantile), *of, name.as_deref());
            }
            let (observed, passed) = match observe(&t.metric, figures) {
                Some(v) if t.metric.is_ratio() => (format!("{:.3}%", v * 100.0), t.met(v)),
                Some(v) => (format_us(v), t.met(v)),
                None => ("no data".to_owned(), false),
            };
            TargetResult { name: t.name.clone(), expr, observed, passed, not_run: false, reason: None }
        })
        .collect();
    let missed = results.iter().any(|r| !r.passed);
    let outcome = if figures.breached() {
        Outcome::Breach
    } else if figures.incomplete() {
        Outcome::Incomplete
    } else if missed || figures.defective() {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    let exit_code = match outcome {
        Outcome::Pass => crate::exit::OK,
        Outcome::Fail => crate::exit::MISSED,
        Outcome::Incomplete => crate::exit::INCOMPLETE,
        Outcome::Breach => crate::exit::BREACH,
        Outcome::Partial => crate::exit::PARTIAL,
    };
    Verdict { passed: outcome == Outcome::Pass, outcome: Some(outcome), exit_code, targets: results }
}

fn observe(metric: &Metric, figures: &dyn Figures) -> Option<f64> {
    // Over every journey that ended: failed and cut ones too, so that a hang is in the tail. One
    // that never completed measured nothing (its failures are not a latency met).
    let stat_of = |stats: &Stats, stat: Stat| {
        let ended = stats.ended();
        (stats.count > 0).then(|| match stat {
            Stat::Max => ended.max() as f64,
            Stat::Quantile(q) => ended.quantile(q) as f64,
        })
    };
    match metric {
        Metric::Journey { name, stat } => figures.journey(name).and_then(|s| stat_of(s, *stat)),
        Metric::Persona { name, stat } => figures.persona(name).and_then(|s| stat_of(s, *stat)),
        Metric::Step { name, stat } => stat_of(&figures.step(name), *stat),
        Metric::Cohort(n) => figures.cohort(*n).map(|us| us as f64),
        // Judged by `trend_result`.
        Metric::Trend { .. } => None,
        Metric::ErrorRate => {
            let (done, failed) = figures.journeys_done_and_failed();
            (done + failed > 0).then(|| failed as f64 / (done + failed) as f64)
        }
        Metric::Availability => figures.availability(),
        Metric::StallMax => figures.stall_max().map(|us| us as f64),
        Metric::DroppedRate => {
            let (due, dropped) = figures.dropped()?;
            (due > 0).then(|| dropped as f64 / due as f64)
        }
    }
}

/// A trend target's result: the worst growth among the subjects it names that could be judged
/// (enough samples), with its figures; not run when none could.
fn trend_result(
    t: &Threshold,
    expr: String,
    trends: Vec<(String, Result<Trend, String>)>,
    of: TrendOf,
    name: Option<&str>,
) -> TargetResult {
    let mine: Vec<(String, Result<Trend, String>)> =
        trends.into_iter().filter(|(n, _)| name.is_none_or(|name| name == n)).collect();
    let judged: Vec<&Trend> = mine.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
    // The worst growth that counts; among none that counts, the one that grew most in time.
    let growth = |t: &Trend| t.last_us.saturating_sub(t.first_us);
    let worst = judged.iter().copied().filter(|t| t.judged_change().is_some()).max_by(|a, b| {
        let order = a.judged_change().partial_cmp(&b.judged_change()).unwrap_or(std::cmp::Ordering::Equal);
        order.then(growth(a).cmp(&growth(b)))
    });
    let Some(worst) = worst else {
        let why = match mine.iter().find_map(|(n, r)| r.as_ref().err().map(|e| (n, e))) {
            Some((n, e)) if name.is_some() => format!("{of} {n}: {e}"),
            Some((_, e)) => format!("no {of} could be judged: {e}"),
            None => format!("no {of} of this name ran in the steady phase"),
        };
        let (name, observed) = (t.name.clone(), "not run".to_owned());
        return TargetResult { name, expr, observed, passed: true, not_run: true, reason: Some(why) };
    };
    let change = worst.judged_change().unwrap_or(0.0);
    let observed = format!(
        "{:+.1}% ({} {}: {} -> {}, {} and {} samples)",
        worst.change().unwrap_or(0.0) * 100.0,
        worst.of,
        worst.name,
        format_us(worst.first_us as f64),
        format_us(worst.last_us as f64),
        worst.first_samples,
        worst.last_samples
    );
    TargetResult { name: t.name.clone(), expr, observed, passed: t.met(change), not_run: false, reason: None }
}

#[cfg(test)]
mod tests;
