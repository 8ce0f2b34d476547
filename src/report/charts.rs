//! The HTML report's charts, drawn by plotters as inline SVG (no script, no font from the
//! network; plotters escapes the text it writes). Each chart is a function of the report.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Report;
use crate::metrics::Histogram;

const SIZE: (u32, u32) = (760, 340);

/// One named line: `(x, y)` points.
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// How an axis is labelled.
#[derive(Clone, Copy)]
pub enum Axis {
    Plain,
    /// `x` is `log10(1 / (1 - q))`: 0 = p0, 1 = p90, 2 = p99, 3 = p99.9, 4 = p99.99.
    Percentile,
    /// `x` is `log10(milliseconds)`.
    LogMs,
}

fn label(axis: Axis, x: f64) -> String {
    match axis {
        Axis::Plain => {
            if x.fract().abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        }
        Axis::Percentile => {
            let q = 100.0 * (1.0 - 10f64.powf(-x));
            let digits = (x.round() as usize).saturating_sub(2);
            format!("{q:.digits$}%")
        }
        Axis::LogMs => {
            let ms = 10f64.powf(x);
            if ms < 1.0 { format!("{:.0}µs", ms * 1000.0) } else { format!("{ms:.0}ms") }
        }
    }
}

/// A line chart as an `<svg>` element; an empty chart says so.
pub fn lines(title: &str, x_desc: &str, y_desc: &str, x_axis: Axis, lines: &[Line]) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, title, x_desc, y_desc, x_axis, lines)
    };
    match drawn {
        Ok(()) => svg,
        Err(e) => format!(
            "<p class=\"note\">chart {} could not be drawn: {}</p>",
            super::html::esc(title),
            super::html::esc(&e)
        ),
    }
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x_axis: Axis,
    lines: &[Line],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let points = lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0f64);
    for &(x, y) in points {
        (x0, x1, y1) = (x0.min(x), x1.max(x), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.08 };
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, 0f64..y1)
        .map_err(|e| err(&e))?;
    let x_label = move |x: &f64| label(x_axis, *x);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y| label(Axis::Plain, (*y * 10.0).round() / 10.0))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, line) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(line.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    if !lines.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

/// HDR-style percentile spectrum of a histogram: latency (ms) against percentile, log x.
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

/// A histogram as counts per bucket on a log latency axis (each bucket 1.25x the last).
pub fn distribution(h: &Histogram) -> Vec<(f64, f64)> {
    h.log_buckets(10, 1.25)
        .into_iter()
        .map(|(upper, count)| ((upper.max(1) as f64 / 1000.0).log10(), count as f64))
        .collect()
}

/// The journeys' latency spectra.
pub fn spectra(report: &Report) -> String {
    let lines: Vec<Line> = report
        .journeys
        .iter()
        .map(|(name, j)| Line { name: name.clone(), points: spectrum(&j.stats.ended()) })
        .collect();
    self::lines("Journey latency by percentile", "percentile", "ms", Axis::Percentile, &lines)
}

/// One chart per journey: how its steps' latencies are distributed.
pub fn step_histograms(report: &Report) -> Vec<(String, String)> {
    report
        .journeys
        .iter()
        .map(|(name, j)| {
            let lines: Vec<Line> = j
                .steps
                .iter()
                .map(|(step, s)| Line { name: step.clone(), points: distribution(&s.histogram) })
                .collect();
            let title = format!("{name}: step latency distribution");
            (name.clone(), self::lines(&title, "latency (log)", "steps", Axis::LogMs, &lines))
        })
        .collect()
}

/// Throughput, errors, active users and latency per window.
pub fn over_time(report: &Report) -> Vec<String> {
    let windows = &report.timeline.windows;
    let mid = |w: &crate::metrics::Window| w.start_s + w.width_s / 2.0;
    // A window without the journey counts zero, and has no latency to draw.
    let per_journey = |f: &dyn Fn(&crate::metrics::WindowJourney, f64) -> Option<f64>, zero: Option<f64>| {
        report
            .journeys
            .keys()
            .map(|name| Line {
                name: name.clone(),
                points: windows
                    .iter()
                    .filter(|w| w.width_s > 0.0)
                    .filter_map(|w| Some((mid(w), w.journeys.get(name).map_or(zero, |j| f(j, w.width_s))?)))
                    .collect(),
            })
            .collect::<Vec<Line>>()
    };
    let throughput = per_journey(&|j, width| Some(j.count as f64 / width), Some(0.0));
    let failures = per_journey(&|j, width| Some(j.failures as f64 / width), Some(0.0));
    let mut errors = vec![Line {
        name: "errors (all kinds)".into(),
        points: windows
            .iter()
            .filter(|w| w.width_s > 0.0)
            .map(|w| (mid(w), w.errors as f64 / w.width_s))
            .collect(),
    }];
    errors.extend(failures.into_iter().map(|l| Line { name: format!("{} failed", l.name), ..l }));
    let users = vec![Line {
        name: "active users".into(),
        points: windows.iter().map(|w| (w.start_s + w.width_s, w.active_users as f64)).collect(),
    }];
    // Over every journey that ended in the window, failed ones too.
    let mut latency = per_journey(&|j, _| (j.count + j.failures > 0).then(|| j.p50_us as f64 / 1000.0), None);
    for l in &mut latency {
        l.name.push_str(" p50");
    }
    let p99 = per_journey(&|j, _| (j.count + j.failures > 0).then(|| j.p99_us as f64 / 1000.0), None);
    latency.extend(p99.into_iter().map(|l| Line { name: format!("{} p99", l.name), ..l }));
    // Attempts beside completions: after failures users back off and begin fewer, so an outage
    // shows as both falling, not as a few failures.
    let per_second = |f: &dyn Fn(&crate::metrics::Window) -> f64| -> Vec<(f64, f64)> {
        windows.iter().filter(|w| w.width_s > 0.0).map(|w| (mid(w), f(w) / w.width_s)).collect()
    };
    let attempts = vec![
        Line { name: "begun".into(), points: per_second(&|w| w.begun as f64) },
        Line {
            name: "completed".into(),
            points: per_second(&|w| w.journeys.values().map(|j| j.count).sum::<u64>() as f64),
        },
        Line {
            name: "failed".into(),
            points: per_second(&|w| w.journeys.values().map(|j| j.failures).sum::<u64>() as f64),
        },
    ];
    vec![
        lines("Journeys begun and completed per second", "seconds", "journeys/s", Axis::Plain, &attempts),
        lines("Journeys completed per second", "seconds", "journeys/s", Axis::Plain, &throughput),
        lines("Errors and failed journeys per second", "seconds", "per second", Axis::Plain, &errors),
        lines("Active users", "seconds", "users", Axis::Plain, &users),
        lines("Journey latency over time", "seconds", "ms", Axis::Plain, &latency),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_read_as_percentiles_and_latencies() {
        assert_eq!(label(Axis::Percentile, 0.0), "0%");
        assert_eq!(label(Axis::Percentile, 1.0), "90%");
        assert_eq!(label(Axis::Percentile, 2.0), "99%");
        assert_eq!(label(Axis::Percentile, 4.0), "99.99%");
        assert_eq!(label(Axis::LogMs, 1.0), "10ms");
        let mut h = Histogram::default();
        (1..=1000).for_each(|v| h.record(v * 100));
        let s = spectrum(&h);
        assert_eq!(s.len(), 81);
        assert!(s.windows(2).all(|w| w[0].1 <= w[1].1), "a spectrum never falls");
        let svg = lines("a <title> & more", "x", "y", Axis::Plain, &[Line { name: "<j>".into(), points: s }]);
        assert!(svg.starts_with("<svg") && svg.contains("&lt;title&gt;") && !svg.contains("<j>"));
    }
}
