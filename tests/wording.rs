//! The words a tester reads: the summary and `report.md` of a fixed report (a small mixed run
//! with 500s, garbage bodies and an IDOR, `tests/data/report-min.json`) against golden files.
//! A change of wording shows here as a diff; `NETRA_UPDATE_GOLDEN=1 cargo test --test wording`
//! writes the new text, to be read before it is committed.

use std::path::Path;

use netra_load::report::{Report, render};

fn fixture() -> Report {
    let text = std::fs::read_to_string("tests/data/report-min.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

fn golden(name: &str, actual: &str) {
    let path = Path::new("tests/data").join(name);
    if std::env::var_os("NETRA_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let first = expected.lines().zip(actual.lines()).position(|(e, a)| e != a);
        let at = first.unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\n  golden: {:?}\n  now:    {:?}\n(NETRA_UPDATE_GOLDEN=1 rewrites it)",
            at + 1,
            expected.lines().nth(at).unwrap_or("<end>"),
            actual.lines().nth(at).unwrap_or("<end>")
        );
    }
}

/// No `1 users`, `1 findings`: a count of one takes the singular.
fn assert_plurals_agree(text: &str) {
    let words = text.split(|c: char| c.is_whitespace() || "(),;:".contains(c)).collect::<Vec<_>>();
    for pair in words.windows(2) {
        let plural = [
            "users", "findings", "probes", "steps", "errors", "targets", "rounds", "checks", "journeys",
            "windows", "times", "bursts", "reports",
        ];
        assert!(!(pair[0] == "1" && plural.contains(&pair[1])), "`1 {}` in:\n{text}", pair[1]);
    }
}

#[test]
fn the_summary_reads_as_its_golden_file() {
    let mut out = Vec::new();
    render::summary(&fixture(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_plurals_agree(&text);
    for internal in ["steps_cut_at_end", "observed_limit", "min ", "0µs"] {
        assert!(!text.contains(internal), "`{internal}` is the tool's own word: {text}");
    }
    golden("summary-min.txt", &text);
}

#[test]
fn the_markdown_report_reads_as_its_golden_file() {
    let mut out = Vec::new();
    render::markdown(&fixture(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_plurals_agree(&text);
    golden("report-min.md", &text);
}

#[test]
fn errors_are_counted_by_step_and_kind() {
    let report = fixture();
    let mut out = Vec::new();
    render::summary(&report, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let steps: std::collections::BTreeSet<&str> = report.errors.iter().map(|e| e.step.as_str()).collect();
    assert!(steps.len() > 1 && !steps.contains(""), "the fixture's errors came on several steps: {steps:?}");
    for e in &report.errors {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("{} ", e.step)) && l.contains(&format!(" {} ", e.kind)));
        assert!(
            row.is_some_and(|r| r.contains(&e.count.to_string())),
            "no row for {} {}:\n{text}",
            e.step,
            e.kind
        );
        assert!(!e.sample.starts_with(&format!("{}:", e.step)), "the step is said twice: {}", e.sample);
    }
}

/// A report written before the run id and the errors' step loads, reads and compares.
#[test]
fn an_older_report_without_a_run_id_or_error_steps_still_reads() {
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("tests/data/report-min.json").unwrap()).unwrap();
    old["run"].as_object_mut().unwrap().remove("run_id");
    for e in old["errors"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("step");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    std::fs::write(&path, old.to_string()).unwrap();
    let old = netra_load::report::load::load(&path).unwrap();
    assert!(old.run.run_id.is_empty() && old.errors.iter().all(|e| e.step.is_empty()));
    let mut out = Vec::new();
    render::summary(&old, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("errors, by kind:") && !text.contains("on 0 steps"), "{text}");
    let limits = netra_load::report::compare::Limits {
        max_regression: 0.1,
        max_error_increase: 0.01,
        min_samples: 20,
        min_change_us: 1000,
    };
    let c = netra_load::report::compare::compare(&old, &fixture(), limits, false).unwrap();
    assert!(c.setup.is_empty(), "the same run, older: {:?}", c.setup);
}
