//! Drawing one [`Chart`] with plotters as inline SVG: the title and a legend above the frame
//! (so the legend never hides a line), every text at least 12 px as rendered (plotters writes a
//! font size of `size / 1.24`), no minor grid, a colour-blind-safe palette, at most
//! [`MAX_SERIES`] lines a chart (more are split into parts), latency on a log axis with ticks at
//! powers of ten. A chart with nothing to draw is one sentence instead. Plotters escapes the text
//! it writes.

use std::fmt::Write;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::html::esc;

/// As wide as the page's column (`max-width:1100px` in html.rs); the CSS scales it down on a
/// narrower window.
pub const SIZE: (u32, u32) = (1100, 420);
/// Lines a chart carries at most: more are hard to tell apart.
pub const MAX_SERIES: usize = 6;
/// Okabe-Ito, without its yellow (too faint on white) and black (the axes' colour).
const PALETTE: [RGBColor; MAX_SERIES] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // green
    RGBColor(0xCC, 0x79, 0xA7), // purple
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky
];
/// Font sizes as given to plotters; rendered at `/ 1.24`: 13, 13.7 and 17.7 px.
const LABEL: f64 = 16.0;
const DESC: f64 = 17.0;
const TITLE: f64 = 22.0;
const LEGEND_ROW: u32 = 24;

/// One named line: `(x, y)` points.
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// How an axis maps and labels its values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Axis {
    /// Linear, from the data (a y axis from zero).
    Linear,
    /// `x` is `log10(1 / (1 - q))`: 0 = p0, 1 = p90, 2 = p99, 3 = p99.9, 4 = p99.99.
    Percentile,
    /// Milliseconds on a log scale, from a power of ten below the data to one above.
    Latency,
}

/// A chart to draw: its lines in groups of one colour each (the first line solid, the others
/// dashed: a journey's p50 and p99).
pub struct Chart {
    pub title: String,
    pub x: Axis,
    pub x_desc: String,
    pub y: Axis,
    pub y_desc: String,
    pub groups: Vec<Vec<Line>>,
    /// A short note shown under the chart.
    pub note: Option<String>,
    /// The sentence shown instead when there is nothing to draw (no line, or only zeros).
    pub empty: String,
}

impl Chart {
    pub fn new(
        title: impl Into<String>,
        x: (Axis, &str),
        y: (Axis, &str),
        empty: impl Into<String>,
    ) -> Chart {
        Chart {
            title: title.into(),
            x: x.0,
            x_desc: x.1.into(),
            y: y.0,
            y_desc: y.1.into(),
            groups: Vec::new(),
            note: None,
            empty: empty.into(),
        }
    }

    /// One line a colour.
    pub fn lines(mut self, lines: Vec<Line>) -> Chart {
        self.groups = lines.into_iter().map(|l| vec![l]).collect();
        self
    }

    pub fn note(mut self, note: Option<String>) -> Chart {
        self.note = note;
        self
    }

    /// The chart as HTML: one `<figure>` a part (at most [`MAX_SERIES`] lines each), or the
    /// empty sentence when no line has a point off zero.
    pub fn render(self) -> String {
        let (x_axis, y_axis) = (self.x, self.y);
        let drawable = |a: Axis, v: f64| v.is_finite() && (a != Axis::Latency || v > 0.0);
        let groups: Vec<Vec<Line>> = self
            .groups
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .map(|mut l| {
                        l.points.retain(|&(x, y)| drawable(x_axis, x) && drawable(y_axis, y));
                        l
                    })
                    .filter(|l| !l.points.is_empty())
                    .collect::<Vec<Line>>()
            })
            .filter(|g| !g.is_empty())
            .collect();
        let anything = groups.iter().flatten().flat_map(|l| &l.points).any(|&(_, y)| y != 0.0);
        if !anything {
            return format!("<p class=\"note chart-empty\">{}</p>", esc(&self.empty));
        }
        let parts = split(groups);
        let n = parts.len();
        let mut out = String::new();
        for (i, part) in parts.iter().enumerate() {
            let title = if n > 1 { format!("{} ({} of {n})", self.title, i + 1) } else { self.title.clone() };
            let spec =
                Spec { title: &title, x: x_axis, x_desc: &self.x_desc, y: y_axis, y_desc: &self.y_desc };
            let series: usize = part.iter().map(Vec::len).sum();
            let _ = write!(out, "<figure class=\"chart\" data-series=\"{series}\">");
            out.push_str(&svg(&spec, part));
            if let Some(note) = &self.note {
                let _ = write!(out, "<figcaption class=\"note\">{}</figcaption>", esc(note));
            }
            out.push_str("</figure>");
        }
        out
    }
}

/// Groups into parts of at most [`MAX_SERIES`] lines, as even as the groups allow, in order.
fn split(groups: Vec<Vec<Line>>) -> Vec<Vec<Vec<Line>>> {
    let widest = groups.iter().map(Vec::len).max().unwrap_or(1).clamp(1, MAX_SERIES);
    let per_part = MAX_SERIES / widest;
    let parts = groups.len().div_ceil(per_part).max(1);
    let size = groups.len().div_ceil(parts);
    let mut out: Vec<Vec<Vec<Line>>> = Vec::with_capacity(parts);
    for group in groups {
        match out.last_mut() {
            Some(part) if part.len() < size => part.push(group),
            _ => out.push(vec![group]),
        }
    }
    out
}

struct Spec<'a> {
    title: &'a str,
    x: Axis,
    x_desc: &'a str,
    y: Axis,
    y_desc: &'a str,
}

/// Tick labels of each axis kind.
pub fn label(axis: Axis, v: f64) -> String {
    match axis {
        Axis::Linear => {
            if (v - v.round()).abs() < 1e-9 {
                format!("{v:.0}")
            } else if v.abs() < 1.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.1}")
            }
        }
        Axis::Percentile => {
            let q = 100.0 * (1.0 - 10f64.powf(-v));
            let digits = (v.round() as usize).saturating_sub(2);
            format!("{q:.digits$}%")
        }
        Axis::Latency => {
            let short = |v: f64, unit: &str| {
                if (v - v.round()).abs() < 1e-6 * v.max(1.0) || v >= 10.0 {
                    format!("{v:.0}{unit}")
                } else {
                    format!("{v:.1}{unit}")
                }
            };
            if v >= 1000.0 {
                short(v / 1000.0, "s")
            } else if v >= 1.0 {
                short(v, "ms")
            } else {
                short(v * 1000.0, "µs")
            }
        }
    }
}

/// The range an axis spans over `values`.
fn range(axis: Axis, is_y: bool, values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    match axis {
        Axis::Percentile => (0.0, 4.0),
        Axis::Latency => {
            // Whole decades, so the ticks are powers of ten; the data is positive here.
            let (lo, hi) = if lo > hi { (1.0, 10.0) } else { (lo, hi) };
            let lo = 10f64.powf(lo.log10().floor());
            let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
            // A hair wider: plotters finds the ticks by floating-point steps, and would miss a
            // power of ten on the very edge.
            (lo * (1.0 - 1e-6), hi * (1.0 + 1e-6))
        }
        Axis::Linear if is_y => (0.0, if hi > 0.0 { hi * 1.08 } else { 1.0 }),
        Axis::Linear if lo > hi => (0.0, 1.0),
        Axis::Linear if hi - lo < 1e-9 => (lo - 0.5, hi + 0.5),
        Axis::Linear => (lo, hi),
    }
}

fn svg(spec: &Spec<'_>, groups: &[Vec<Line>]) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let points = || groups.iter().flatten().flat_map(|l| l.points.iter());
        let (x0, x1) = range(spec.x, false, points().map(|p| p.0));
        let (y0, y1) = range(spec.y, true, points().map(|p| p.1));
        match (spec.x == Axis::Latency, spec.y == Axis::Latency) {
            (false, false) => draw(&root, spec, groups, x0..x1, y0..y1),
            (false, true) => draw(&root, spec, groups, x0..x1, (y0..y1).log_scale()),
            (true, false) => draw(&root, spec, groups, (x0..x1).log_scale(), y0..y1),
            (true, true) => draw(&root, spec, groups, (x0..x1).log_scale(), (y0..y1).log_scale()),
        }
    };
    match drawn {
        Ok(()) => svg,
        Err(e) => format!("<p class=\"note\">chart {} could not be drawn: {}</p>", esc(spec.title), esc(&e)),
    }
}

/// Where the legend's entries go: `(x, row)` each, rows wrapping at the chart's width.
fn legend_layout(names: &[&str]) -> Vec<(i32, u32)> {
    let (mut x, mut row) = (16i32, 0u32);
    names
        .iter()
        .map(|name| {
            // About 7.5 px a character at 13 px; a 28 px swatch and a gap.
            let width = 28 + 8 + (name.chars().count() as f64 * 7.5) as i32 + 24;
            if x > 16 && x + width > SIZE.0 as i32 - 16 {
                (x, row) = (16, row + 1);
            }
            let at = (x, row);
            x += width;
            at
        })
        .collect()
}

fn draw<X, Y>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    spec: &Spec<'_>,
    groups: &[Vec<Line>],
    x: X,
    y: Y,
) -> Result<(), String>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let err = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let lines: Vec<(&Line, RGBColor, bool)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, group)| {
            group.iter().enumerate().map(move |(i, l)| (l, PALETTE[g % PALETTE.len()], i > 0))
        })
        .collect();
    let names: Vec<&str> = lines.iter().map(|(l, _, _)| l.name.as_str()).collect();
    let layout = legend_layout(&names);
    let rows = layout.last().map_or(0, |(_, row)| row + 1);
    let (head, body) = root.split_vertically(36 + rows * LEGEND_ROW + 4);
    let title = ("sans-serif", TITLE).into_font().style(FontStyle::Bold).color(&BLACK);
    head.draw(&Text::new(spec.title.to_owned(), (16, 8), title)).map_err(|e| err(&e))?;
    let legend = ("sans-serif", LABEL).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    for ((line, color, dashed), (x, row)) in lines.iter().zip(&layout) {
        let y = 36 + (*row * LEGEND_ROW) as i32 + LEGEND_ROW as i32 / 2;
        let style = color.stroke_width(3);
        if *dashed {
            for dx in [0, 11, 22] {
                head.draw(&PathElement::new(vec![(x + dx, y), (x + dx + 6, y)], style))
                    .map_err(|e| err(&e))?;
            }
        } else {
            head.draw(&PathElement::new(vec![(*x, y), (x + 28, y)], style)).map_err(|e| err(&e))?;
        }
        head.draw(&Text::new(line.name.clone(), (x + 36, y), legend.clone())).map_err(|e| err(&e))?;
    }
    let mut chart = ChartBuilder::on(&body)
        .margin_left(8)
        // Room for the last x label, centred on the frame's right edge ("99.99%").
        .margin_right(40)
        .margin_top(8)
        .margin_bottom(4)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(x, y)
        .map_err(|e| err(&e))?;
    let (x_axis, y_axis) = (spec.x, spec.y);
    let x_label = move |v: &f64| label(x_axis, *v);
    let y_label = move |v: &f64| label(y_axis, *v);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(spec.x_desc)
        .y_desc(spec.y_desc)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", LABEL))
        .axis_desc_style(("sans-serif", DESC))
        .bold_line_style(BLACK.mix(0.08))
        .light_line_style(TRANSPARENT)
        .max_light_lines(0);
    if spec.x == Axis::Percentile {
        mesh.x_labels(5); // p0, p90, p99, p99.9, p99.99
    }
    mesh.draw().map_err(|e| err(&e))?;
    for (line, color, dashed) in &lines {
        let points = line.points.iter().copied();
        if *dashed {
            chart
                .draw_series(DashedLineSeries::new(points, 8, 5, color.stroke_width(2)))
                .map_err(|e| err(&e))?;
        } else {
            chart.draw_series(LineSeries::new(points, color.stroke_width(2))).map_err(|e| err(&e))?;
        }
        if line.points.len() < 3 {
            // Too few points for a line to show.
            let dots = line.points.iter().map(|&p| Circle::new(p, 4, color.filled()));
            chart.draw_series(dots).map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, points: Vec<(f64, f64)>) -> Line {
        Line { name: name.into(), points }
    }

    #[test]
    fn ticks_read_as_percentiles_and_latencies() {
        assert_eq!(label(Axis::Percentile, 0.0), "0%");
        assert_eq!(label(Axis::Percentile, 1.0), "90%");
        assert_eq!(label(Axis::Percentile, 4.0), "99.99%");
        let latencies: Vec<String> =
            [0.1, 1.0, 10.0, 100.0, 1000.0, 2.5].map(|v| label(Axis::Latency, v)).into();
        assert_eq!(latencies, ["100µs", "1ms", "10ms", "100ms", "1s", "2.5ms"]);
        let decades = |values: &[f64]| {
            let (lo, hi) = range(Axis::Latency, true, values.iter().copied());
            (lo.log10().round(), hi.log10().round())
        };
        assert_eq!(decades(&[8.0, 1200.0]), (0.0, 4.0));
        assert_eq!(decades(&[10.0]), (1.0, 2.0));
    }

    #[test]
    fn more_than_six_lines_are_split_evenly_and_pairs_stay_together() {
        let lines = |n: usize| (0..n).map(|i| vec![line(&i.to_string(), vec![(0.0, 1.0)])]).collect();
        let sizes = |parts: Vec<Vec<Vec<Line>>>| parts.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(sizes(split(lines(9))), [5, 4]);
        assert_eq!(sizes(split(lines(6))), [6]);
        let pairs = (0..4).map(|i| vec![line(&i.to_string(), vec![]), line("p99", vec![])]).collect();
        assert_eq!(sizes(split(pairs)), [2, 2], "at most three pairs a chart");
    }

    #[test]
    fn odd_values_are_left_off_not_drawn_or_panicked_on() {
        let odd = vec![(0.0, -1.0), (1.0, f64::NAN), (f64::INFINITY, 2.0), (3.0, 0.0), (4.0, 5.0)];
        let html =
            Chart::new("odd", (Axis::Linear, "x"), LATENCY_AXIS, "").lines(vec![line("a", odd)]).render();
        assert!(html.contains("<svg") && html.contains("data-series=\"1\"") && html.contains("<circle"));
        assert_eq!(label(Axis::Percentile, -1.0), "-900%");
        assert_eq!(label(Axis::Latency, 0.0005), "0.5µs");
    }

    const LATENCY_AXIS: (Axis, &str) = (Axis::Latency, "ms");

    #[test]
    fn a_chart_of_zeros_is_a_sentence_and_text_is_escaped() {
        let zeros = Chart::new("errors", (Axis::Linear, "s"), (Axis::Linear, "/s"), "No errors & <none>.")
            .lines(vec![line("a", vec![(0.0, 0.0), (1.0, 0.0)]), line("b", vec![])]);
        assert_eq!(zeros.render(), "<p class=\"note chart-empty\">No errors &amp; &lt;none&gt;.</p>");
        let html = Chart::new("a <title> & more", (Axis::Linear, "x"), (Axis::Latency, "y"), "")
            .lines(vec![line("<j>", vec![(0.0, 8.0), (1.0, 1200.0)])])
            .render();
        assert!(html.contains("<svg") && html.contains("&lt;title&gt;") && !html.contains("<j>"));
        for tick in ["1ms", "10ms", "100ms", "1s", "10s"] {
            // Both edges' ticks too.
            assert!(html.contains(&format!(">\n{tick}\n</text>")), "no tick {tick}");
        }
    }
}
