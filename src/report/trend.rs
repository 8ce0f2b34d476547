//! Latency over time, judged: every journey's, step's and endpoint's trend over the steady phase
//! ([`crate::metrics::trend`]), and the report's degradation section: each step and endpoint whose
//! latency grew by more than the run's step trend allows, with its first and last figures and
//! the samples behind them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Report, TimelineReport};
use crate::metrics::trend::{self, MIN_GROWTH_US, MIN_SAMPLES};
use crate::metrics::{Histogram, Trend, TrendOf, Window};
use crate::verdict::{Metric, Threshold};

/// The degradation section: what was judged, by which rule, and what grew.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Degradation {
    /// The quantile compared (`0.5`: the median) and the growth allowed (`0.5`: +50 %).
    pub quantile: f64,
    pub limit: f64,
    pub min_samples: u64,
    pub min_growth_us: u64,
    /// Steps and endpoints judged (with enough samples on both sides).
    pub steps_judged: usize,
    pub endpoints_judged: usize,
    /// Those that could not be judged, with the reason (too few samples).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unjudged: Vec<String>,
    /// Steps, then endpoints, that grew by more than `limit` (and at least `min_growth_us`).
    pub grown: Vec<Trend>,
}

impl TimelineReport {
    /// Every journey's (step's, endpoint's) trend of `quantile` over the steady phase, or why it
    /// cannot be judged, by name.
    pub fn trends(&self, of: TrendOf, quantile: f64) -> Vec<(String, Result<Trend, String>)> {
        let steady = self.steady();
        let judge = |name: &str, pick: &dyn Fn(&Window) -> Option<Histogram>| {
            (name.to_owned(), trend::over(steady, pick, of, name, quantile))
        };
        match of {
            TrendOf::Journey => {
                let names: BTreeSet<&String> = self.windows.iter().flat_map(|w| w.journeys.keys()).collect();
                names
                    .into_iter()
                    .map(|j| judge(j, &|w: &Window| w.journeys.get(j).and_then(|s| s.ended().ok())))
                    .collect()
            }
            TrendOf::Step => {
                let names: BTreeSet<&String> =
                    self.windows.iter().flat_map(|w| w.steps.values().flat_map(|s| s.keys())).collect();
                names.into_iter().map(|s| judge(s, &|w: &Window| steps_of(w, &[s.as_str()]))).collect()
            }
            TrendOf::Endpoint => {
                let mut by_endpoint: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                // A step of several calls times them together: it says nothing of one endpoint.
                for (step, endpoints) in self.endpoints.iter().filter(|(_, e)| e.len() == 1) {
                    by_endpoint.entry(&endpoints[0]).or_default().push(step);
                }
                // Each step judged alone, the endpoint by the worst: two steps on one endpoint (a
                // WebSocket's connect and its first reply) take different times, and the median of
                // their mix jumps from one to the other on one sample's difference (seen: a steady
                // server's `WS /ws` from 7 ms to 52 ms).
                by_endpoint
                    .into_iter()
                    .map(|(e, steps)| {
                        let each = steps.iter().map(|s| judge(e, &|w: &Window| steps_of(w, &[s])).1);
                        (e.to_owned(), worst(each))
                    })
                    .collect()
            }
        }
    }
}

/// The trend that grew most (by the change that counts, then in time), else the first reason none
/// could be judged.
fn worst(trends: impl Iterator<Item = Result<Trend, String>>) -> Result<Trend, String> {
    let key = |t: &Trend| (t.judged_change().unwrap_or(f64::MIN), t.last_us.saturating_sub(t.first_us));
    let mut best: Option<Result<Trend, String>> = None;
    for t in trends {
        best = match (best, t) {
            (Some(Ok(b)), Ok(t)) => Some(Ok(if key(&t) > key(&b) { t } else { b })),
            (Some(Ok(b)), Err(_)) => Some(Ok(b)),
            (Some(Err(e)), Err(_)) => Some(Err(e)),
            (_, t) => Some(t),
        };
    }
    best.unwrap_or_else(|| Err("no step timed it in the steady phase".into()))
}

/// The named steps of a window, merged over every journey (`None`: none of them there).
fn steps_of(w: &Window, steps: &[&str]) -> Option<Histogram> {
    let mut merged: Option<Histogram> = None;
    for series in w.steps.values().flat_map(|s| steps.iter().filter_map(|name| s.get(*name))) {
        merged.get_or_insert_with(Histogram::default).add(&series.ended().ok()?);
    }
    merged
}

impl Report {
    /// The degradation section, by the run's step trend target (else the default one).
    pub fn degradation(&self, targets: &[Threshold]) -> Degradation {
        let rule = targets.iter().find_map(|t| match &t.metric {
            Metric::Trend { of: TrendOf::Step, name: None, quantile } => Some((*quantile, t.limit)),
            _ => None,
        });
        let (quantile, limit) = rule.unwrap_or((0.5, 0.5));
        let mut d = Degradation {
            quantile,
            limit,
            min_samples: MIN_SAMPLES,
            min_growth_us: MIN_GROWTH_US,
            ..Degradation::default()
        };
        for of in [TrendOf::Step, TrendOf::Endpoint] {
            for (name, judged) in self.timeline.trends(of, quantile) {
                match judged {
                    Ok(t) => {
                        *(if of == TrendOf::Step { &mut d.steps_judged } else { &mut d.endpoints_judged }) +=
                            1;
                        if t.degraded(limit) {
                            d.grown.push(t);
                        }
                    }
                    Err(why) => d.unjudged.push(format!("{of} {name}: {why}")),
                }
            }
        }
        d
    }
}

impl Degradation {
    /// The section's lines: the rule, then each step or endpoint that grew, or that none did.
    pub fn lines(&self, report: &Report) -> Vec<String> {
        use super::words::count;
        let mut lines = vec![format!(
            "did a step or endpoint slow down as the run went on? Its p{} at the steady phase's start against its end, {} or more each side; slower means over {:+.0}% and {}: {} and {} judged{}",
            self.quantile * 100.0,
            count(self.min_samples, "sample"),
            self.limit * 100.0,
            crate::metrics::format_us(self.min_growth_us as f64),
            count(self.steps_judged as u64, "step"),
            count(self.endpoints_judged as u64, "endpoint"),
            match self.unjudged.first().and_then(|u| u.split_once(": ")).map(|(_, why)| why) {
                None => String::new(),
                // Too short a steady phase holds every figure back for one reason: say it.
                Some(why) if why.contains("complete window") => format!(", none could be: {why}"),
                Some(_) => format!(", {} with too few samples to judge", self.unjudged.len()),
            }
        )];
        if self.grown.is_empty() && self.steps_judged + self.endpoints_judged > 0 {
            lines.push("none slowed down".into());
        }
        for t in &self.grown {
            let calls = match t.of {
                TrendOf::Step => report.timeline.endpoints.get(&t.name).map(|e| e.join(", ")),
                _ => {
                    let steps: Vec<&str> = report
                        .timeline
                        .endpoints
                        .iter()
                        .filter(|(_, e)| e.len() == 1 && e[0] == t.name)
                        .map(|(s, _)| s.as_str())
                        .collect();
                    Some(format!("steps {}", steps.join(", ")))
                }
            };
            lines.push(format!(
                "{} {}{}: {} -> {} ({:+.0}%), {} samples at {:.0}-{:.0} s and {} at {:.0}-{:.0} s",
                t.of,
                t.name,
                calls.filter(|c| !c.is_empty()).map(|c| format!(" ({c})")).unwrap_or_default(),
                crate::metrics::format_us(t.first_us as f64),
                crate::metrics::format_us(t.last_us as f64),
                t.change().unwrap_or(0.0) * 100.0,
                t.first_samples,
                t.first_s.0,
                t.first_s.1,
                t.last_samples,
                t.last_s.0,
                t.last_s.1,
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::WindowJourney;

    /// 12 one-second windows of a WebSocket journey: `connect` at 7 ms and `reply` at 50 ms, both
    /// steady, one more reply than connects in the first windows and one fewer in the last.
    fn two_steps_on_one_endpoint(reply_late_us: u64) -> TimelineReport {
        let windows = (0..12)
            .map(|i| {
                let series = |count: u64, us: u64| {
                    let mut h = Histogram::default();
                    (0..count).for_each(|_| h.record(us));
                    WindowJourney::of(&h, &Histogram::default(), 0)
                };
                let (connects, replies) = if i < 6 { (10, 11) } else { (11, 10) };
                let reply_us = if i < 6 { 50_000 } else { reply_late_us };
                let steps = [
                    ("connect".to_owned(), series(connects, 7_000)),
                    ("reply".to_owned(), series(replies, reply_us)),
                ];
                let mut w = Window { start_s: i as f64, width_s: 1.0, ..Window::default() };
                w.steps.insert("chat".into(), steps.into_iter().collect());
                w
            })
            .collect();
        let endpoints = [("connect", "WS /ws"), ("reply", "WS /ws")];
        TimelineReport {
            ramp_s: 0.0,
            windows,
            endpoints: endpoints.iter().map(|(s, e)| (s.to_string(), vec![e.to_string()])).collect(),
        }
    }

    #[test]
    fn an_endpoint_is_judged_by_each_of_its_steps_not_the_median_of_their_mix() {
        // Mixed, the median would be the reply's 50 ms at the start and the connect's 7 ms at the
        // end (or the other way round): a jump in a steady endpoint.
        let steady = two_steps_on_one_endpoint(50_000).trends(TrendOf::Endpoint, 0.5);
        let [(name, Ok(t))] = &steady[..] else { panic!("{steady:?}") };
        assert_eq!(name, "WS /ws");
        assert!(!t.degraded(0.5) && t.change().unwrap().abs() < 0.05, "{t:?}");
        // A reply slowing to 120 ms is the endpoint's trend, whichever step is the larger share.
        let slow = two_steps_on_one_endpoint(120_000).trends(TrendOf::Endpoint, 0.5);
        let [(_, Ok(t))] = &slow[..] else { panic!("{slow:?}") };
        assert!(t.degraded(0.5) && t.last_us > 100_000 && t.first_us > 40_000, "{t:?}");
    }
}
