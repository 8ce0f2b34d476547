//! The report's "what was checked": every check of the run's plan (each finding kind's detector,
//! each JWT probe, each family of isolation probes, each target) with how often it was
//! exercised and what came of it, or why it did not run. Plain data; the ledger is filled in by
//! `crate::coverage`.

use serde::{Deserialize, Serialize};

/// What sort of check a row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CheckKind {
    /// A finding kind's detector.
    Detector,
    /// One JWT probe.
    Jwt,
    /// One family of cross-user isolation probes.
    Isolation,
    /// A target of the profile.
    Target,
    /// A persona of the profile that runs against this deployment: did any user begin it?
    Persona,
}

/// Why a detector whose only step never applied did not run.
pub const NOT_APPLICABLE: &str =
    "did not apply to this deployment (e.g. access tokens living longer than token-refresh waits out)";

/// What became of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Status {
    /// Exercised, and nothing wrong was found.
    Passed,
    /// Exercised, and it found what it looks for (a finding not known to the profile, a token
    /// accepted, another user's thread allowed, a target missed).
    Failed,
    /// Exercised, and it found only what the profile knows (`[expect] known_findings`).
    Known,
    /// Not exercised: `reason` says why.
    NotRun,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Covered {
    /// The check: `finding bola`, ``jwt probe `alg none` ``, `isolation probes as no token`,
    /// `target errors.rate`.
    pub check: String,
    pub kind: CheckKind,
    /// How often it was exercised, in `unit`s.
    pub exercised: u64,
    /// What `exercised` counts: `steps`, `responses scanned`, `sent`, `probes`, `judged`.
    pub unit: String,
    /// How often it found what it looks for, in `found_as`: findings of the kind (known ones
    /// too), tokens accepted or answered with a 5xx, probes allowed, a target missed.
    pub found: u64,
    /// `found`, `accepted`, `allowed`, `missed`.
    pub found_as: String,
    /// A target's observed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    pub status: Status,
    /// Why it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The plan meant to run it and it never ran (its set-up failed throughout, no step that
    /// checks it completed): the run is INCOMPLETE.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
}

impl Covered {
    /// What came of it, in words: `58 sent, 0 accepted`.
    pub fn outcome(&self) -> String {
        let observed = self.observed.as_ref().map(|o| format!(" ({o})")).unwrap_or_default();
        let unit = super::words::unit(self.exercised, &self.unit);
        format!("{} {unit}, {} {}{observed}", self.exercised, self.found, self.found_as)
    }

    /// The row's result: `passed: 824 responses scanned, 0 found`, `FAILED: ...`, `not run: why`
    /// (`NOT RUN` when the run is incomplete for it).
    pub fn result(&self) -> String {
        let reason = self.reason.as_deref().unwrap_or("not exercised");
        match self.status {
            Status::Passed => format!("passed: {}", self.outcome()),
            Status::Failed => format!("FAILED: {}", self.outcome()),
            Status::Known => format!("known finding: {}", self.outcome()),
            Status::NotRun if self.incomplete => format!("NOT RUN: {reason}"),
            Status::NotRun => format!("not run: {reason}"),
        }
    }
}

/// The rows a reader sees: every detector, the JWT probes and the isolation probes each as one
/// row (each probe's and family's own rows are in `report.json`); targets have their own table.
pub fn rows(coverage: &[Covered]) -> Vec<Vec<String>> {
    // Personas only when one never ran: that one is news.
    let shown = |c: &&Covered| {
        c.kind == CheckKind::Detector || (c.kind == CheckKind::Persona && c.status == Status::NotRun)
    };
    let mut rows: Vec<Vec<String>> = coverage
        .iter()
        .filter(shown)
        .map(|c| vec![c.check.clone(), c.exercised.to_string(), c.result()])
        .collect();
    for (kind, name) in [(CheckKind::Jwt, "JWT probes"), (CheckKind::Isolation, "cross-user probes")] {
        let group: Vec<&Covered> = coverage.iter().filter(|c| c.kind == kind).collect();
        let Some(first) = group.first() else { continue };
        let ran = group.iter().filter(|c| c.status != Status::NotRun).count();
        let exercised: u64 = group.iter().map(|c| c.exercised).sum();
        let result = if ran == 0 {
            let reason = group.iter().find_map(|c| c.reason.as_deref()).unwrap_or("not exercised");
            let mark = if group.iter().any(|c| c.incomplete) { "NOT RUN" } else { "not run" };
            format!("{mark}: {reason}")
        } else {
            let found: u64 = group.iter().map(|c| c.found).sum();
            let failed: Vec<&str> =
                group.iter().filter(|c| c.status == Status::Failed).map(|c| c.check.as_str()).collect();
            let unit = super::words::unit(exercised, &first.unit);
            let mut text = format!("{exercised} {unit}, {found} {}", first.found_as);
            if !failed.is_empty() {
                text = format!("FAILED: {text} ({})", failed.join(", "));
            } else if group.iter().any(|c| c.status == Status::Known) {
                text.push_str(" (known findings)");
            }
            if ran < group.len() {
                let names: Vec<&str> =
                    group.iter().filter(|c| c.status == Status::NotRun).map(|c| c.check.as_str()).collect();
                let named = if names.len() <= 3 { format!(": {}", names.join(", ")) } else { String::new() };
                text.push_str(&format!("; {} of {} not run{named}", group.len() - ran, group.len()));
            }
            text
        };
        rows.push(vec![name.to_owned(), exercised.to_string(), result]);
    }
    rows
}

pub const HEAD: [&str; 3] = ["check", "exercised", "result"];

/// Adds another segment's ledger: counts add up; a check is failed if it failed anywhere, not
/// run only where it ran nowhere, and incomplete only if incomplete everywhere.
pub fn merge(mine: &mut Vec<Covered>, theirs: &[Covered]) {
    for t in theirs {
        let Some(m) = mine.iter_mut().find(|m| m.check == t.check) else {
            mine.push(t.clone());
            continue;
        };
        m.exercised += t.exercised;
        m.found += t.found;
        m.status = match (m.status, t.status) {
            (Status::Failed, _) | (_, Status::Failed) => Status::Failed,
            (Status::Known, _) | (_, Status::Known) => Status::Known,
            (Status::Passed, _) | (_, Status::Passed) => Status::Passed,
            _ => Status::NotRun,
        };
        if m.status != Status::NotRun {
            m.reason = None;
        }
        m.incomplete = m.status == Status::NotRun && m.incomplete && t.incomplete;
    }
}

/// The targets' rows, from the verdict: judged once each, or not run with the reason.
pub fn of_targets(targets: &[crate::verdict::TargetResult]) -> Vec<Covered> {
    targets
        .iter()
        .map(|t| Covered {
            check: format!("target {}", t.expr),
            kind: CheckKind::Target,
            exercised: u64::from(!t.not_run),
            unit: "judged".into(),
            found: u64::from(!t.passed),
            found_as: "missed".into(),
            observed: (!t.not_run).then(|| t.observed.clone()),
            status: match (t.not_run, t.passed) {
                (true, _) => Status::NotRun,
                (false, true) => Status::Passed,
                (false, false) => Status::Failed,
            },
            reason: t.reason.clone(),
            incomplete: false,
        })
        .collect()
}
