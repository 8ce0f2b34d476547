//! `junit.xml` for CI (quick-junit): a test suite per journey holding a test case per target
//! about it, a suite `run` for the targets about the whole run, and a suite `findings` holding a
//! test case per finding kind (failed when found, unless the profile knows it).

use quick_junit::{NonSuccessKind, Property, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::Report;

/// The suite a target belongs to: its journey's, else `run`.
fn suite_of(name: &str, report: &Report) -> String {
    let mut parts = name.splitn(3, '.');
    let (kind, subject) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let journey = match kind {
        "journey" | "trend" => Some(subject.to_owned()),
        "cohort" => Some(crate::journeys::cohort_journey().name.to_owned()),
        "persona" => report.run.personas.iter().find(|p| p.name == subject).map(|p| p.journey.clone()),
        "step" => report.journeys.iter().find(|(_, j)| j.steps.contains_key(subject)).map(|(n, _)| n.clone()),
        _ => None,
    };
    journey.unwrap_or_else(|| "run".to_owned())
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
            s.set_message("not run: its journey was skipped (see the report's `skipped`)");
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
    let mut findings = TestSuite::new("findings");
    for kind in crate::findings::FindingKind::ALL {
        let found: Vec<_> = report.findings.iter().filter(|f| f.kind == *kind).collect();
        let unknown: Vec<_> = found.iter().filter(|f| !f.known).collect();
        let status = match unknown.first() {
            None => TestCaseStatus::success(),
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
        }
        findings.add_test_case(case);
    }
    for suite in suites.values_mut() {
        suite.add_properties([
            Property::new("profile", report.run.profile.clone()),
            Property::new("users", report.run.users.to_string()),
        ]);
    }
    junit.add_test_suites(suites.into_values()).add_test_suite(findings);
    junit.to_string().map_err(|e| format!("cannot write JUnit XML: {e}"))
}
