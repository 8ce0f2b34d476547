//! Targets and the verdict. A target is a [`Threshold`], `METRIC < LIMIT`, written in a
//! profile's `[targets]` as `"METRIC" = "< LIMIT"`:
//!
//! - `journey.NAME.pNN` / `journey.NAME.max`: a journey's latency percentile (e.g. `p99`, `p99.9`);
//! - `step.NAME.pNN` / `step.NAME.max`: a step's latency, over every journey that has the step;
//! - `persona.NAME.pNN` / `persona.NAME.max`: the journey latency of one persona;
//! - `cohort.N`: time from the run's start until the first N users completed signup-chat;
//! - `errors.rate`: failed journeys over all journeys (`1%` or `0.01`).
//!
//! Durations are humantime (`500ms`, `5s`). A metric with no data fails its target: a run that
//! measured nothing has proven nothing. The verdict reads a narrow view of the figures
//! ([`Figures`]), which the report implements.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::{Stats, format_us};

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
    /// How much a journey's latency quantile grew from the steady phase's first windows to its
    /// last ones, as a ratio (`0.5` = +50 %).
    Trend {
        journey: String,
        quantile: f64,
    },
}

impl Metric {
    /// The journey, step or persona the metric is about (none for cohorts and the error rate).
    pub fn subject(&self) -> Option<&str> {
        match self {
            Metric::Journey { name, .. } | Metric::Step { name, .. } | Metric::Persona { name, .. } => {
                Some(name)
            }
            Metric::Trend { journey, .. } => Some(journey),
            Metric::Cohort(_) | Metric::ErrorRate => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    Quantile(f64),
    Max,
}

/// A target of the profile: `METRIC < LIMIT`.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub name: String,
    pub metric: Metric,
    /// Microseconds for latency metrics, a ratio for `errors.rate`.
    pub limit: f64,
}

impl Threshold {
    /// Parses `name` (the metric) and `rule` (`< 5s`).
    pub fn parse(name: &str, rule: &str) -> Result<Threshold, String> {
        let bad = |why: &str| format!("bad target `{name} = \"{rule}\"`: {why}");
        let metric = parse_metric(name).map_err(|e| bad(&e))?;
        let value = rule
            .trim()
            .strip_prefix('<')
            .ok_or_else(|| bad("write it as \"< VALUE\", e.g. \"< 5s\""))?
            .trim();
        let threshold = if matches!(metric, Metric::Trend { .. }) {
            value
                .strip_suffix('%')
                .and_then(|p| p.trim().trim_start_matches('+').parse::<f64>().ok())
                .filter(|p| p.is_finite())
                .map(|p| p / 100.0)
                .ok_or_else(|| bad("a trend is a change in percent, e.g. \"< +50%\""))?
        } else if metric == Metric::ErrorRate {
            match value.strip_suffix('%') {
                Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
                None => value.parse::<f64>(),
            }
            .map_err(|_| bad("the error rate is a percentage or a ratio, e.g. 1% or 0.01"))?
        } else {
            humantime::parse_duration(value)
                .map_err(|_| bad("the threshold is a duration, e.g. 500ms or 5s"))?
                .as_micros() as f64
        };
        Ok(Threshold { name: name.to_owned(), metric, limit: threshold })
    }

    pub fn expr(&self) -> String {
        let threshold = match self.metric {
            Metric::ErrorRate => format!("{}%", self.limit * 100.0),
            Metric::Trend { .. } => format!("{:+}%", self.limit * 100.0),
            // humantime reads what it writes: `expr` parses back (merged reports re-judge).
            _ => humantime::format_duration(Duration::from_micros(self.limit as u64)).to_string(),
        };
        format!("{} < {threshold}", self.name)
    }

    /// Parses what [`Threshold::expr`] writes: `NAME < THRESHOLD`.
    pub fn parse_expr(expr: &str) -> Result<Threshold, String> {
        let (name, rule) = expr
            .split_once(' ')
            .ok_or_else(|| format!("bad target `{expr}`: write it as NAME < THRESHOLD"))?;
        Threshold::parse(name, rule)
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
        ["trend", journey, s] => match stat(s)? {
            Stat::Quantile(quantile) => Ok(Metric::Trend { journey: (*journey).to_owned(), quantile }),
            Stat::Max => Err("a trend compares a percentile: use e.g. trend.signup-chat.p50".into()),
        },
        _ => Err(
            "unknown metric: use journey.NAME.p99, step.NAME.p95, persona.NAME.p99, cohort.N, errors.rate or trend.NAME.p50"
                .into(),
        ),
    }
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
    /// The target's journey, step or persona did not run (skipped with a reason in the
    /// report): neither met nor missed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_run: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    pub exit_code: u8,
    pub targets: Vec<TargetResult>,
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
    /// A journey's quantile early and late in the steady phase (see the report's timeline).
    fn trend(&self, journey: &str, quantile: f64) -> Option<(u64, u64)>;
    /// Journeys completed and failed, over every journey.
    fn journeys_done_and_failed(&self) -> (u64, u64);
    /// Whether a journey, step or persona of the profile did not run (skipped with a reason).
    fn not_run(&self, subject: &str) -> bool;
    /// Whether a finding not known to the profile was reported.
    fn breached(&self) -> bool;
}

/// Judges every target on the run's figures. Exit code 1 when any target is missed; 3 (a
/// breach) wins over it when a finding not known to the profile was reported.
pub fn judge(targets: &[Threshold], figures: &dyn Figures) -> Verdict {
    let results: Vec<TargetResult> = targets
        .iter()
        .map(|t| {
            let observed = observe(&t.metric, figures);
            let not_run = observed.is_none() && t.metric.subject().is_some_and(|s| figures.not_run(s));
            let (text, passed) = match observed {
                Some(v) if t.metric == Metric::ErrorRate => (format!("{:.3}%", v * 100.0), v < t.limit),
                Some(v) if matches!(t.metric, Metric::Trend { .. }) => {
                    (format!("{:+.1}%", v * 100.0), v < t.limit)
                }
                Some(v) => (format_us(v), v < t.limit),
                None if not_run => ("not run".to_owned(), true),
                None => ("no data".to_owned(), false),
            };
            TargetResult { name: t.name.clone(), expr: t.expr(), observed: text, passed, not_run }
        })
        .collect();
    let missed = results.iter().any(|r| !r.passed);
    let exit_code = if figures.breached() {
        crate::exit::BREACH
    } else if missed {
        crate::exit::MISSED
    } else {
        crate::exit::OK
    };
    Verdict { passed: exit_code == crate::exit::OK, exit_code, targets: results }
}

fn observe(metric: &Metric, figures: &dyn Figures) -> Option<f64> {
    let stat_of = |stats: &Stats, stat: Stat| {
        (stats.count > 0).then(|| match stat {
            Stat::Max => stats.max_us as f64,
            Stat::Quantile(q) => stats.histogram.quantile(q) as f64,
        })
    };
    match metric {
        Metric::Journey { name, stat } => figures.journey(name).and_then(|s| stat_of(s, *stat)),
        Metric::Persona { name, stat } => figures.persona(name).and_then(|s| stat_of(s, *stat)),
        Metric::Step { name, stat } => stat_of(&figures.step(name), *stat),
        Metric::Cohort(n) => figures.cohort(*n).map(|us| us as f64),
        Metric::Trend { journey, quantile } => {
            let (early, late) = figures.trend(journey, *quantile)?;
            (early > 0).then(|| late as f64 / early as f64 - 1.0)
        }
        Metric::ErrorRate => {
            let (done, failed) = figures.journeys_done_and_failed();
            (done + failed > 0).then(|| failed as f64 / (done + failed) as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trends_parse_as_percent_changes() {
        let t = Threshold::parse("trend.signup-chat.p50", "< +50%").unwrap();
        assert_eq!(t.metric, Metric::Trend { journey: "signup-chat".into(), quantile: 0.5 });
        assert_eq!((t.limit, t.expr().as_str()), (0.5, "trend.signup-chat.p50 < +50%"));
        assert!(Threshold::parse("trend.signup-chat.p50", "< 5s").unwrap_err().contains("percent"));
        assert!(Threshold::parse("trend.signup-chat.max", "< +5%").unwrap_err().contains("percentile"));
    }

    #[test]
    fn targets_parse_and_refuse_nonsense() {
        let t = Threshold::parse("journey.signup-chat.p99", "< 5s").unwrap();
        assert_eq!(t.metric, Metric::Journey { name: "signup-chat".into(), stat: Stat::Quantile(0.99) });
        assert_eq!(t.limit, 5_000_000.0);
        assert_eq!(t.expr(), "journey.signup-chat.p99 < 5s");
        for (name, rule) in [("step.x.p95", "< 1.5s"), ("errors.rate", "< 0.5%"), ("trend.j.p99", "< -10%")] {
            let t = Threshold::parse(name, rule).unwrap();
            assert_eq!(Threshold::parse_expr(&t.expr()).unwrap(), t, "{}", t.expr());
        }
        assert_eq!(Threshold::parse("errors.rate", "< 1%").unwrap().limit, 0.01);
        assert_eq!(
            Threshold::parse("persona.abuser.max", "< 15s").unwrap().metric,
            Metric::Persona { name: "abuser".into(), stat: Stat::Max }
        );
        assert_eq!(Threshold::parse("cohort.10", "<500ms").unwrap().metric, Metric::Cohort(10));
        assert_eq!(
            Threshold::parse("step.first_reply.p99.9", "< 3s").unwrap().metric,
            Metric::Step { name: "first_reply".into(), stat: Stat::Quantile(99.9 / 100.0) }
        );
        for (name, rule) in [
            ("journey.x.p101", "< 1s"),
            ("cohort.0", "< 1s"),
            ("speed", "< 1s"),
            ("errors.rate", "> 1%"),
            ("journey.x.p99", "< soon"),
        ] {
            assert!(Threshold::parse(name, rule).is_err(), "{name} {rule}");
        }
    }
}
