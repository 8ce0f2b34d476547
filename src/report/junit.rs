//! `junit.xml` for CI (quick-junit): a test suite per journey holding a test case per target
//! about it, a suite `run` for the targets about the whole run, a suite `findings` holding a
//! test case per finding kind (failed when found, unless the profile knows it) and a suite
//! `probes` with a case per JWT probe and isolation probe family. Only what the run exercised
//! passes: a check that did not run is `<skipped>` with its reason.

use quick_junit::{NonSuccessKind, Property, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::Report;
use super::coverage::{CheckKind, Covered, Status};

/// The suite a target belongs to: its journey's, else `run`.
fn suite_of(name: &str, report: &Report) -> String {
    let mut parts = name.splitn(3, '.');
    let (kind, subject) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let journey = match kind {
        "trend" if matches!(subject, "step" | "endpoint") => None,
        "journey" | "trend" => Some(subject.to_owned()),
        "cohort" => Some(crate::journeys::cohort_journey().name.to_owned()),
        "persona" => report.run.personas.iter().find(|p| p.name == subject).map(|p| p.journey.clone()),
        "step" => report.journeys.iter().find(|(_, j)| j.steps.contains_key(subject)).map(|(n, _)| n.clone()),
        _ => None,
    };
    journey.unwrap_or_else(|| "run".to_owned())
}

/// `<skipped>` with why the check did not run (a report of an older netra-load did not say).
fn not_run(covered: Option<&Covered>) -> TestCaseStatus {
    let mut s = TestCaseStatus::skipped();
    let why = match covered {
        Some(c) => c.result(),
        None => {
            "not run: this report does not say whether it was exercised (written before the coverage ledger)"
                .into()
        }
    };
    s.set_message(why);
    s
}

pub fn render(report: &Report) -> Result<String, String> {
    let mut junit = Junit::new(format!("netra-load {}", report.run.profile));
    let mut suites: std::collections::BTreeMap<String, TestSuite> = report
        .journeys
        .keys()
        .map(|name| (name.clone(), TestSuite::new(format!("journey {name}"))))
        .collect();
    for t in &report.verdict.targets {
        let status = if t.not_run {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("not run: {}", t.reason.as_deref().unwrap_or("its journey was skipped")));
            s
        } else if t.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!("{} missed: observed {}", t.expr, t.observed)).set_type("target");
            s
        };
        let mut case = TestCase::new(t.expr.clone(), status);
        case.set_classname(format!("netra-load.targets.{}", t.name))
            .set_system_out(format!("observed {}", t.observed));
        let suite = suite_of(&t.name, report);
        let name = if suite == "run" { "run".to_owned() } else { format!("journey {suite}") };
        suites.entry(suite).or_insert_with(|| TestSuite::new(name)).add_test_case(case);
    }
    // An INCOMPLETE run must not read green to a CI that reads only JUnit.
    if !report.coverage.is_empty() {
        let never: Vec<&Covered> = report.coverage.iter().filter(|c| c.incomplete).collect();
        let status = if never.is_empty() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let names: Vec<&str> = never.iter().map(|c| c.check.as_str()).collect();
            s.set_message(format!("INCOMPLETE: never ran: {}", names.join(", ")))
                .set_type("incomplete")
                .set_description(never.iter().map(|c| c.result()).collect::<Vec<_>>().join("\n"));
            s
        };
        let mut case = TestCase::new("every check asked for ran", status);
        case.set_classname("netra-load.coverage");
        suites.entry("run".to_owned()).or_insert_with(|| TestSuite::new("run")).add_test_case(case);
    }
    // Nor a merge with segments missing.
    if !report.run.merged_from.is_empty() {
        let status = match report.run.missing_segments.as_slice() {
            [] => TestCaseStatus::success(),
            missing => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("PARTIAL: segments {} missing", missing.join(", ")))
                    .set_type("partial");
                s
            }
        };
        let mut case = TestCase::new("every segment of the run merged", status);
        case.set_classname("netra-load.merge");
        suites.entry("run".to_owned()).or_insert_with(|| TestSuite::new("run")).add_test_case(case);
    }
    let mut findings = TestSuite::new("findings");
    for kind in crate::findings::FindingKind::ALL {
        let found: Vec<_> = report.findings.iter().filter(|f| f.kind == *kind).collect();
        let unknown: Vec<_> = found.iter().filter(|f| !f.known).collect();
        let covered = report.coverage.iter().find(|c| c.check == format!("finding {kind}"));
        let status = match unknown.first() {
            None => match covered {
                Some(c) if c.status != Status::NotRun => TestCaseStatus::success(),
                _ => not_run(covered),
            },
            Some(f) => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{} at {}: {}", f.kind, f.endpoint, f.observed))
                    .set_type(f.severity.to_string())
                    .set_description(
                        unknown
                            .iter()
                            .map(|f| {
                                format!(
                                    "{} x{}: expected {}; observed {}\n{}",
                                    f.endpoint, f.count, f.expected, f.observed, f.reproducer
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n\n"),
                    );
                s
            }
        };
        let mut case = TestCase::new(kind.as_str(), status);
        case.set_classname("netra-load.findings");
        if !found.is_empty() && unknown.is_empty() {
            case.set_system_out(format!(
                "known finding, seen {} times",
                found.iter().map(|f| f.count).sum::<u64>()
            ));
        } else if let Some(c) = covered.filter(|c| c.status != Status::NotRun) {
            case.set_system_out(c.outcome());
        }
        findings.add_test_case(case);
    }
    let mut probes = TestSuite::new("probes");
    for c in report.coverage.iter().filter(|c| matches!(c.kind, CheckKind::Jwt | CheckKind::Isolation)) {
        let status = match c.status {
            Status::Passed | Status::Known => TestCaseStatus::success(),
            Status::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{}: {}", c.check, c.outcome())).set_type(c.kind.to_string());
                s
            }
            Status::NotRun => not_run(Some(c)),
        };
        let mut case = TestCase::new(c.check.clone(), status);
        case.set_classname(format!("netra-load.probes.{}", c.kind)).set_system_out(c.outcome());
        probes.add_test_case(case);
    }
    for suite in suites.values_mut() {
        suite.add_properties([
            Property::new("profile", report.run.profile.clone()),
            Property::new("users", report.run.users.to_string()),
        ]);
    }
    junit.add_test_suites(suites.into_values()).add_test_suite(findings);
    if !probes.test_cases.is_empty() {
        junit.add_test_suite(probes);
    }
    junit.to_string().map_err(|e| format!("cannot write JUnit XML: {e}"))
}
