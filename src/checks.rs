//! Every assertion netra-load makes that a report can list, in one vocabulary: the detector of
//! each finding kind, each JWT probe and each family of isolation probes. The configuration
//! decides before the run which of them it will exercise, and why the others are not
//! ([`Planned`]); the profile's targets are the verdict's (`crate::verdict`), which says which
//! cannot apply to a run.
//!
//! Who finds what is read from the registries, never listed here: the journeys' table says which
//! findings each journey's checks report and its steps which leaks the scanner can name in what
//! they receive; the JWT probes say what each finds, the isolation probes theirs. What keeps a
//! detector from finding although it runs (tokens too long-lived to wait out) is known before the run too, and said.

use std::fmt;

use crate::findings::FindingKind;
use crate::isolation::LEAK_KINDS;
use crate::journeys::Journey;
use crate::journeys::MAX_EXPIRY_WAIT_S;
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
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Detector(kind) => write!(f, "finding {kind}"),
            Check::Jwt(probe) => write!(f, "jwt probe `{probe}`"),
            Check::Isolation(family) => write!(f, "isolation probes as {family}"),
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
    /// Whether access tokens are short-lived enough for token-refresh to wait them out: known
    /// for the embedded server, not for a deployment (`None`: it runs if they are).
    pub short_tokens: Option<bool>,
}

/// Who finds a kind, and whether that runs here.
struct Finder {
    name: String,
    runs: bool,
}

/// Every finder of `kind`, from the registries: the journeys' own checks, the leaks the
/// scanner can name in what their steps receive, the JWT probes, the isolation probes.
fn finders(kind: FindingKind, run: &Exercised<'_>) -> Vec<Finder> {
    let mut all = Vec::new();
    for journey in crate::journeys::JOURNEYS {
        let runs = run.journeys.contains(&journey);
        if journey.finds.contains(&kind) {
            all.push(Finder { name: journey.name.to_owned(), runs });
        }
        // What a journey receives is scanned: any answer can show a data leak; some steps' answers
        // a leak of their own kind.
        let exposes =
            kind == FindingKind::DataLeak || journey.steps.iter().any(|s| s.exposes() == Some(kind));
        if LEAK_KINDS.contains(&kind) && exposes {
            all.push(Finder {
                name: format!("the isolation scanner on {}", journey.name),
                runs: runs && run.scan,
            });
        }
    }
    if matches!(kind, FindingKind::NoisyNeighbour | FindingKind::ConcurrencyError) {
        // Every journey's 429s are judged by its account's own requests (`client::Budget`), its
        // 5xx by replays (`journeys::concurrency`).
        all.push(Finder { name: "any journey".into(), runs: !run.journeys.is_empty() });
    }
    if <JwtProbe as strum::VariantArray>::VARIANTS.iter().any(|p| p.finds().contains(&kind)) {
        let runs = run.jwt.iter().any(|p| p.finds().contains(&kind));
        all.push(Finder { name: "the JWT probes".into(), runs });
    }
    if crate::probes::isolation::FINDS.contains(&kind) {
        all.push(Finder { name: "the isolation probes".into(), runs: run.isolation_probes });
    }
    all
}

/// What keeps a detector from running although its finder runs.
fn blocked(kind: FindingKind, run: &Exercised<'_>) -> Option<String> {
    match kind {
        FindingKind::ExpiredTokenAccepted if run.short_tokens == Some(false) => Some(format!(
            "token-refresh waits out access tokens of at most {MAX_EXPIRY_WAIT_S} s, and these live longer: set [target] access_ttl = \"2s\""
        )),
        _ => None,
    }
}

/// The finders' names joined with "or", the scanner named once: `the isolation scanner on
/// chat-export or data-export`.
fn or_list(finders: &[Finder]) -> String {
    const SCANNER: &str = "the isolation scanner on ";
    let mut names: Vec<String> = Vec::new();
    let scanned: Vec<&str> = finders.iter().filter_map(|f| f.name.strip_prefix(SCANNER)).collect();
    for f in finders {
        match f.name.strip_prefix(SCANNER) {
            Some(_) if names.iter().any(|n| n.starts_with(SCANNER)) => {}
            Some(_) => names.push(format!("{SCANNER}{}", scanned.join(" or "))),
            None => names.push(f.name.clone()),
        }
    }
    names.join(" or ")
}

/// Every finding kind's detector: exercised when something that finds it runs (and nothing
/// known before the run keeps it from finding).
pub fn detectors(run: &Exercised<'_>) -> Vec<Planned> {
    FindingKind::ALL
        .iter()
        .map(|&kind| {
            let finders = finders(kind, run);
            let skipped = if finders.iter().any(|f| f.runs) {
                blocked(kind, run)
            } else {
                Some(format!("found by {}, which this run does not run", or_list(&finders)))
            };
            Planned { check: Check::Detector(kind), skipped }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercised<'a>(journeys: &'a [&'static Journey], jwt: &'a [JwtProbe]) -> Exercised<'a> {
        Exercised { journeys, jwt, isolation_probes: false, scan: true, short_tokens: None }
    }

    fn running(planned: Vec<Planned>) -> Vec<String> {
        planned.into_iter().filter(|p| p.skipped.is_none()).map(|p| p.check.to_string()).collect()
    }

    #[test]
    fn every_finding_kind_has_a_finder_and_runs_only_with_it() {
        let nothing = Exercised { scan: false, ..exercised(&[], &[]) };
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
        let signup = crate::journeys::find("signup-chat").unwrap();
        assert_eq!(
            running(detectors(&exercised(&[signup], &[JwtProbe::AlgNone]))),
            [
                "finding noisy_neighbour",
                "finding jwt_accepted",
                "finding jwt_server_error",
                "finding list_leak",
                "finding ws_crosstalk",
                "finding data_leak",
                "finding concurrency_error"
            ],
            "signup-chat lists threads and chats, but exports nothing"
        );
        let export = crate::journeys::find("chat-export").unwrap();
        assert!(running(detectors(&exercised(&[export], &[]))).contains(&"finding export_leak".to_owned()));
        let exports = [export];
        let unscanned = Exercised { scan: false, ..exercised(&exports, &[]) };
        let why = &detectors(&unscanned)
            [FindingKind::ALL.iter().position(|k| *k == FindingKind::ListLeak).unwrap()];
        assert!(
            why.skipped.as_deref().unwrap().contains("the isolation scanner on signup-chat or chat-export"),
            "{why:?}"
        );
    }

    #[test]
    fn detectors_known_not_to_find_are_said_before_the_run() {
        let refresh = crate::journeys::find("token-refresh").unwrap();
        let refreshes = [refresh];
        let refreshing = exercised(&refreshes, &[]);
        assert!(
            running(detectors(&refreshing)).contains(&"finding noisy_neighbour".to_owned()),
            "any journey"
        );
        assert!(!running(detectors(&exercised(&[], &[]))).contains(&"finding noisy_neighbour".to_owned()));
        let long = Exercised { short_tokens: Some(false), ..exercised(&refreshes, &[]) };
        let unknown = exercised(&refreshes, &[]);
        assert!(!running(detectors(&long)).contains(&"finding expired_token_accepted".to_owned()));
        assert!(running(detectors(&unknown)).contains(&"finding expired_token_accepted".to_owned()));
    }
}
