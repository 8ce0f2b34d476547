//! Merge is exact (issue 20): events of one run spread over N segments, each segment a report of
//! its share, merged, give the histograms, counts, errors and coverage of one report built from
//! all the events at once. Nothing is averaged: the same samples, the same quantiles.

use std::collections::BTreeMap;

use netra_load::metrics::{Histogram, Series, Stats};
use netra_load::report::{ErrorReport, JourneyReport, Report, merge};
use proptest::prelude::*;

const JOURNEYS: [&str; 2] = ["signup-chat", "token-refresh"];
const STEPS: [&str; 3] = ["register", "login", "profile"];

/// One step of one journey: its duration, whether it succeeded, the segment that ran it.
#[derive(Clone, Debug)]
struct Event {
    journey: usize,
    step: usize,
    us: u64,
    ok: bool,
    segment: usize,
}

fn series(values: impl Iterator<Item = (u64, bool)>) -> Series {
    let mut s = Series {
        histogram: Histogram::default(),
        incomplete: Histogram::default(),
        failures: 0,
        not_applicable: 0,
    };
    for (us, ok) in values {
        if ok {
            s.histogram.record(us);
        } else {
            s.incomplete.record(us);
            s.failures += 1;
        }
    }
    s
}

/// A report of `events` alone, on the fixture's frame (its run, its checks).
fn report_of(template: &Report, events: &[&Event], checked: &[u64]) -> Report {
    let mut r = template.clone();
    r.journeys = JOURNEYS
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let of = |e: &&&Event| e.journey == j;
            let steps = STEPS
                .iter()
                .enumerate()
                .map(|(s, step)| {
                    let values = events.iter().filter(of).filter(|e| e.step == s).map(|e| (e.us, e.ok));
                    (step.to_string(), Stats::of(&series(values)))
                })
                .collect();
            // A journey ends with its last step.
            let values =
                events.iter().filter(of).filter(|e| e.step == STEPS.len() - 1).map(|e| (e.us * 3, e.ok));
            (name.to_string(), JourneyReport { stats: Stats::of(&series(values)), steps })
        })
        .collect();
    let mut errors: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for e in events.iter().filter(|e| !e.ok) {
        *errors.entry((STEPS[e.step], if e.us % 2 == 0 { "http_500" } else { "bad_body" })).or_default() += 1;
    }
    r.errors = errors
        .into_iter()
        .map(|((step, kind), count)| ErrorReport {
            step: step.into(),
            kind: kind.into(),
            count,
            sample: kind.into(),
        })
        .collect();
    for (c, n) in r.coverage.iter_mut().zip(checked) {
        c.exercised = *n;
        c.found = 0;
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn segments_merged_equal_one_report_of_all_their_events(
        n in 2usize..=4,
        raw in prop::collection::vec((0usize..2, 0usize..3, 1u64..2_000_000, prop::bool::weighted(0.9), 0usize..4), 1..300),
        checked in prop::collection::vec(prop::collection::vec(0u64..1000, 8), 4),
    ) {
        let mut template: Report =
            serde_json::from_str(&std::fs::read_to_string("tests/data/report-min.json").unwrap()).unwrap();
        // The frame only: no windows, personas, cohorts, findings or observations of its own.
        template.timeline.windows.clear();
        template.personas.clear();
        template.cohorts.clear();
        template.completions_us.clear();
        template.findings.clear();
        template.observations.clear();
        template.coverage.truncate(8);
        template.run.started_at_ms = None;
        let events: Vec<Event> = raw
            .into_iter()
            .map(|(journey, step, us, ok, segment)| Event { journey, step, us, ok, segment: segment % n })
            .collect();
        let parts: Vec<Report> = (0..n)
            .map(|i| {
                let mine: Vec<&Event> = events.iter().filter(|e| e.segment == i).collect();
                let mut r = report_of(&template, &mine, &checked[i]);
                r.run.segment = Some(format!("{i}/{n}"));
                r.run.run_id = format!("segment {i}");
                r.run.users = 1 + i;
                r
            })
            .collect();
        let all: Vec<&Event> = events.iter().collect();
        let sums: Vec<u64> = (0..8).map(|c| (0..n).map(|i| checked[i][c]).sum()).collect();
        let whole = report_of(&template, &all, &sums);

        let merged = merge::merge(parts, false).unwrap();
        prop_assert_eq!(merged.run.users, (1..=n).sum::<usize>());
        for (name, j) in &whole.journeys {
            let m = &merged.journeys[name];
            let same = |a: &Stats, b: &Stats| {
                (a.count, a.failures, a.p50_us, a.p90_us, a.p99_us, a.max_us, a.histogram.to_base64(), a.incomplete.to_base64())
                    == (b.count, b.failures, b.p50_us, b.p90_us, b.p99_us, b.max_us, b.histogram.to_base64(), b.incomplete.to_base64())
            };
            prop_assert!(same(&m.stats, &j.stats), "journey {}", name);
            for (step, s) in &j.steps {
                prop_assert!(same(&m.steps[step], s), "{} / {}", name, step);
            }
        }
        let key = |e: &ErrorReport| (e.step.clone(), e.kind.clone(), e.count);
        let mut merged_errors: Vec<_> = merged.errors.iter().map(key).collect();
        let mut whole_errors: Vec<_> = whole.errors.iter().map(key).collect();
        merged_errors.sort();
        whole_errors.sort();
        prop_assert_eq!(merged_errors, whole_errors);
        for c in &whole.coverage {
            let m = merged.coverage.iter().find(|m| m.check == c.check).unwrap();
            prop_assert_eq!((m.exercised, m.found), (c.exercised, c.found), "{}", c.check);
        }
    }
}
