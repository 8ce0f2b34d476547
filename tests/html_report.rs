//! The structure of report.html: latency on log axes with power-of-ten ticks, no text under
//! 12 px, no chart without series (a clean run's errors chart is a sentence), at most six series
//! a chart, the last narrow window left out of the rates, step rows indented, figures
//! right-aligned and text left, the matrix explained, every string of the report escaped. One
//! small real run gives a report.json; each test edits a copy of it and renders it again with
//! `netra-load report`.

mod support;

use std::sync::OnceLock;

use serde_json::Value;
use support::{BIN, run, run_folder, text};

/// The report.json of one short mixed run (shared: one run for the file's tests).
fn report() -> Value {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = run(dir.path(), &["--profile", "mixed", "--users", "12", "--run-time", "3s"]);
        assert!(matches!(out.status.code(), Some(0 | 1 | 3)), "{}", text(&out.stderr));
        std::fs::read_to_string(run_folder(dir.path()).join("report.json")).unwrap()
    });
    serde_json::from_str(json).unwrap()
}

/// report.html of `report`, rendered by the binary.
fn html(report: &Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    std::fs::write(&path, serde_json::to_string(report).unwrap()).unwrap();
    let out =
        std::process::Command::new(BIN).arg("report").arg(&path).args(["--format", "html"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Into the report's folder, never to stdout.
    let written = dir.path().join("report.html");
    assert!(text(&out.stdout).contains(&written.display().to_string()), "{}", text(&out.stdout));
    std::fs::read_to_string(written).unwrap()
}

/// The contents of every `<tag ...>` element in `html`, trimmed, with its opening tag.
fn elements<'a>(html: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    html.match_indices(&open)
        .filter_map(|(at, _)| {
            let rest = &html[at..];
            let head = rest.find('>')?;
            let end = rest.find(&close)?;
            Some((&rest[..head], rest[head + 1..end].trim()))
        })
        .collect()
}

/// The charts: each figure's HTML.
fn figures(html: &str) -> Vec<&str> {
    html.split("<figure class=\"chart\"").skip(1).map(|f| f.split("</figure>").next().unwrap()).collect()
}

fn title(figure: &str) -> &str {
    elements(figure, "text").first().map_or("", |t| t.1)
}

const POWERS: [&str; 9] = ["1µs", "10µs", "100µs", "1ms", "10ms", "100ms", "1s", "10s", "100s"];

#[test]
fn latency_charts_have_log_axes_ticked_at_powers_of_ten() {
    let page = html(&report());
    let latency: Vec<&str> = figures(&page)
        .into_iter()
        .filter(|f| title(f).starts_with("Journey latency") || title(f).contains("step latency"))
        .collect();
    assert!(latency.len() >= 4, "{} latency charts", latency.len());
    for figure in latency {
        let texts: Vec<&str> = elements(figure, "text").into_iter().map(|t| t.1).collect();
        let ticks: Vec<usize> =
            POWERS.iter().enumerate().filter(|(_, p)| texts.contains(p)).map(|(i, _)| i).collect();
        assert!(
            ticks.windows(2).any(|w| w[1] == w[0] + 1),
            "{}: no two successive powers of ten among {texts:?}",
            title(figure)
        );
        if title(figure) == "Journey latency by percentile" {
            // Percentiles across, latency up: a linear latency axis would be ticked 0, 200, 400...
            let bare: Vec<&&str> = texts.iter().filter(|t| t.parse::<f64>().is_ok()).collect();
            assert!(bare.is_empty(), "linear latency ticks {bare:?}");
        }
    }
}

#[test]
fn no_text_is_smaller_than_12_px() {
    let page = html(&report());
    let mut sizes = Vec::new();
    for attr in page.split("font-size=\"").skip(1) {
        sizes.push((attr.split('"').next().unwrap().parse::<f64>().unwrap(), "px"));
    }
    for css in page.split("font-size:").skip(1) {
        let value = css.split([';', '}', '"']).next().unwrap().trim();
        let (number, unit) = value.split_at(value.find(|c: char| c.is_alphabetic()).unwrap_or(value.len()));
        // The page's base size is 16 px.
        let px = number.parse::<f64>().unwrap() * if unit == "px" { 1.0 } else { 16.0 };
        sizes.push((px, "css"));
    }
    assert!(sizes.len() > 100, "{} font sizes found", sizes.len());
    let small: Vec<_> = sizes.iter().filter(|(px, _)| *px < 12.0).collect();
    assert!(small.is_empty(), "{} texts under 12 px, e.g. {:?}", small.len(), &small[..small.len().min(5)]);
    assert!(
        page.contains("max-width:1100px") && page.contains("viewBox=\"0 0 1100 "),
        "charts as wide as the column"
    );
}

#[test]
fn every_chart_has_one_to_six_series_and_a_clean_run_says_so_in_a_sentence() {
    let mut report = report();
    for w in report["timeline"]["windows"].as_array_mut().unwrap() {
        w["errors"] = 0.into();
        for j in w["journeys"].as_object_mut().unwrap().values_mut() {
            j["failures"] = 0.into();
        }
    }
    let page = html(&report);
    for figure in figures(&page) {
        let series: usize =
            figure.split("data-series=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        assert!((1..=6).contains(&series), "{}: {series} series", title(figure));
        assert!(
            figure.contains("<polyline") || figure.contains("<circle"),
            "{}: nothing drawn",
            title(figure)
        );
    }
    assert!(!page.contains("Errors and failed journeys per second"), "an empty errors chart");
    assert!(page.contains("No errors and no failed journeys in any window."));
    assert!(figures(&page).len() >= 8);
}

#[test]
fn a_last_window_much_narrower_than_the_others_is_left_out_of_the_rates() {
    let mut report = report();
    let windows = report["timeline"]["windows"].as_array_mut().unwrap();
    let last = windows.last_mut().unwrap();
    let start = last["start_s"].as_f64().unwrap();
    last["width_s"] = 0.1.into();
    let page = html(&report);
    let note = format!("The window {start:.1}-{:.1} s is left out", start + 0.1);
    let rates: Vec<&str> = figures(&page).into_iter().filter(|f| title(f).contains("per second")).collect();
    assert!(rates.len() >= 2, "{} rate charts", rates.len());
    for figure in rates {
        assert!(figure.contains(&note), "{} does not say {note:?}", title(figure));
    }
}

#[test]
fn tables_indent_steps_align_figures_right_and_explain_the_matrix() {
    let page = html(&report());
    assert!(page.contains("<tr class=\"journey\"><td>journey signup-chat</td>"));
    assert!(page.contains("<tr class=\"step\"><td>register</td>"), "step rows indented, names trimmed");
    assert!(page.contains("tr.step td:first-child{padding-left:"));
    assert!(page.contains("<th class=\"num\">count</th>") && page.contains("<th class=\"num\">p99</th>"));
    assert!(
        page.contains("<th>target</th>") && page.contains("<th>result</th>"),
        "text columns read from the left"
    );
    assert!(page.contains("td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left"));
    assert!(page.contains("<th class=\"num\">inconclusive</th>"));
    assert!(page.contains("inconclusive: neither"), "the matrix's inconclusive column explained");
}

#[test]
fn every_string_of_the_report_is_escaped() {
    let evil = "<script>alert(1)</script> & co";
    let mut report = report();
    report["run"]["profile"] = evil.into();
    let rename = |map: &mut Value, from: &str, to: &str| {
        let map = map.as_object_mut().unwrap();
        if let Some(v) = map.remove(from) {
            map.insert(to.to_owned(), v);
        }
    };
    let journey = format!("signup-chat{evil}");
    let step = format!("register{evil}");
    rename(&mut report["journeys"], "signup-chat", &journey);
    rename(&mut report["journeys"][&journey]["steps"], "register", &step);
    for w in report["timeline"]["windows"].as_array_mut().unwrap() {
        rename(&mut w["journeys"], "signup-chat", &journey);
        if w["steps"].is_object() {
            rename(&mut w["steps"], "signup-chat", &journey);
        }
    }
    report["errors"] = serde_json::json!([{ "kind": format!("kind{evil}"), "count": 3, "sample": evil }]);
    let page = html(&report);
    assert!(!page.contains("<script") && !page.contains(" & co"), "a raw string of the report");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    let escaped_in_charts = figures(&page).iter().filter(|f| f.contains("signup-chat&lt;script&gt;")).count();
    assert!(escaped_in_charts >= 3, "the journey's name in its charts: {escaped_in_charts}");
}
