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
//!   those due.
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
            Metric::Trend { journey, .. } => Some(journey),
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
pub const DEFAULT_TARGETS: &[(&str, &str)] = &[("availability", "> 90%"), ("stall.max", "< 3s")];

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
        ["availability"] => Ok(Metric::Availability),
        ["stall", "max"] => Ok(Metric::StallMax),
        ["dropped", "rate"] => Ok(Metric::DroppedRate),
        ["trend", journey, s] => match stat(s)? {
            Stat::Quantile(quantile) => Ok(Metric::Trend { journey: (*journey).to_owned(), quantile }),
            Stat::Max => Err("a trend compares a percentile: use e.g. trend.signup-chat.p50".into()),
        },
        _ => Err(
            "unknown metric: use journey.NAME.p99, step.NAME.p95, persona.NAME.p99, cohort.N, errors.rate, trend.NAME.p50, availability, stall.max or dropped.rate"
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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// PASS, FAIL, INCOMPLETE or BREACH (absent in older reports: read from the exit code).
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
    /// A journey's quantile early and late in the steady phase (see the report's timeline).
    fn trend(&self, journey: &str, quantile: f64) -> Option<(u64, u64)>;
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
            let (observed, passed) = match observe(&t.metric, figures) {
                Some(v) if t.metric.is_ratio() => (format!("{:.3}%", v * 100.0), t.met(v)),
                Some(v) if matches!(t.metric, Metric::Trend { .. }) => {
                    (format!("{:+.1}%", v * 100.0), t.met(v))
                }
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
        Metric::Trend { journey, quantile } => {
            let (early, late) = figures.trend(journey, *quantile)?;
            (early > 0).then(|| late as f64 / early as f64 - 1.0)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Figures with nothing in them but what a test sets.
    #[derive(Default)]
    struct Fake {
        availability: Option<f64>,
        dropped: Option<(u64, u64)>,
        breached: bool,
        defective: bool,
        incomplete: bool,
        users: usize,
    }

    impl Figures for Fake {
        fn journey(&self, _: &str) -> Option<&Stats> {
            None
        }
        fn persona(&self, _: &str) -> Option<&Stats> {
            None
        }
        fn step(&self, _: &str) -> Stats {
            Stats::default()
        }
        fn cohort(&self, _: usize) -> Option<u64> {
            None
        }
        fn trend(&self, _: &str, _: f64) -> Option<(u64, u64)> {
            None
        }
        fn journeys_done_and_failed(&self) -> (u64, u64) {
            (100, 0)
        }
        fn availability(&self) -> Option<f64> {
            self.availability
        }
        fn stall_max(&self) -> Option<u64> {
            Some(10_000)
        }
        fn dropped(&self) -> Option<(u64, u64)> {
            self.dropped
        }
        fn inapplicable(&self, metric: &Metric) -> Option<String> {
            match metric {
                Metric::Cohort(n) if self.users < *n => Some(format!("only {} users", self.users)),
                _ => None,
            }
        }
        fn breached(&self) -> bool {
            self.breached
        }
        fn defective(&self) -> bool {
            self.defective
        }
        fn incomplete(&self) -> bool {
            self.incomplete
        }
    }

    fn targets(rules: &[(&str, &str)]) -> Vec<Threshold> {
        rules.iter().map(|(n, r)| Threshold::parse(n, r).unwrap()).collect()
    }

    #[test]
    fn breach_wins_over_incomplete_which_wins_over_a_missed_target() {
        let t = targets(&[("availability", "> 90%"), ("errors.rate", "< 1%")]);
        let judged = |f: &Fake| {
            let v = judge(&t, f);
            (v.outcome(), v.exit_code)
        };
        let up = Fake { availability: Some(1.0), ..Fake::default() };
        assert_eq!(judged(&up), (Outcome::Pass, crate::exit::OK));
        let down = Fake { availability: Some(0.5), ..Fake::default() };
        assert_eq!(judged(&down), (Outcome::Fail, crate::exit::MISSED));
        let defect = Fake { defective: true, ..up };
        assert_eq!(
            judged(&defect),
            (Outcome::Fail, crate::exit::MISSED),
            "a reliability defect is no breach"
        );
        let defect_unchecked = Fake { incomplete: true, ..defect };
        assert_eq!(judged(&defect_unchecked).0, Outcome::Incomplete);
        let unchecked = Fake { incomplete: true, ..down };
        assert_eq!(judged(&unchecked), (Outcome::Incomplete, crate::exit::INCOMPLETE));
        let breached = Fake { breached: true, ..unchecked };
        assert_eq!(judged(&breached), (Outcome::Breach, crate::exit::BREACH));
        // Availability is met above its limit, never at it.
        let edge = Fake { availability: Some(0.9), ..Fake::default() };
        assert_eq!(judged(&edge).0, Outcome::Fail);
    }

    #[test]
    fn targets_that_cannot_apply_are_not_run_with_the_reason_and_no_data_still_fails() {
        let t = targets(&[("cohort.10", "< 500ms"), ("dropped.rate", "< 1%"), ("journey.x.p99", "< 1s")]);
        let v = judge(&t, &Fake { users: 5, dropped: Some((200, 1)), ..Fake::default() });
        let cohort = &v.targets[0];
        assert!(
            cohort.not_run && cohort.passed && cohort.reason.as_deref() == Some("only 5 users"),
            "{cohort:?}"
        );
        assert!(v.targets[1].passed && v.targets[1].observed == "0.500%", "{:?}", v.targets[1]);
        assert!(
            !v.targets[2].passed && v.targets[2].observed == "no data",
            "a journey that measured nothing"
        );
        let dropping = judge(&t[1..2], &Fake { dropped: Some((100, 19)), ..Fake::default() });
        assert_eq!(dropping.outcome(), Outcome::Fail);
    }

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
        for (name, rule) in [
            ("step.x.p95", "< 1.5s"),
            ("errors.rate", "< 0.5%"),
            ("trend.j.p99", "< -10%"),
            ("availability", "> 95%"),
            ("stall.max", "< 2s"),
            ("dropped.rate", "< 1%"),
        ] {
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
            ("availability", "< 95%"),
            ("stall.max", "> 1s"),
            ("dropped.rate", "< lots"),
            ("availability", "> 150%"),
        ] {
            assert!(Threshold::parse(name, rule).is_err(), "{name} {rule}");
        }
    }
}
