//! Run profiles: TOML files naming the run defaults, the weighted personas and the targets.
//!
//! A NAME is looked up as `profiles/NAME.toml` under the working directory, then among the
//! profiles built into the binary; anything with a `/` or ending in `.toml` is read as a path.
//! Unknown keys, journeys and plan tiers are errors naming the file, the line and the closest
//! valid name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::InputError;
use crate::journeys::{self, JOURNEYS};

/// The profiles shipped in `profiles/`, built into the binary so they work from any folder.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("chat", include_str!("../../profiles/chat.toml")),
    ("smoke", include_str!("../../profiles/smoke.toml")),
    ("token-refresh", include_str!("../../profiles/token-refresh.toml")),
    ("rate-limit", include_str!("../../profiles/rate-limit.toml")),
    ("mixed", include_str!("../../profiles/mixed.toml")),
    ("isolation", include_str!("../../profiles/isolation.toml")),
    ("flows", include_str!("../../profiles/flows.toml")),
    ("netra-s1", include_str!("../../profiles/netra-s1.toml")),
    ("netra-beta", include_str!("../../profiles/netra-beta.toml")),
];

const PLAN_TIERS: &[&str] = &["free", "pro", "enterprise"];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub run: RunDefaults,
    /// Settings of the embedded target, when it is the one tested.
    #[serde(default)]
    pub target: TargetSettings,
    /// The limits the deployment is expected to enforce (rate-limit journey, bystanders).
    #[serde(default)]
    pub expect: ExpectSettings,
    #[serde(default)]
    pub probes: ProbeSettings,
    #[serde(default)]
    pub isolation: IsolationSettings,
    /// How the deployment differs from the reference dialect.
    #[serde(default)]
    pub api: super::api::ApiSettings,
    #[serde(rename = "persona")]
    pub personas: Vec<Persona>,
    /// `metric = "< threshold"`, e.g. `"journey.signup-chat.p99" = "< 5s"`.
    #[serde(default)]
    pub targets: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunDefaults {
    pub users: Option<usize>,
    /// Users started per second.
    pub increase_rate: Option<f64>,
    pub run_time: Option<String>,
    pub iterations: Option<usize>,
    /// The open model: journeys started per period whatever the completions (`50/s`); `users`
    /// is then the most journeys in flight.
    pub arrival_rate: Option<String>,
    /// Size of the cohort timed from the run's start (default 10).
    pub cohort: Option<usize>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    pub rate_limit: Option<String>,
    pub burst: Option<u32>,
    pub agent_latency: Option<String>,
    pub access_ttl: Option<String>,
    /// reference or s1: which state of Netra the embedded target imitates.
    pub dialect: Option<String>,
    /// owner or origin: which connections an agent turn's events reach.
    pub ws_fanout: Option<String>,
    /// Whether the agent's reply quotes the message (default true, as the contract says); false
    /// imitates a real model's replies.
    pub reply_quotes: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSettings {
    /// Requests a fresh user may send at once (default: `[target] burst`, else 20).
    pub burst: Option<u32>,
    /// Chat messages a free user may send a day (default 10).
    pub free_quota: Option<u32>,
    /// Finding kinds this deployment is known to have: still reported, marked known, but they
    /// do not make the run a breach (exit 3).
    #[serde(default)]
    pub known_findings: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSettings {
    /// JWT hardening probes (default on).
    #[serde(default = "yes")]
    pub jwt: bool,
    /// How often they run again during the load after the first round (`0s`: only at start).
    #[serde(default = "ten_seconds")]
    pub jwt_every: String,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings { jwt: true, jwt_every: ten_seconds() }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationSettings {
    /// Passive scanning of every body and frame (default on; off only to measure its cost).
    #[serde(default = "yes")]
    pub scan: bool,
    /// Active cross-user probes (default on).
    #[serde(default = "yes")]
    pub probes: bool,
    /// Time between two probe rounds (default 200ms).
    #[serde(default = "two_hundred_ms")]
    pub probe_every: String,
}

impl Default for IsolationSettings {
    fn default() -> Self {
        IsolationSettings { scan: true, probes: true, probe_every: two_hundred_ms() }
    }
}

fn two_hundred_ms() -> String {
    "200ms".into()
}

fn yes() -> bool {
    true
}

fn ten_seconds() -> String {
    "10s".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    pub name: String,
    #[serde(default = "one")]
    pub weight: usize,
    pub journey: String,
    #[serde(default = "free")]
    pub plan_tier: String,
}

fn one() -> usize {
    1
}

fn free() -> String {
    "free".into()
}

/// A loaded profile and where it came from (a path, or `built-in:NAME`).
#[derive(Clone, Debug)]
pub struct Loaded {
    pub name: String,
    pub source: String,
    /// One of the profiles built into the binary (not a file).
    pub built_in: bool,
    pub profile: Profile,
}

impl Loaded {
    /// `file` as named in the profile: relative to the profile's folder when the profile is a
    /// file, to the working directory when it is built in.
    pub fn relative(&self, file: &str) -> PathBuf {
        match Path::new(&self.source).parent() {
            Some(dir) if !self.built_in => dir.join(file),
            _ => PathBuf::from(file),
        }
    }
}

/// Finds and parses a profile by name or path.
pub fn load(name_or_path: &str) -> Result<Loaded, InputError> {
    let is_path = name_or_path.contains('/') || name_or_path.ends_with(".toml");
    let local = Path::new("profiles").join(format!("{name_or_path}.toml"));
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|error| InputError::Unreadable {
            what: "profile",
            path: path.to_owned(),
            error,
        })
    };
    let (source, text, built_in) = if is_path {
        (name_or_path.to_owned(), read(Path::new(name_or_path))?, false)
    } else if local.is_file() {
        (local.display().to_string(), read(&local)?, false)
    } else if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
        (format!("built-in:{name_or_path}"), (*text).to_owned(), true)
    } else {
        let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        let hint = closest(name_or_path, &names).map(|c| format!("did you mean `{c}`? ")).unwrap_or_default();
        return Err(InputError::Flag {
            flag: "--profile",
            message: format!(
                "no profile `{name_or_path}` (looked for {} and the built-in ones: {}); {hint}pass a path to a .toml file",
                local.display(),
                names.join(", ")
            ),
        });
    };
    let profile = parse(&source, &text)?;
    let name = Path::new(name_or_path)
        .file_stem()
        .map_or_else(|| name_or_path.to_owned(), |s| s.to_string_lossy().into_owned());
    Ok(Loaded { name, source, built_in, profile })
}

/// Parses and checks a profile's text; errors name `source`, the line and the column.
pub fn parse(source: &str, text: &str) -> Result<Profile, InputError> {
    let bad = |at: String, message: String| InputError::ProfileSyntax { at, message };
    let profile: Profile = toml::from_str(text).map_err(|e| {
        let at = match e.span() {
            Some(span) => {
                let mut at = span.start.min(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let before = &text[..at];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("{source}:{line}:{col}")
            }
            None => source.to_owned(),
        };
        let message = e.message().trim().replace('\n', " ");
        let hint = suggestion(&message);
        bad(at, format!("{message}{hint}"))
    })?;
    if profile.personas.is_empty() {
        return Err(bad(source.into(), "no [[persona]]; add one with name, weight and journey".into()));
    }
    let names = journeys::names();
    for p in &profile.personas {
        let line = line_of(text, &p.journey);
        if journeys::find(&p.journey).is_none() {
            let hint =
                closest(&p.journey, &names).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default();
            return Err(bad(
                format!("{source}:{line}"),
                format!(
                    "persona `{}` has unknown journey `{}` (known: {}){hint}",
                    p.name,
                    p.journey,
                    names.join(", ")
                ),
            ));
        }
        let line = line_of(text, &p.plan_tier);
        if !PLAN_TIERS.contains(&p.plan_tier.as_str()) {
            let hint = closest(&p.plan_tier, PLAN_TIERS)
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(bad(
                format!("{source}:{line}"),
                format!(
                    "persona `{}` has unknown plan_tier `{}` (known: free, pro, enterprise){hint}",
                    p.name, p.plan_tier
                ),
            ));
        }
        let line = line_of(text, &p.name);
        if p.weight == 0 {
            return Err(bad(
                format!("{source}:{line}"),
                format!("persona `{}` has weight 0; use 1 or more", p.name),
            ));
        }
    }
    check_targets(source, text, &profile)?;
    Ok(profile)
}

/// Targets must name journeys, steps and personas that exist: a typo would otherwise only show
/// as "no data" after the whole run.
fn check_targets(source: &str, text: &str, profile: &Profile) -> Result<(), InputError> {
    let personas: Vec<&str> = profile.personas.iter().map(|p| p.name.as_str()).collect();
    let names = journeys::names();
    let mut steps: Vec<&str> = JOURNEYS.iter().flat_map(|j| j.steps.iter().map(|s| s.name())).collect();
    steps.sort_unstable();
    steps.dedup();
    for name in profile.targets.keys() {
        let mut parts = name.splitn(3, '.');
        let (mut kind, mut subject) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if kind == "trend" && subject == "step" {
            // `trend.step.NAME.p50`: NAME is a step, or `*` for every one.
            let rest = parts.next().unwrap_or("");
            (kind, subject) = ("step", crate::verdict::split_stat(rest).map_or(rest, |(n, _)| n));
            if subject == "*" {
                continue;
            }
        } else if kind == "trend" && subject == "endpoint" {
            // Endpoints are the dialect's: known once the `[api]` section is resolved.
            continue;
        }
        let (what, known): (&str, &[&str]) = match kind {
            "journey" | "trend" => ("journey", &names),
            "step" => ("step", &steps),
            "persona" => ("persona", &personas),
            _ => continue,
        };
        if !known.contains(&subject) {
            let hint = closest(subject, known).map(|c| format!("did you mean `{c}`? ")).unwrap_or_default();
            return Err(InputError::ProfileSyntax {
                at: format!("{source}:{}", line_of(text, name)),
                message: format!(
                    "target `{name}` names no {what} `{subject}` of this profile; {hint}known: {}",
                    known.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The line on which the quoted value `"needle"` first appears (1 when it does not).
fn line_of(text: &str, needle: &str) -> usize {
    let quoted = format!("\"{needle}\"");
    text.lines().position(|l| l.contains(&quoted)).map_or(1, |i| i + 1)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`": "; did you mean `a`?".
fn suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else { return String::new() };
    let Some((field, expected)) = rest.split_once('`') else { return String::new() };
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    closest(field, &names).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default()
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 2).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_parse() {
        for (name, text) in BUILT_IN {
            parse(name, text).unwrap_or_else(|e| panic!("{e}"));
            assert!(text.contains("docs/netra-api.md"), "profile {name} does not point to the API's page");
        }
    }

    #[test]
    fn unknown_keys_name_the_file_line_and_closest_name() {
        let text = "[run]\nuserz = 3\n[[persona]]\nname = \"a\"\njourney = \"signup-chat\"\n";
        let e = parse("p.toml", text).unwrap_err().to_string();
        assert!(e.contains("p.toml:2") && e.contains("userz") && e.contains("did you mean `users`"), "{e}");
        let text = "[[persona]]\nname = \"a\"\njourney = \"signup-chatt\"\n";
        let e = parse("p.toml", text).unwrap_err().to_string();
        assert!(e.contains("p.toml:3") && e.contains("did you mean `signup-chat`"), "{e}");
        let text = "[[persona]]\nname = \"a\"\njourney = \"signup-chat\"\nplan_tier = \"enterprize\"\n";
        assert!(parse("p.toml", text).unwrap_err().to_string().contains("did you mean `enterprise`"));
        assert!(parse("p.toml", "[run]\nusers = 3\n").unwrap_err().to_string().contains("persona"));
        let whole = "[run]\nincrease_rate = 100\n[[persona]]\nname = \"a\"\njourney = \"signup-chat\"\n";
        assert_eq!(parse("p.toml", whole).unwrap().run.increase_rate, Some(100.0));
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("smok", &["chat", "smoke"]), Some("smoke"));
        assert_eq!(closest("zzzzzzzz", &["chat", "smoke"]), None);
    }
}
