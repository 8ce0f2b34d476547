//! The coverage ledger: what each check of the run's plan came to. A check the plan skipped is
//! `not run` with the plan's reason; one the plan meant to run but that was never exercised (the
//! probes' set-up failed for the whole run, no step that checks it completed, no user of a
//! persona began a journey) is `not run` with the reason the run gives, and makes the run
//! INCOMPLETE. Counts come from the report's figures: the steps that check a finding kind and
//! completed, the answers scanned, the probes that got a clear answer.

use crate::checks::{Check, Planned};
use crate::config::PersonaPlan;
use crate::findings::FindingKind;
use crate::isolation::LEAK_KINDS;
use crate::journeys::{JOURNEYS, Step};
use crate::probes::JwtProbe;
use crate::probes::isolation::{FINDS, Family, WS_RESOURCE};
use crate::report::Report;
use crate::report::coverage::{CheckKind, Covered, NOT_APPLICABLE, Status};

/// Every planned check (the targets are the verdict's,
/// [`of_targets`](crate::report::coverage::of_targets)), then every running persona.
pub fn ledger(planned: &[Planned], personas: &[PersonaPlan], report: &Report) -> Vec<Covered> {
    let checks = planned.iter().map(|p| covered(p, report));
    checks.chain(personas.iter().filter(|p| p.runs).map(|p| persona(p, report))).collect()
}

fn row(check: String, kind: CheckKind, unit: &str, found_as: &str) -> Covered {
    Covered {
        check,
        kind,
        exercised: 0,
        unit: unit.into(),
        found: 0,
        found_as: found_as.into(),
        observed: None,
        status: Status::NotRun,
        reason: None,
        incomplete: false,
    }
}

/// What one finder counted: how often it checked, what it found (and whether anything found is
/// not known to the profile), in what unit, and why it never checked if it did not.
struct Counted {
    exercised: u64,
    found: u64,
    failed: bool,
    unit: String,
    why_not: String,
}

fn covered(planned: &Planned, report: &Report) -> Covered {
    let mut row = match planned.check {
        Check::Detector(_) => row(planned.check.to_string(), CheckKind::Detector, "checks", "found"),
        Check::Jwt(_) => row(planned.check.to_string(), CheckKind::Jwt, "answered", "accepted or 5xx"),
        Check::Isolation(_) => row(planned.check.to_string(), CheckKind::Isolation, "probes", "allowed"),
    };
    if planned.skipped.is_some() {
        row.reason = planned.skipped.clone();
        return row;
    }
    let (counted, inapplicable) = match &planned.check {
        Check::Detector(kind) => (detector(*kind, report), not_applicable(*kind, report)),
        Check::Jwt(probe) => (jwt(*probe, report), None),
        Check::Isolation(family) => (isolation(*family, report), None),
    };
    // What was found was checked, whatever the counts say.
    (row.exercised, row.found, row.unit) =
        (counted.exercised.max(counted.found), counted.found, counted.unit);
    if row.exercised == 0 {
        // A step that could not apply here is the deployment's nature, not a run that fell short.
        row.incomplete = inapplicable.is_none();
        row.reason = Some(inapplicable.unwrap_or(counted.why_not));
    } else {
        row.status = match (counted.failed, counted.found) {
            (true, _) => Status::Failed,
            (false, 0) => Status::Passed,
            (false, _) => Status::Known,
        };
    }
    row
}

/// Findings of `kinds`: how many, and whether any is not known to the profile.
fn findings_of(report: &Report, kinds: &[FindingKind]) -> (u64, bool) {
    let of_kind = report.findings.iter().filter(|f| kinds.contains(&f.kind));
    (of_kind.clone().map(|f| f.count).sum(), of_kind.clone().any(|f| !f.known))
}

fn detector(kind: FindingKind, report: &Report) -> Counted {
    let (found, failed) = findings_of(report, &[kind]);
    // Each finder adds what it checked.
    let mut parts: Vec<(&str, u64)> = Vec::new();
    let completed = |journey: &str, step: Step| {
        report.journeys.get(journey).and_then(|j| j.steps.get(step.name())).map_or(0, |s| s.count)
    };
    for journey in JOURNEYS.iter().filter(|j| j.finds.contains(&kind)) {
        let checking: Vec<Step> =
            journey.steps.iter().copied().filter(|s| s.detects().contains(&kind)).collect();
        if checking.is_empty() {
            // The completed journey as a whole is the check (a bystander within its limits).
            parts.push(("journeys", report.journeys.get(journey.name).map_or(0, |j| j.stats.count)));
        } else {
            parts.push(("steps", checking.iter().map(|s| completed(journey.name, *s)).sum()));
        }
    }
    if matches!(kind, FindingKind::NoisyNeighbour | FindingKind::ConcurrencyError) {
        // Every step that completed was throttled by no neighbour, and met no 5xx.
        let steps = report.journeys.values().flat_map(|j| j.steps.values());
        parts.push(("steps", steps.map(|s| s.count).sum()));
    }
    if LEAK_KINDS.contains(&kind) {
        if kind == FindingKind::DataLeak {
            parts.push(("responses scanned", report.isolation.responses_scanned));
        } else {
            // The steps whose answers can show this leak.
            let exposing = JOURNEYS.iter().flat_map(|j| j.steps.iter().map(move |s| (j.name, *s)));
            let answers = exposing.filter(|(_, s)| s.exposes() == Some(kind)).map(|(j, s)| completed(j, s));
            parts.push(("answers scanned", answers.sum()));
        }
    }
    let finds = |p: &&JwtProbe| p.finds().contains(&kind);
    let probes = &report.probes.by_probe;
    let answered = <JwtProbe as strum::VariantArray>::VARIANTS
        .iter()
        .filter(finds)
        .filter_map(|p| probes.get(&p.to_string()));
    parts.push(("probes answered", answered.map(|t| t.sent).sum()));
    if FINDS.contains(&kind) {
        parts.push(("probes", clear_isolation_answers(report, |_| true).0));
    }
    parts.retain(|(_, n)| *n > 0);
    let mut units: Vec<&str> = parts.iter().map(|(unit, _)| *unit).collect();
    units.sort_unstable();
    units.dedup();
    let unit = if units.len() == 1 { units[0] } else { "checks" };
    Counted {
        exercised: parts.iter().map(|(_, n)| n).sum(),
        found,
        failed,
        unit: unit.to_owned(),
        why_not: why_not(kind, report),
    }
}

/// Why no finder of `kind` ever checked, as far as the report tells.
fn why_not(kind: FindingKind, report: &Report) -> String {
    let by_jwt_only = !JOURNEYS.iter().any(|j| j.finds.contains(&kind)) && !LEAK_KINDS.contains(&kind);
    let p = &report.probes;
    let probes_never_started = p.started_s.is_none() && p.setup_error.is_some();
    if by_jwt_only && !FINDS.contains(&kind) && probes_never_started {
        return p.setup_error.clone().unwrap_or_default();
    }
    if FINDS.contains(&kind) {
        if let Some(e) = &report.isolation.setup_error {
            return e.clone();
        }
    }
    let run = &report.run;
    format!(
        "no step that checks {kind} completed in the run ({:.1} s, ended by {}): too short, or its journeys failed first",
        run.duration_s, run.ended_by
    )
}

/// The steps checking `kind` that never applied (and so are no fault of the run's), if the
/// detector's only chance was such a step.
fn not_applicable(kind: FindingKind, report: &Report) -> Option<String> {
    let detects = |step: &str| {
        <Step as strum::VariantArray>::VARIANTS
            .iter()
            .any(|s| s.name() == step && s.detects().contains(&kind))
    };
    let steps: Vec<&str> = report
        .journeys
        .values()
        .flat_map(|j| j.steps.iter())
        .filter(|(name, s)| s.not_applicable > 0 && s.count == 0 && detects(name))
        .map(|(name, _)| name.as_str())
        .collect();
    (!steps.is_empty()).then(|| format!("{} {NOT_APPLICABLE}", steps.join(", ")))
}

fn jwt(probe: JwtProbe, report: &Report) -> Counted {
    let p = &report.probes;
    let tally = p.by_probe.get(&probe.to_string()).copied().unwrap_or_default();
    let (_, unknown) = findings_of(report, probe.finds());
    let found = tally.accepted + tally.server_errors;
    let why_not = match (&p.setup_error, p.started_s) {
        (Some(e), None) if p.setup_failures > 0 => {
            format!("{e} ({} failed)", crate::report::words::count(p.setup_failures, "attempt"))
        }
        (Some(e), None) => e.clone(),
        _ if p.rounds == 0 && p.cut_at_end => {
            "the run ended before the first round of the JWT probes reached it".to_owned()
        }
        _ if p.rounds == 0 => "no round of the JWT probes completed".to_owned(),
        _ => format!(
            "no clear answer to it in {} ({} inconclusive)",
            crate::report::words::count(p.rounds, "round"),
            tally.inconclusive
        ),
    };
    // A token accepted is a failure unless the profile knows the finding it makes.
    Counted { exercised: tally.sent, found, failed: found > 0 && unknown, unit: "answered".into(), why_not }
}

/// Refused and allowed answers of the matrix rows `which` keeps (inconclusive ones are no check).
fn clear_isolation_answers(
    report: &Report,
    which: impl Fn(&crate::isolation::MatrixRow) -> bool,
) -> (u64, u64) {
    let rows = report.isolation.matrix.iter().filter(|r| which(r));
    rows.fold((0, 0), |(clear, allowed), r| {
        (clear + r.cell.refused + r.cell.allowed, allowed + r.cell.allowed)
    })
}

fn isolation(family: Family, report: &Report) -> Counted {
    let actor = family.actor().to_string();
    let websocket = family == Family::WebSocket;
    let (exercised, allowed) =
        clear_isolation_answers(report, |r| r.actor == actor && (r.resource == WS_RESOURCE) == websocket);
    let (_, unknown) = findings_of(report, FINDS);
    let why_not = report
        .isolation
        .setup_error
        .clone()
        .unwrap_or_else(|| "no probe got a clear answer (all inconclusive)".into());
    Counted { exercised, found: allowed, failed: allowed > 0 && unknown, unit: "probes".into(), why_not }
}

/// A running persona: it ran if any of its users began a journey.
fn persona(plan: &PersonaPlan, report: &Report) -> Covered {
    let mut row = row(
        format!("persona {} ({})", plan.name, plan.journey.name),
        CheckKind::Persona,
        "journeys",
        "failed",
    );
    let Some(p) = report.personas.get(&plan.name) else {
        row.reason = Some(format!(
            "none of the run's {} users began a journey of it (the personas share the users by weight: give the run more --users)",
            report.run.users
        ));
        row.incomplete = true;
        return row;
    };
    (row.exercised, row.found) = (p.stats.count + p.stats.failures, p.stats.failures);
    // Its failures are the targets' to judge (errors.rate): it ran.
    row.status = Status::Passed;
    row
}
