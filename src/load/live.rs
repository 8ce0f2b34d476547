//! What `--metrics-addr` reads from the run at each scrape beside the collector's counts: users
//! started, findings so far and checks exercised, each from the one place that owns it (the
//! load's counters, the finding sink, the isolation checker, the JWT probes). Nothing here runs
//! between scrapes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::findings::{FindingKind, FindingSink};
use crate::isolation::Isolation;
use crate::journeys::Live;
use crate::metrics::live::{LiveMetrics, Sources};
use crate::probes::JwtProbes;

/// Attaches the run's owners to `metrics`.
pub(super) fn attach(
    metrics: &LiveMetrics,
    live: &Arc<Live>,
    findings: &Arc<FindingSink>,
    isolation: &Arc<Isolation>,
    probes: &JwtProbes,
) {
    let live = live.clone();
    let findings = findings.clone();
    let isolation = isolation.clone();
    let answered = probes.answered();
    metrics.attach(Sources {
        active_users: Some(Arc::new(move || live.users_started.load(Ordering::Relaxed))),
        findings: Some(Arc::new(move || {
            // Every kind, zeros included; the sink counts repeats of one kind and endpoint.
            let mut counts: Vec<(&'static str, u64)> =
                FindingKind::ALL.iter().map(|k| (k.as_str(), 0)).collect();
            for f in findings.all() {
                if let Some(at) = counts.iter().position(|(kind, _)| *kind == f.kind.as_str()) {
                    counts[at].1 += f.count;
                }
            }
            counts
        })),
        checks: Some(Arc::new(move || {
            let (scanned, probed) = isolation.exercised();
            let mut checks =
                vec![("responses_scanned".to_owned(), scanned), ("isolation_probes".to_owned(), probed)];
            checks.extend(answered().into_iter().map(|(probe, sent)| (format!("jwt:{probe}"), sent)));
            checks
        })),
    });
}
