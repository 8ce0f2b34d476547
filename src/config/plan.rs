//! The plan of a run, decided before any target starts or any request is sent: which personas
//! run and which are skipped (and why), what of the profile no running persona covers, which
//! probes run, and the checks the run will exercise ([`crate::checks`]). The load engine
//! executes it and decides nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use strum::VariantArray;

use super::InputError;
use super::profile::Persona;
use crate::checks::{self, Check, Exercised, Planned};
use crate::client::Api;
use crate::findings::FindingKind;
use crate::journeys::{self, Expect, Journey, Step};
use crate::probes::isolation::Family;
use crate::probes::jwt::Requires;
use crate::probes::{JwtProbe, ProbeSettings};
use crate::reference::Secret;

/// How the run stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    After(Duration),
    Iterations(usize),
}

#[derive(Clone, Debug)]
pub struct PersonaPlan {
    pub name: String,
    pub weight: usize,
    pub journey: &'static Journey,
    /// The journey's steps it runs: register only where the dialect registers users.
    pub steps: Vec<Step>,
    pub plan_tier: String,
    /// Whether it runs against this deployment and dialect.
    pub runs: bool,
    /// Why it does not run, or what it does differently against this deployment.
    pub note: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    /// Simulated users (closed model), or the most journeys in flight at once (open model).
    pub users: usize,
    /// Journeys started per second whatever the completions (the open model); `None`: the
    /// closed model, each user starting its next journey when the last one ends.
    pub arrival: Option<f64>,
    /// The number of this process's first user in the whole run (`--segment`): user numbers in
    /// findings and accounts from a credentials file are the whole run's.
    pub first_user: usize,
    /// Users started per second.
    pub increase_rate: f64,
    pub stop: Stop,
    /// Every persona of the profile, in its order (the skipped ones too, with `runs` false).
    pub personas: Vec<PersonaPlan>,
    pub run_tag: String,
    pub expect: Expect,
    pub probes: ProbeSettings,
    /// Passive scanning of what the users receive.
    pub scan: bool,
    /// How often the isolation prober tries a victim's thread (`None`: never).
    pub isolation_every: Option<Duration>,
    /// The signing secret, when known: some JWT probes need it.
    pub jwt_secret: Option<Secret>,
    /// Why the isolation probes the profile asks for do not run, if they do not.
    pub isolation_skipped: Option<String>,
    /// Journeys, steps and personas of the profile that no running persona covers: their targets
    /// are not judged.
    pub not_run: Vec<String>,
    /// Every check, exercised or not (and why).
    pub checks: Vec<Planned>,
}

impl Plan {
    /// What the run leaves out or does differently, each with the reason (the report's
    /// `skipped`): the personas' notes, in the profile's order, then the isolation probes'.
    pub fn skipped(&self) -> Vec<String> {
        self.personas.iter().filter_map(|p| p.note.clone()).chain(self.isolation_skipped.clone()).collect()
    }
}

/// What the deployment and the dialect allow.
pub struct Reach<'a> {
    /// A backend to test (not only an auth service).
    pub backend: bool,
    pub api: &'a Api,
}

/// Whether each persona can run, and why not (or what it does differently). None can run: every
/// reason, refused before the run.
pub fn personas(profile: &[Persona], reach: &Reach<'_>) -> Result<Vec<PersonaPlan>, InputError> {
    let provisioning = &reach.api.provisioning;
    let mut plans = Vec::new();
    for persona in profile {
        let Some(journey) = journeys::find(&persona.journey) else {
            let message = format!("persona `{}` has unknown journey `{}`", persona.name, persona.journey);
            return Err(InputError::Invalid(message));
        };
        let who = format!("persona `{}` ({})", persona.name, journey.name);
        let needs = journey.needs;
        // Each reason says what would make the journey run.
        let refused = if needs.sessions && !provisioning.has_sessions() {
            Some(format!(
                "{who}: needs refresh tokens and logout sessions, which minted users do not have: use --provisioning dev-login (s1's POST /auth/dev/login), register, or login with --credentials"
            ))
        } else if !reach.backend && needs.auth_alone.is_none() {
            Some(format!(
                "{who}: needs the backend, and this run tests the auth service alone: give --backend-url"
            ))
        } else if needs.fresh_users && provisioning.reuses_accounts() {
            Some(format!(
                "{who}: needs a fresh user per journey (its own bucket and quota); accounts from a credentials file carry theirs over: use --provisioning register (or mint, or dev-login)"
            ))
        } else {
            None
        };
        let runs = refused.is_none();
        let note = match (refused, reach.backend, needs.auth_alone) {
            (Some(why), _, _) => Some(why),
            (None, false, Some(differently)) => {
                let differently = differently.replace("{me}", &reach.api.me);
                Some(format!("{who}: {differently}: this run tests the auth service alone"))
            }
            (None, _, _) => None,
        };
        let registers = provisioning.registers();
        let steps = journey.steps.iter().copied().filter(|s| *s != Step::Register || registers).collect();
        plans.push(PersonaPlan {
            name: persona.name.clone(),
            weight: persona.weight,
            journey,
            steps,
            plan_tier: persona.plan_tier.clone(),
            runs,
            note,
        });
    }
    Ok(plans)
}

/// Refuses a run that would check nothing: no persona runs and no JWT probe either (a run of the
/// probes alone, against an auth service with the secret, is a run).
pub fn something_runs(personas: &[PersonaPlan], probes: &ProbeSettings) -> Result<(), InputError> {
    if personas.iter().any(|p| p.runs) || !probes.jwt.is_empty() {
        return Ok(());
    }
    let mut reasons: Vec<String> = personas.iter().filter_map(|p| p.note.clone()).collect();
    let why = probes.skipped.first().map_or("they are off ([probes] jwt = false)", |(_, why)| why.as_str());
    reasons.push(format!("the JWT probes cannot run either: {why}"));
    Err(InputError::NothingRuns(reasons))
}

/// What the profile names that no running persona covers: the skipped personas, their journeys
/// and the steps only those journeys have.
pub fn not_run(personas: &[PersonaPlan]) -> Vec<String> {
    let mut out = BTreeSet::new();
    let running: Vec<&PersonaPlan> = personas.iter().filter(|p| p.runs).collect();
    let ran_steps: Vec<Step> = running.iter().flat_map(|p| p.steps.iter().copied()).collect();
    for persona in personas.iter().filter(|p| !p.runs) {
        out.insert(persona.name.clone());
        if !running.iter().any(|p| p.journey == persona.journey) {
            out.insert(persona.journey.name.to_owned());
        }
        for step in persona.steps.iter().filter(|s| !ran_steps.contains(s)) {
            out.insert(step.name().to_owned());
        }
    }
    out.into_iter().collect()
}

/// The JWT probes the run exercises (`on`: `[probes] jwt`), and those it cannot with the reason.
pub fn jwt_probes(on: bool, every: Option<Duration>, secret_known: bool, reach: &Reach<'_>) -> ProbeSettings {
    let mut settings = ProbeSettings { jwt: Vec::new(), skipped: Vec::new(), every };
    if !on {
        return settings;
    }
    for &probe in JwtProbe::VARIANTS {
        match probe.requires() {
            Requires::Secret if !secret_known => {
                settings.skipped.push((probe, "needs the signing secret (--jwt-secret)".into()));
            }
            Requires::RefreshToken if !reach.api.provisioning.has_sessions() => {
                settings.skipped.push((probe, "the users have no refresh token (minted)".into()));
            }
            Requires::Password if !reach.api.provisioning.has_passwords() => {
                settings
                    .skipped
                    .push((probe, "the users log in without a password (minted or dev login)".into()));
            }
            _ => settings.jwt.push(probe),
        }
    }
    settings
}

/// What the profile asks for that the plan's figures do not hold.
pub struct Asked {
    /// `[probes] jwt`.
    pub jwt: bool,
    /// `[isolation] probes`.
    pub isolation: bool,
    /// Whether access tokens are short-lived enough for token-refresh to wait them out (known
    /// for the embedded server only).
    pub short_tokens: Option<bool>,
    /// A backend to test (not only an auth service).
    pub backend: bool,
}

/// Every check, exercised or not: the finding kinds' detectors, the JWT probes and the isolation
/// probe families.
pub fn checks(plan: &Plan, asked: &Asked) -> Vec<Planned> {
    let running: Vec<&'static Journey> = plan.personas.iter().filter(|p| p.runs).map(|p| p.journey).collect();
    let run = Exercised {
        journeys: &running,
        jwt: &plan.probes.jwt,
        isolation_probes: plan.isolation_every.is_some(),
        scan: plan.scan,
        short_tokens: asked.short_tokens,
    };
    let mut planned = checks::detectors(&run);
    if !asked.backend {
        // Only the backend speaks WebSocket: an auth service alone has no frames to cross.
        for p in planned.iter_mut().filter(|p| p.check == Check::Detector(FindingKind::WsCrosstalk)) {
            p.skipped.get_or_insert_with(|| {
                "needs the backend's WebSocket, and this run tests the auth service alone: give --backend-url"
                    .to_owned()
            });
        }
    }
    for &probe in JwtProbe::VARIANTS {
        let skipped = if !asked.jwt {
            Some("the JWT probes are off ([probes] jwt = false)".to_owned())
        } else {
            plan.probes.skipped.iter().find(|(p, _)| *p == probe).map(|(_, why)| why.clone())
        };
        planned.push(Planned { check: Check::Jwt(probe), skipped });
    }
    for &family in Family::VARIANTS {
        let skipped = match (asked.isolation, &plan.isolation_skipped) {
            (false, _) => Some("the isolation probes are off ([isolation] probes = false)".to_owned()),
            (true, why) => why.clone(),
        };
        planned.push(Planned { check: Check::Isolation(family), skipped });
    }
    // Targets are the verdict's: it says which cannot apply, and why (`Figures::inapplicable`).
    planned
}

#[cfg(test)]
mod tests {
    use crate::checks::Check;
    use crate::cli::RunArgs;
    use crate::config::{InputError, resolve};
    use crate::findings::FindingKind;
    use crate::journeys::Step;
    use crate::probes::JwtProbe;

    fn args(profile: &str, auth_url: Option<&str>) -> RunArgs {
        RunArgs { profile: profile.into(), auth_url: auth_url.map(Into::into), ..RunArgs::default() }
    }

    fn skipped(checks: &[crate::checks::Planned], check: &Check) -> Option<String> {
        checks.iter().find(|p| p.check == *check).expect("every check is planned").skipped.clone()
    }

    #[test]
    fn what_runs_is_decided_from_the_profile_and_the_dialect_before_any_request() {
        // s1 mints its users: no register step, no refresh tokens, no sessions.
        let s1 = resolve(args("netra-s1", None)).unwrap();
        let refresher = s1.plan.personas.iter().find(|p| p.name == "refresher").unwrap();
        assert!(!refresher.runs && refresher.note.as_deref().unwrap().contains("minted users"));
        let chatter = s1.plan.personas.iter().find(|p| p.name == "chatter").unwrap();
        assert!(chatter.runs && chatter.steps[0] == Step::Login, "{:?}", chatter.steps);
        // Minted users have neither refresh tokens nor passwords (for the wrong password and the
        // twin logins).
        assert_eq!(s1.plan.probes.skipped.len(), 3, "{:?}", s1.plan.probes.skipped);
        assert!(s1.plan.not_run.contains(&"token-refresh".to_owned()));
        let checks = &s1.plan.checks;
        assert!(
            skipped(checks, &Check::Jwt(JwtProbe::RefreshAsAccess)).unwrap().contains("no refresh token")
        );
        assert_eq!(skipped(checks, &Check::Jwt(JwtProbe::Expired)), None, "the embedded secret is known");

        // The reference dialect registers; the embedded server's tokens live 900 s.
        let chat = resolve(args("chat", None)).unwrap();
        assert!(chat.plan.personas.iter().all(|p| p.runs && p.steps[0] == Step::Register));
        let expiry = skipped(&chat.plan.checks, &Check::Detector(FindingKind::ExpiredTokenAccepted)).unwrap();
        assert!(expiry.contains("found by token-refresh"), "{expiry}");
        let refresh = resolve(args("token-refresh", None)).unwrap();
        let expiry =
            skipped(&refresh.plan.checks, &Check::Detector(FindingKind::ExpiredTokenAccepted)).unwrap();
        assert!(expiry.contains("access_ttl"), "{expiry}");

        // An auth service alone: token-refresh runs differently, the isolation probes do not.
        let auth = resolve(args("token-refresh", Some("http://127.0.0.1:1"))).unwrap();
        assert!(auth.plan.isolation_every.is_none());
        assert!(
            auth.plan.skipped().iter().any(|s| s.contains("/auth/me instead")),
            "{:?}",
            auth.plan.skipped()
        );
        assert!(skipped(&auth.plan.checks, &Check::Jwt(JwtProbe::Expired)).unwrap().contains("--jwt-secret"));

        // chat against an auth service alone: no persona runs, the JWT probes alone do (those
        // that need no secret).
        let alone = resolve(args("chat", Some("http://127.0.0.1:1"))).unwrap();
        assert!(alone.plan.personas.iter().all(|p| !p.runs), "{:?}", alone.plan.skipped());
        assert!(
            alone.plan.skipped().iter().all(|r| r.contains("give --backend-url")),
            "{:?}",
            alone.plan.skipped()
        );
        assert!(alone.plan.probes.jwt.contains(&JwtProbe::AlgNone), "{:?}", alone.plan.probes);
        // Nothing at all: every reason said, the probes' too.
        let nothing = super::something_runs(
            &alone.plan.personas,
            &crate::probes::ProbeSettings { jwt: Vec::new(), skipped: Vec::new(), every: None },
        );
        match nothing {
            Err(InputError::NothingRuns(reasons)) => {
                assert_eq!(reasons.len(), 3, "{reasons:?}");
                assert!(reasons[2].contains("[probes] jwt = false"), "{reasons:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}
