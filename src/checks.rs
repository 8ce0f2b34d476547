//! Every assertion netra-load makes that a report can list, in one vocabulary: the detector of
//! each finding kind, each JWT probe, each family of isolation probes, and each target of the
//! profile. The configuration decides before the run which of them it will exercise, and why
//! the others are not ([`Planned`]).
//!
//! Who finds what is read from the registries, never listed here: the journeys' table says which
//! findings each journey reports, the JWT probes which kind an accepted token is, the isolation
//! prober finds `bola` and the scanner the leaks.

use std::fmt;

use crate::findings::FindingKind;
use crate::journeys::Journey;
use crate::probes::JwtProbe;
use crate::probes::isolation::Family;

#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// The detector of a finding kind: it runs where a journey or probe that finds it runs.
    Detector(FindingKind),
    /// One JWT hardening probe, sent to every surface the deployment has.
    Jwt(JwtProbe),
    /// One family of cross-user isolation probes.
    Isolation(Family),
    /// A target of the profile, by its metric's name.
    Target(String),
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Detector(kind) => write!(f, "finding {kind}"),
            Check::Jwt(probe) => write!(f, "jwt probe `{probe}`"),
            Check::Isolation(family) => write!(f, "isolation probes as {family}"),
            Check::Target(name) => write!(f, "target {name}"),
        }
    }
}

/// One check of a run's plan: exercised, or not and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub check: Check,
    /// `None`: the run exercises it.
    pub skipped: Option<String>,
}

/// What a run exercises, for deciding which detectors run.
pub struct Exercised<'a> {
    pub journeys: &'a [&'static Journey],
    pub jwt: &'a [JwtProbe],
    pub isolation_probes: bool,
    pub scan: bool,
}

/// The finders of `kind` among what the run exercises, and among everything (to say what would
/// find it).
fn finders(kind: FindingKind, run: &Exercised<'_>) -> (Vec<String>, Vec<String>) {
    let (mut running, mut all) = (Vec::new(), Vec::new());
    let mut note = |name: String, runs: bool| {
        if runs {
            running.push(name.clone());
        }
        all.push(name);
    };
    for journey in crate::journeys::JOURNEYS.iter().filter(|j| j.finds.contains(&kind)) {
        note(journey.name.to_owned(), run.journeys.contains(&journey));
    }
    let by_jwt = kind == FindingKind::JwtServerError
        || <JwtProbe as strum::VariantArray>::VARIANTS.iter().any(|p| p.kind() == kind);
    if by_jwt {
        let runs = run.jwt.iter().any(|p| p.kind() == kind || kind == FindingKind::JwtServerError);
        note("the JWT probes".into(), runs);
    }
    if kind == FindingKind::Bola {
        note("the isolation probes".into(), run.isolation_probes);
    }
    let leak =
        [FindingKind::ListLeak, FindingKind::ExportLeak, FindingKind::WsCrosstalk, FindingKind::DataLeak];
    if leak.contains(&kind) {
        note("the isolation scanner".into(), run.scan);
    }
    (running, all)
}

/// Every finding kind's detector: exercised when something that finds it runs.
pub fn detectors(run: &Exercised<'_>) -> Vec<Planned> {
    FindingKind::ALL
        .iter()
        .map(|&kind| {
            let (running, all) = finders(kind, run);
            let skipped = running
                .is_empty()
                .then(|| format!("found by {}, which this run does not run", all.join(" or ")));
            Planned { check: Check::Detector(kind), skipped }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finding_kind_has_a_finder_and_runs_only_with_it() {
        let signup = crate::journeys::find("signup-chat").unwrap();
        let nothing = Exercised { journeys: &[], jwt: &[], isolation_probes: false, scan: false };
        let planned = detectors(&nothing);
        assert_eq!(planned.len(), FindingKind::ALL.len());
        for p in &planned {
            let reason = p.skipped.as_deref().unwrap_or_default();
            assert!(
                reason.starts_with("found by ") && !reason.contains("found by ,"),
                "{}: {reason}",
                p.check
            );
        }
        let chat =
            Exercised { journeys: &[signup], jwt: &[JwtProbe::AlgNone], isolation_probes: false, scan: true };
        let runs: Vec<String> = detectors(&chat)
            .into_iter()
            .filter(|p| p.skipped.is_none())
            .map(|p| p.check.to_string())
            .collect();
        assert_eq!(
            runs,
            [
                "finding noisy_neighbour",
                "finding jwt_accepted",
                "finding jwt_server_error",
                "finding list_leak",
                "finding export_leak",
                "finding ws_crosstalk",
                "finding data_leak"
            ]
        );
    }
}
