//! The HTML report's charts: what each one shows of the [`Report`], as HTML (inline SVG drawn
//! by [`plot`], or one sentence when there is nothing to draw). Latency is in milliseconds on a
//! log axis: a 1 s journey beside an 8 ms one leaves both readable. Rates are per second of each
//! window; a window much narrower than the others (the run's last, cut short) is left out of
//! them, and the chart says so.

mod plot;

pub use plot::{Axis, Chart, Line};

use super::Report;
use crate::metrics::{Histogram, Window, WindowJourney};

/// HDR-style percentile spectrum of a histogram: `(x, ms)` with `x` on [`Axis::Percentile`].
pub fn spectrum(h: &Histogram) -> Vec<(f64, f64)> {
    if h.count() == 0 {
        return Vec::new();
    }
    (0..=80)
        .map(|k| {
            let x = f64::from(k) / 20.0; // 0 ..= 4: up to p99.99
            let q = 1.0 - 10f64.powf(-x);
            (x, h.quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// A histogram as `(ms, count)` per bucket (each bucket's upper bound 1.25x the last's), for a
/// log latency axis; empty buckets are left off both ends but one, where the curve meets zero
/// (they would stretch the axis over decades with nothing in them).
pub fn distribution(h: &Histogram) -> Vec<(f64, f64)> {
    let buckets = h.log_buckets(10, 1.25);
    let (Some(first), Some(last)) =
        (buckets.iter().position(|b| b.1 > 0), buckets.iter().rposition(|b| b.1 > 0))
    else {
        return Vec::new();
    };
    let ms = |upper: u64| upper.max(1) as f64 / 1000.0;
    let mut points: Vec<(f64, f64)> = buckets[first.saturating_sub(1)..=last]
        .iter()
        .map(|&(upper, count)| (ms(upper), count as f64))
        .collect();
    // The buckets end with the largest value: one more, empty, closes the curve.
    points.push((ms(buckets[last].0) * 1.25, 0.0));
    points
}

const LATENCY: (Axis, &str) = (Axis::Latency, "latency (log scale)");
const SECONDS: (Axis, &str) = (Axis::Linear, "seconds from the start");

/// The journeys' latency spectra (six journeys a chart at most).
pub fn spectra(report: &Report) -> String {
    let lines = report
        .journeys
        .iter()
        .map(|(name, j)| Line { name: name.clone(), points: spectrum(&j.stats.ended()) })
        .collect();
    Chart::new(
        "Journey latency by percentile",
        (Axis::Percentile, "percentile"),
        LATENCY,
        "No journey ended.",
    )
    .lines(lines)
    .render()
}

/// Per journey, how its steps' latencies are distributed, in step order; a journey with more
/// than six steps gets several charts (of about as many steps each).
pub fn step_histograms(report: &Report) -> Vec<(String, String)> {
    report
        .journeys
        .iter()
        .map(|(name, j)| {
            let mut steps: Vec<_> = j.steps.iter().collect();
            steps.sort_by_key(|(step, _)| (crate::journeys::Step::rank(step), *step));
            let lines = steps
                .into_iter()
                .map(|(step, s)| Line { name: step.clone(), points: distribution(&s.histogram) });
            let chart = Chart::new(
                format!("{name}: step latency distribution"),
                LATENCY,
                (Axis::Linear, "steps"),
                format!("No step of {name} ended."),
            );
            (name.clone(), chart.lines(lines.collect()).render())
        })
        .collect()
}

/// The windows a rate is drawn from, and a note naming those left out: narrower than half the
/// widest, so a handful of requests would read as a fall.
fn rated(windows: &[Window]) -> (Vec<&Window>, Option<String>) {
    let full = windows.iter().map(|w| w.width_s).fold(0.0, f64::max);
    let (kept, cut): (Vec<&Window>, Vec<&Window>) =
        windows.iter().filter(|w| w.width_s > 0.0).partition(|w| w.width_s * 2.0 >= full);
    let note = match cut.as_slice() {
        [] => None,
        [w] => Some(format!(
            "The window {:.1}-{:.1} s is left out: {:.1} s wide against {full:.1} s, it would show a false dip.",
            w.start_s,
            w.start_s + w.width_s,
            w.width_s
        )),
        many => Some(format!(
            "{} windows narrower than half of {full:.1} s are left out: they would show false dips.",
            many.len()
        )),
    };
    (kept, note)
}

/// Joins the sentences that apply.
/// Attempts, completions and errors per second, active users and latency, per window.
pub fn over_time(report: &Report) -> Vec<String> {
    let windows = &report.timeline.windows;
    let (rate_windows, cut) = rated(windows);
    let mid = |w: &Window| w.start_s + w.width_s / 2.0;
    let per_second = |f: &dyn Fn(&Window) -> u64| -> Vec<(f64, f64)> {
        rate_windows.iter().map(|w| (mid(w), f(w) as f64 / w.width_s)).collect()
    };
    // A window without the journey counts zero.
    let per_journey =
        |name: &str, f: fn(&WindowJourney) -> u64| per_second(&|w| w.journeys.get(name).map_or(0, f));
    let names: Vec<&String> = report.journeys.keys().collect();

    // Attempts beside completions: after failures users back off and begin fewer, so an outage
    // shows as both falling, not as a few failures.
    let attempts = vec![
        Line { name: "begun".into(), points: per_second(&|w| w.begun) },
        Line {
            name: "completed".into(),
            points: per_second(&|w| w.journeys.values().map(|j| j.count).sum()),
        },
        Line {
            name: "failed".into(),
            points: per_second(&|w| w.journeys.values().map(|j| j.failures).sum()),
        },
    ];
    let throughput =
        names.iter().map(|n| Line { name: (*n).clone(), points: per_journey(n, |j| j.count) }).collect();
    // Each journey in its colour of the chart above (a series at zero stays, so as not to shift
    // them); all errors last.
    let mut errors: Vec<Line> = names
        .iter()
        .map(|n| Line { name: format!("{n} failed"), points: per_journey(n, |j| j.failures) })
        .collect();
    errors.push(Line { name: "errors (all kinds)".into(), points: per_second(&|w| w.errors) });
    let users = vec![Line {
        name: "active users".into(),
        points: windows.iter().map(|w| (w.start_s + w.width_s, w.active_users as f64)).collect(),
    }];
    // Over every journey that ended in the window, failed ones too: p50 solid, p99 dashed in
    // the journey's colour.
    let quantile = |name: &str, f: fn(&WindowJourney) -> u64| -> Vec<(f64, f64)> {
        windows
            .iter()
            .filter(|w| w.width_s > 0.0)
            .filter_map(|w| {
                w.journeys
                    .get(name)
                    .filter(|j| j.count + j.failures > 0)
                    .map(|j| (mid(w), f(j) as f64 / 1000.0))
            })
            .collect()
    };
    let latency: Vec<Vec<Line>> = names
        .iter()
        .map(|n| {
            vec![
                Line { name: format!("{n} p50"), points: quantile(n, |j| j.p50_us) },
                Line { name: format!("{n} p99"), points: quantile(n, |j| j.p99_us) },
            ]
        })
        .collect();
    let rate = |title: &str, y: &str, empty: &str, lines: Vec<Line>| {
        Chart::new(title, SECONDS, (Axis::Linear, y), empty).lines(lines).note(cut.clone()).render()
    };
    let mut latency_chart =
        Chart::new("Journey latency over time", SECONDS, LATENCY, "No journey ended in any window.");
    latency_chart.groups = latency;
    vec![
        rate("Journeys begun and completed per second", "journeys/s", "No journey began.", attempts),
        rate("Journeys completed per second", "journeys/s", "No journey completed.", throughput),
        rate(
            "Errors and failed journeys per second",
            "per second",
            "No errors and no failed journeys in any window.",
            errors,
        ),
        Chart::new("Active users", SECONDS, (Axis::Linear, "users"), "No user was started.")
            .lines(users)
            .render(),
        latency_chart.render(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_distribution_spans_its_samples_and_a_spectrum_never_falls() {
        let mut h = Histogram::default();
        (1..=1000).for_each(|v| h.record(2000 + v * 10)); // 2 ms to 12 ms
        let d = distribution(&h);
        let (lo, hi) = (d[0].0, d[d.len() - 1].0);
        assert!(lo > 1.0 && lo < 2.0 && hi > 12.0 && hi < 20.0, "{lo} - {hi} ms");
        assert_eq!((d[0].1, d[d.len() - 1].1), (0.0, 0.0), "the curve meets zero at both ends");
        assert_eq!(d.iter().map(|p| p.1).sum::<f64>(), 1000.0);
        let s = spectrum(&h);
        assert_eq!(s.len(), 81);
        assert!(s.windows(2).all(|w| w[0].1 <= w[1].1), "a spectrum never falls");
        assert!(distribution(&Histogram::default()).is_empty());
    }
}
