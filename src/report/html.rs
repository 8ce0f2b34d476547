//! `report.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched) for a
//! person to read: the verdict, findings with their evidence, the charts, the tables. Every
//! string from the report is escaped.

use std::fmt::Write;

use super::render::{
    ERROR_HEAD, LATENCY_HEAD, MATRIX_HEAD, MATRIX_NOTE, TARGET_HEAD, WINDOW_HEAD, arrival_line, cohort_lines,
    error_rows, errors_line, is_figure, isolation_line, latency_rows, matrix_rows, ms, no_findings_line,
    observation_lines, probes_line, service_line, target_rows, target_words, verdict_line, window_rows,
};
use super::{Report, charts, coverage, words};
use crate::verdict::Outcome;

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// Text reads from the left; only figures (`.num`, see [`numeric`]) line up on the right. Step
// rows sit indented under their journey's bold row. No font size under 12 px.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em;font-size:16px}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
tr.journey td{font-weight:600;background:#fafafa}tr.step td:first-child{padding-left:2.2em}\
.verdict{font-size:1.3em;font-weight:bold;padding:.6em 1em;border-radius:6px}\
.pass{background:#e3f6e3;color:#175c17}.fail{background:#fde8cf;color:#7a3b00}.breach{background:#fbdada;color:#8a1010}.incomplete{background:#e8e3f6;color:#3b1a7a}\
.finding{border-left:4px solid #c22;padding:.3em 1em;margin:1em 0;background:#fff6f6}\
.known{border-left-color:#999;background:#f6f6f6}pre{white-space:pre-wrap;background:#f4f4f4;padding:.5em;font-size:14px}\
.charts figure{margin:1.5em 0}.charts svg{display:block;width:100%;max-width:1100px;height:auto}\
.charts figcaption{margin-top:.3em}.note{color:#555}";

/// A table; a column of figures (and placeholders) is right-aligned, a row whose name is
/// indented (a step: `latency_rows`) is indented under the `journey ...` row before it.
fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let num: Vec<bool> = (0..head.len())
        .map(|i| {
            let cells = || rows.iter().filter_map(|r| r.get(i)).map(String::as_str);
            // A column of placeholders alone ("-": nothing unavailable) is still one of figures.
            cells().any(|c| !c.trim().is_empty()) && cells().all(is_figure)
        })
        .collect();
    let class = |i: usize| if num.get(i).copied().unwrap_or(false) { " class=\"num\"" } else { "" };
    out.push_str("<table><tr>");
    for (i, h) in head.iter().enumerate() {
        let _ = write!(out, "<th{}>{}</th>", class(i), esc(h));
    }
    out.push_str("</tr>");
    for row in rows {
        let first = row.first().map_or("", String::as_str);
        out.push_str(if first.starts_with("  ") {
            "<tr class=\"step\">"
        } else if first.starts_with("journey ") {
            "<tr class=\"journey\">"
        } else {
            "<tr>"
        });
        for (i, cell) in row.iter().enumerate() {
            let text = if i == 0 { cell.trim_start() } else { cell };
            let _ = write!(out, "<td{}>{}</td>", class(i), esc(text));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// What the matrix's columns mean (src/probes/isolation.rs decides each probe's outcome).
pub fn page(report: &Report) -> String {
    let run = &report.run;
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("netra-load report: {}", run.profile);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    let _ = write!(out, "<h1>{}</h1>", esc(&title));
    let class = match report.verdict.outcome() {
        Outcome::Pass => "pass",
        Outcome::Breach => "breach",
        Outcome::Incomplete | Outcome::Partial => "incomplete",
        Outcome::Fail => "fail",
    };
    let _ = write!(out, "<p class=\"verdict {class}\" id=\"verdict\">{}</p>", esc(&verdict_line(report)));
    let segment = run.part().map(|p| format!("; {p}")).unwrap_or_default();
    let _ = write!(
        out,
        "<p>{}, {:.1} s ({}) from {} to {} (ended by {}){}; target: {}{}</p><p class=\"note\">run {}</p>",
        esc(&words::count(run.users as u64, "user")),
        run.duration_s,
        esc(&run.phases(report.timeline.ramp_s)),
        esc(&run.started_at),
        esc(&run.ended_at),
        esc(run.ended_by.words()),
        esc(&segment),
        esc(&target_words(report)),
        if run.target.faults.is_empty() { "; faults: none" } else { "" },
        esc(if run.run_id.is_empty() { "id not recorded" } else { &run.run_id })
    );
    out.push_str("<h2>Targets</h2>");
    if report.verdict.targets.is_empty() {
        out.push_str("<p>No targets judged.</p>");
    } else {
        table(&mut out, &TARGET_HEAD, &target_rows(report));
    }
    findings(&mut out, report);
    if !report.coverage.is_empty() {
        out.push_str("<h2>What was checked</h2>");
        table(&mut out, &coverage::HEAD, &coverage::rows(&report.coverage));
    }
    out.push_str("<h2>Latency</h2>");
    table(&mut out, &LATENCY_HEAD, &latency_rows(report));
    out.push_str("<ul>");
    let lines = cohort_lines(report).into_iter().chain(observation_lines(report)).chain(arrival_line(report));
    for line in lines.chain([service_line(report)]).chain(probes_line(report)) {
        let _ = write!(out, "<li>{}</li>", esc(&line));
    }
    out.push_str("</ul><div class=\"charts\">");
    out.push_str(&charts::spectra(report));
    out.push_str("</div><h2>Over time</h2>");
    if !report.timeline.windows.is_empty() {
        table(&mut out, &WINDOW_HEAD, &window_rows(report, 30));
    }
    trend(&mut out, report);
    out.push_str("<div class=\"charts\">");
    for chart in charts::over_time(report) {
        out.push_str(&chart);
    }
    out.push_str("</div><h2>Steps</h2><div class=\"charts\">");
    for (_, chart) in charts::step_histograms(report) {
        out.push_str(&chart);
    }
    out.push_str("</div><h2>Isolation</h2>");
    let _ = write!(out, "<p>{}</p>", esc(&isolation_line(report)));
    if !report.isolation.matrix.is_empty() {
        table(&mut out, &MATRIX_HEAD, &matrix_rows(report));
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(MATRIX_NOTE));
    }
    out.push_str("<h2>Errors</h2>");
    if report.errors.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        let _ = write!(out, "<p>{}</p>", esc(&errors_line(report)));
        table(&mut out, &ERROR_HEAD, &error_rows(report));
    }
    if !report.skipped.is_empty() {
        out.push_str("<h2>Not run, or run differently, as the deployment allows</h2><ul>");
        for s in &report.skipped {
            let _ = write!(out, "<li>{}</li>", esc(s));
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        "<p class=\"note\">{} {}, report schema {}</p></body></html>",
        esc(&report.tool.name),
        esc(&report.tool.version),
        report.schema_version
    );
    out
}

fn findings(out: &mut String, report: &Report) {
    let _ = write!(out, "<h2>Findings ({})</h2>", report.findings.len());
    if report.findings.is_empty() {
        // Only what ran held: say what did not.
        let _ = write!(out, "<p>None: {}.</p>", esc(&no_findings_line(report)));
    }
    for f in &report.findings {
        let known = if f.known { " known" } else { "" };
        let _ = write!(
            out,
            "<div class=\"finding{known}\"><h3>{}{} ({}) at {}</h3><p>seen {} times, first at {:.1} s with {} users; {}</p>\
             <p><b>expected</b> {}</p><p><b>observed</b> {}</p><pre>{}</pre></div>",
            if f.known { "known: " } else { "" },
            esc(f.kind.as_str()),
            esc(&f.severity.to_string()),
            esc(&f.endpoint),
            f.count,
            f.at_s,
            f.active_users,
            esc(&f.users.join(", ")),
            esc(&f.expected),
            esc(&f.observed),
            esc(&f.reproducer)
        );
    }
}

/// The degradation section, then each journey's trend: the steady phase's start against its end.
fn trend(out: &mut String, report: &Report) {
    out.push_str("<h3>Degradation</h3><ul>");
    for line in report.degradation.lines(report) {
        let _ = write!(out, "<li>{}</li>", esc(&line));
    }
    out.push_str("</ul>");
    let rows: Vec<Vec<String>> = [("p50", 0.5), ("p99", 0.99)]
        .into_iter()
        .flat_map(|(label, q)| {
            report.timeline.trends(crate::metrics::TrendOf::Journey, q).into_iter().map(move |(j, t)| match t
            {
                Ok(t) => vec![
                    format!("{j} {label}"),
                    format!("{} ({} samples)", ms(t.first_us), t.first_samples),
                    format!("{} ({} samples)", ms(t.last_us), t.last_samples),
                    t.change().map_or("n/a".into(), |c| format!("{:+.1}%", c * 100.0)),
                ],
                Err(why) => vec![format!("{j} {label}"), "-".into(), "-".into(), why],
            })
        })
        .collect();
    if !rows.is_empty() {
        out.push_str("<p>Journeys: the steady phase's start against its end.</p>");
        table(out, &["figure", "start", "end", "change"], &rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_align_right_and_text_left() {
        for figure in ["12", "1.951ms", "158µs", "1.003s", "+3.0%", "-4.6%", "8.591ms (538 samples)"] {
            assert!(is_figure(figure), "{figure}");
        }
        let long = "+0.8% (step first_reply: 7.391ms -> 7.447ms)";
        for text in ["register", "journey signup-chat", "pass", "p99 < 300ms", "not run: x", "2xx", long] {
            assert!(!is_figure(text), "{text}");
        }
        let mut out = String::new();
        let rows =
            [["journey a", "3", "pass"], ["  step", "-", "FAIL"]].map(|r| r.map(String::from).to_vec());
        table(&mut out, &["", "count", "result"], &rows);
        assert!(out.contains("<th class=\"num\">count</th><th>result</th>"), "{out}");
        assert!(
            out.contains("<tr class=\"step\"><td>step</td><td class=\"num\">-</td><td>FAIL</td>"),
            "{out}"
        );
    }
}
