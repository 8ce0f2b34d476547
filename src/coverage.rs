//! The coverage ledger: what each check of the run's plan came to. A check the plan skipped is
//! `not run` with the plan's reason; one the plan meant to run but that was never exercised (the
//! probes' set-up failed for the whole run, no step that checks it completed) is `not run` with
//! the reason the run gives, and makes the run INCOMPLETE. Counts come from the report's
//! figures: the steps that check a finding kind, the responses scanned, the probes sent.

use crate::checks::{Check, Planned};
use crate::findings::FindingKind;
use crate::isolation::LEAK_KINDS;
use crate::journeys::{JOURNEYS, Step};
use crate::probes::JwtProbe;
use crate::probes::isolation::Family;
use crate::report::Report;
use crate::report::coverage::{CheckKind, Covered, Status};

/// Every planned check but the targets (which the verdict judges, [`of_targets`](crate::report::coverage::of_targets)).
pub fn ledger(planned: &[Planned], report: &Report) -> Vec<Covered> {
    planned.iter().filter(|p| !matches!(p.check, Check::Target(_))).map(|p| covered(p, report)).collect()
}

fn covered(planned: &Planned, report: &Report) -> Covered {
    let (kind, unit, found_as) = match planned.check {
        Check::Detector(_) => (CheckKind::Detector, "checks", "found"),
        Check::Jwt(_) => (CheckKind::Jwt, "sent", "accepted"),
        Check::Isolation(_) => (CheckKind::Isolation, "probes", "allowed"),
        Check::Target(_) => (CheckKind::Target, "judged", "missed"),
    };
    let mut row = Covered {
        check: planned.check.to_string(),
        kind,
        exercised: 0,
        unit: unit.into(),
        found: 0,
        found_as: found_as.into(),
        observed: None,
        status: Status::NotRun,
        reason: planned.skipped.clone(),
        incomplete: false,
    };
    if planned.skipped.is_some() {
        return row;
    }
    let (exercised, found, failed, unit, why_not) = match &planned.check {
        Check::Detector(kind) => detector(*kind, report),
        Check::Jwt(probe) => jwt(*probe, report),
        Check::Isolation(family) => isolation(*family, report),
        // The verdict judges targets.
        Check::Target(_) => return row,
    };
    (row.exercised, row.found, row.unit) = (exercised, found, unit.unwrap_or(row.unit));
    let inapplicable = match &planned.check {
        Check::Detector(kind) => not_applicable(*kind, report),
        _ => None,
    };
    if exercised == 0 {
        // A step that could not apply here is the deployment's nature, not a run that fell short.
        row.incomplete = inapplicable.is_none();
        row.reason = Some(inapplicable.unwrap_or(why_not));
    } else {
        row.status = if failed { Status::Failed } else { Status::Passed };
    }
    row
}

/// Exercised, found, failed (found and not known), the unit when not the kind's, and why it did
/// not run if it did not.
type Tally = (u64, u64, bool, Option<String>, String);

fn detector(kind: FindingKind, report: &Report) -> Tally {
    let of_kind = report.findings.iter().filter(|f| f.kind == kind);
    let found: u64 = of_kind.clone().map(|f| f.count).sum();
    let failed = of_kind.clone().any(|f| !f.known);
    // Each finder that ran adds what it exercised.
    let mut exercised = 0;
    let mut units = Vec::new();
    let steps_of = |journey: &str, step: Step| {
        report.journeys.get(journey).and_then(|j| j.steps.get(step.name())).map_or(0, |s| s.count)
    };
    for journey in JOURNEYS.iter().filter(|j| j.finds.contains(&kind)) {
        let checking: Vec<Step> =
            journey.steps.iter().copied().filter(|s| s.detects().contains(&kind)).collect();
        let (count, unit) = if checking.is_empty() {
            // The journey as a whole is the check (a bystander within its limits).
            let j = report.journeys.get(journey.name);
            (j.map_or(0, |j| j.stats.count + j.stats.failures), "journeys")
        } else {
            (checking.iter().map(|s| steps_of(journey.name, *s)).sum::<u64>(), "steps")
        };
        if count > 0 {
            exercised += count;
            units.push(unit);
        }
    }
    if LEAK_KINDS.contains(&kind) {
        let scanned = if kind == FindingKind::DataLeak {
            report.isolation.responses_scanned
        } else {
            // The steps whose answers can show this leak.
            let exposing = JOURNEYS.iter().flat_map(|j| j.steps.iter().map(move |s| (j.name, *s)));
            exposing.filter(|(_, s)| s.exposes() == Some(kind)).map(|(j, s)| steps_of(j, s)).sum()
        };
        if scanned > 0 {
            exercised += scanned;
            units.push(if kind == FindingKind::DataLeak { "responses scanned" } else { "answers scanned" });
        }
    }
    let probes = &report.probes.by_probe;
    let jwt: u64 = <JwtProbe as strum::VariantArray>::VARIANTS
        .iter()
        .filter(|p| p.finds().contains(&kind))
        .filter_map(|p| probes.get(&p.to_string()))
        .map(|t| t.sent)
        .sum();
    if jwt > 0 {
        exercised += jwt;
        units.push("probes sent");
    }
    if crate::probes::isolation::FINDS.contains(&kind) && report.isolation.probes > 0 {
        exercised += report.isolation.probes;
        units.push("probes");
    }
    units.dedup();
    let unit = if units.len() == 1 { units[0].to_owned() } else { "checks".to_owned() };
    let why = format!("nothing that checks {kind} completed: {}", runtime_reason(report));
    (exercised, found, failed, Some(unit), why)
}

/// The steps checking `kind` that never applied (and so are no fault of the run's), if the
/// detector's only chance was such a step.
fn not_applicable(kind: FindingKind, report: &Report) -> Option<String> {
    let steps: Vec<&str> = report
        .journeys
        .values()
        .flat_map(|j| j.steps.iter())
        .filter(|(name, s)| s.not_applicable > 0 && s.count == 0 && detects(name, kind))
        .map(|(name, _)| name.as_str())
        .collect();
    (!steps.is_empty()).then(|| {
        format!(
            "{} did not apply to this deployment (e.g. access tokens living longer than token-refresh waits out)",
            steps.join(", ")
        )
    })
}

fn detects(step: &str, kind: FindingKind) -> bool {
    <Step as strum::VariantArray>::VARIANTS.iter().any(|s| s.name() == step && s.detects().contains(&kind))
}

/// Why the probes or steps the plan meant to run never did, as far as the report tells.
fn runtime_reason(report: &Report) -> String {
    let run = &report.run;
    let jwt = report.probes.setup_error.as_deref().filter(|_| report.probes.started_s.is_none());
    match jwt.or(report.isolation.setup_error.as_deref()) {
        Some(e) => e.to_owned(),
        None => format!(
            "the run ({:.1} s, ended by {}) was too short or its journeys failed first",
            run.duration_s, run.ended_by
        ),
    }
}

fn jwt(probe: JwtProbe, report: &Report) -> Tally {
    let p = &report.probes;
    let tally = p.by_probe.get(&probe.to_string()).copied().unwrap_or_default();
    let found = tally.accepted + tally.server_errors;
    let why = match (&p.setup_error, p.started_s) {
        (Some(e), None) if p.setup_failures > 0 => format!("{e} ({} attempts failed)", p.setup_failures),
        (Some(e), None) => e.clone(),
        _ if p.rounds == 0 && p.cut_at_end => {
            "the run ended before the first round of the JWT probes reached it".to_owned()
        }
        _ if p.rounds == 0 => "no round of the JWT probes completed".to_owned(),
        _ => format!("no clear answer to it in {} rounds ({} inconclusive)", p.rounds, tally.inconclusive),
    };
    (tally.sent, found, found > 0, None, why)
}

fn isolation(family: Family, report: &Report) -> Tally {
    let i = &report.isolation;
    let websocket = family == Family::WebSocket;
    let actor = match family {
        Family::WebSocket => Family::OtherUser.to_string(),
        other => other.to_string(),
    };
    let rows = i.matrix.iter().filter(|r| r.actor == actor && r.resource.contains("WebSocket") == websocket);
    let (mut exercised, mut allowed) = (0, 0);
    for r in rows {
        exercised += r.cell.refused + r.cell.allowed;
        allowed += r.cell.allowed;
    }
    let why =
        i.setup_error.clone().unwrap_or_else(|| "no probe got a clear answer (all inconclusive)".into());
    (exercised, allowed, allowed > 0, None, why)
}
