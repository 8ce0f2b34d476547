//! The report is the data model of a finished run; renderers ([`render`]) are pure functions of
//! it. `report.json` is this model serialised (schema: `schema/report.schema.json`): histograms
//! are stored whole, so percentiles can be derived again and runs merged without averaging.

pub mod charts;
pub mod compare;
pub mod coverage;
pub mod html;
pub mod junit;
pub mod load;
pub mod merge;
pub mod render;
pub mod setup;
mod tables;
pub mod trend;
pub mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use crate::metrics::Stats;
use crate::verdict::{Figures, Metric, Verdict};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JourneyReport {
    #[serde(flatten)]
    pub stats: Stats,
    pub steps: BTreeMap<String, Stats>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PersonaReport {
    pub journey: String,
    pub plan_tier: String,
    pub weight: usize,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cohort {
    pub users: usize,
    /// Microseconds from the run's start until the cohort's last user completed signup-chat;
    /// `null` when fewer users completed it.
    pub completed_us: Option<u64>,
}

/// The run over time.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TimelineReport {
    /// Seconds until every user was started: the steady phase begins after.
    pub ramp_s: f64,
    pub windows: Vec<crate::metrics::Window>,
    /// The endpoints each step calls (`METHOD /path` templates; `WS /path`), by step: what the
    /// per-endpoint trends merge.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, Vec<String>>,
}

impl TimelineReport {
    /// The steady phase's windows: complete ones, after every user was started.
    pub fn steady(&self) -> &[crate::metrics::Window] {
        let full = self.windows.iter().map(|w| w.width_s).fold(0.0, f64::max);
        let first = self.windows.iter().position(|w| w.start_s + 1e-9 >= self.ramp_s);
        let last = self.windows.iter().rposition(|w| w.width_s + 1e-9 >= full);
        match (first, last) {
            (Some(first), Some(last)) if first <= last => &self.windows[first..=last],
            _ => &[],
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorReport {
    /// The step that failed (empty when no step did, and in older reports).
    #[serde(default)]
    pub step: String,
    pub kind: String,
    pub count: u64,
    pub sample: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The deployment under test (`run.target` in report.json).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeploymentInfo {
    /// `embedded`, `deployment` or `auth-service`.
    pub kind: String,
    pub auth_url: String,
    pub backend_url: String,
    pub faults: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    /// This run's id (a UUID, new for every run; a merged report gets its own): what tells two
    /// reports apart, whatever their folders are called. Empty in older reports.
    #[serde(default)]
    pub run_id: String,
    pub profile: String,
    pub profile_source: String,
    pub users: usize,
    pub increase_rate: f64,
    pub run_time_s: Option<f64>,
    pub iterations: Option<usize>,
    pub seed: Option<u64>,
    pub started_at: String,
    pub ended_at: String,
    pub ended_by: crate::metrics::EndedBy,
    pub duration_s: f64,
    pub target: DeploymentInfo,
    /// The targets the verdict judged, as written.
    pub targets: Vec<String>,
    pub personas: Vec<PersonaConfig>,
    /// The embedded target's settings (`null` against a deployment); the secret is redacted.
    pub embedded_target: Option<EmbeddedConfig>,
    /// Milliseconds from the process's start to the load's (target start, preflight included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_ms: Option<f64>,
    /// The generator's peak resident memory (the embedded target's included when it runs
    /// in-process), in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_kib: Option<u64>,
    /// When the users started, in milliseconds since the Unix epoch: what merge aligns the
    /// segments' windows and completions by (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<u64>,
    /// A merge: how far apart its parts' starts were, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_spread_ms: Option<u64>,
    /// The common start asked for (`--start-at`), RFC 3339 to the millisecond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// `I/N` when this run was segment I of N (`--segment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// The segments a merged report was made of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// The segments of the run missing from a merge (`merge --allow-partial`): the verdict is
    /// PARTIAL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_segments: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PersonaConfig {
    pub name: String,
    pub weight: usize,
    pub journey: String,
    pub plan_tier: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmbeddedConfig {
    pub rate_limit: String,
    pub burst: u32,
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    pub agent_latency_ms: f64,
    pub jwt_secret: String,
}

/// A non-latency value observed during the run, e.g. `observed_limit` (the abusers' successes
/// before their first 429), shown beside what was expected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObservationReport {
    pub count: u64,
    pub min: u64,
    pub max: u64,
    pub mean: f64,
    pub expected: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub run: RunInfo,
    pub journeys: BTreeMap<String, JourneyReport>,
    pub personas: BTreeMap<String, PersonaReport>,
    pub cohorts: BTreeMap<String, Cohort>,
    /// When the first users completed signup-chat (µs from the start, in order), as many as the
    /// largest cohort: what a merge needs to find the cohorts of the whole.
    #[serde(default)]
    pub completions_us: Vec<u64>,
    #[serde(default)]
    pub timeline: TimelineReport,
    pub errors: Vec<ErrorReport>,
    pub observations: BTreeMap<String, ObservationReport>,
    pub findings: Vec<crate::findings::Finding>,
    /// Personas the dialect cannot run, with the reason.
    pub skipped: Vec<String>,
    /// Journeys, steps and personas of the profile that no running persona covers: their
    /// targets are not judged.
    #[serde(default)]
    pub not_run: Vec<String>,
    /// The open model's schedule: journeys due, started and dropped (`null`: closed model).
    #[serde(default)]
    pub arrival: Option<crate::metrics::ArrivalReport>,
    pub probes: crate::probes::ProbeSummary,
    pub isolation: crate::isolation::IsolationSummary,
    /// Whether the target kept answering: the longest stall (availability is the timeline's).
    #[serde(default)]
    pub service: crate::metrics::ServiceReport,
    /// What was checked: every check of the plan, how often it was exercised and what came of
    /// it, or why it did not run.
    #[serde(default)]
    pub coverage: Vec<coverage::Covered>,
    /// Each step and endpoint whose latency grew over the steady phase (by the run's step trend
    /// target, else the default one).
    #[serde(default)]
    pub degradation: trend::Degradation,
    pub verdict: Verdict,
}

/// Checks, before a run starts, that a run folder can be written in `dir`: creates the folders
/// missing, writes and removes a file there, then removes the folders it created, so that a run
/// refused later leaves nothing behind.
pub fn check_writable(dir: &Path) -> anyhow::Result<()> {
    // Deepest first, as they are removed.
    let missing: Vec<&Path> =
        dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).collect();
    let attempt = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let probe = dir.join(format!(".netra-load-probe-{}", std::process::id()));
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)
    };
    // Another run checking the same new folder (segments started together) may remove it
    // between our creating it and writing: once more settles that.
    let result = attempt().or_else(|_| attempt());
    for created in missing {
        let _ = std::fs::remove_dir(created);
    }
    result.with_context(|| {
        format!("cannot write a run folder in {} (give a folder you can write to)", dir.display())
    })
}

/// The names of a run folder's files.
pub mod files {
    pub const JSON: &str = "report.json";
    pub const MARKDOWN: &str = "report.md";
    pub const HTML: &str = "report.html";
    pub const JUNIT: &str = "junit.xml";
}

impl Report {
    /// Writes `report.json` and `report.md` into a new folder `<dir>/<UTC time>-<profile>`;
    /// an existing folder is never reused. Returns the folder.
    pub fn write_run_folder(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the report folder {}", dir.display()))?;
        let stamp: String = self.run.started_at.chars().filter(|c| !matches!(c, '-' | ':')).collect();
        let base = format!("{stamp}-{}", sanitize(&self.run.profile));
        let folder = (1..)
            .map(|n| if n == 1 { dir.join(&base) } else { dir.join(format!("{base}-{n}")) })
            .find_map(|candidate| match std::fs::create_dir(&candidate) {
                Ok(()) => Some(Ok(candidate)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            })
            .expect("an unused folder name exists")
            .with_context(|| format!("cannot create a run folder in {}", dir.display()))?;
        self.write_files(&folder)?;
        Ok(folder)
    }

    /// Writes the reports into `folder` (created if needed; files there are replaced).
    pub fn write_folder(&self, folder: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create the report folder {}", folder.display()))?;
        self.write_files(folder)
    }

    /// `report.json`, `report.md`, `report.html` and `junit.xml`; an error names the file.
    fn write_files(&self, folder: &Path) -> anyhow::Result<()> {
        let write = |name: &str, fill: &dyn Fn(&mut dyn std::io::Write) -> anyhow::Result<()>| {
            let path = folder.join(name);
            let attempt = || -> anyhow::Result<()> {
                let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
                fill(&mut out)?;
                std::io::Write::flush(&mut out)?;
                Ok(())
            };
            attempt().with_context(|| format!("cannot write {}", path.display()))
        };
        write(files::JSON, &|out| Ok(serde_json::to_writer_pretty(out, self)?))?;
        write(files::MARKDOWN, &|out| Ok(render::markdown(self, out)?))?;
        write(files::HTML, &|out| Ok(out.write_all(html::page(self).as_bytes())?))?;
        write(files::JUNIT, &|out| {
            Ok(out.write_all(junit::render(self).map_err(anyhow::Error::msg)?.as_bytes())?)
        })?;
        Ok(())
    }
}

impl Report {
    /// Judges `targets` on the figures (the coverage ledger's checks say whether the run is
    /// complete) and adds the targets' rows to the ledger.
    pub fn judge(&mut self, targets: &[crate::verdict::Threshold]) {
        self.coverage.retain(|c| c.kind != coverage::CheckKind::Target);
        self.degradation = self.degradation(targets);
        self.verdict = crate::verdict::judge(targets, self);
        // Part of a run judged is no verdict on the run; a breach seen in it still is one.
        if !self.run.missing_segments.is_empty() && self.verdict.outcome() != crate::verdict::Outcome::Breach
        {
            self.verdict.outcome = Some(crate::verdict::Outcome::Partial);
            self.verdict.exit_code = crate::exit::PARTIAL;
            self.verdict.passed = false;
        }
        self.coverage.extend(coverage::of_targets(&self.verdict.targets));
    }
}

impl RunInfo {
    /// Which part of a run this is: `segment 1/4`, `merged from 3 reports`; `None` for a whole run.
    pub fn part(&self) -> Option<String> {
        match (&self.segment, self.merged_from.len()) {
            (Some(s), _) => Some(format!("segment {s}")),
            (None, 0) => None,
            (None, n) => Some(match self.start_spread_ms {
                Some(ms) => format!("merged from {n} reports started within {:.1} s", ms as f64 / 1000.0),
                None => format!("merged from {n} reports"),
            }),
        }
    }

    /// The load's phases in words, `ramp 1.0 s, steady 2.1 s`: the run time includes the ramp
    /// (users start during it, and the steady phase has them all).
    pub fn phases(&self, ramp_s: f64) -> String {
        let load = self.run_time_s.map_or(self.duration_s, |t| t.min(self.duration_s));
        format!("ramp {ramp_s:.1} s, steady {:.1} s", (load - ramp_s).max(0.0))
    }
}

impl TimelineReport {
    /// Seconds the windows span, and of them unavailable.
    pub fn unavailable(&self) -> (f64, f64) {
        let width = self.windows.iter().map(|w| w.width_s).sum();
        (width, self.windows.iter().map(|w| w.unavailable_s).sum())
    }
}

impl Figures for Report {
    fn journey(&self, name: &str) -> Option<&Stats> {
        self.journeys.get(name).map(|j| &j.stats)
    }

    fn persona(&self, name: &str) -> Option<&Stats> {
        self.personas.get(name).map(|p| &p.stats)
    }

    fn step(&self, name: &str) -> Stats {
        let mut merged = Stats::default();
        for s in self.journeys.values().filter_map(|j| j.steps.get(name)) {
            merged.merge(s);
        }
        merged
    }

    fn cohort(&self, users: usize) -> Option<u64> {
        self.cohorts.get(&users.to_string()).and_then(|c| c.completed_us)
    }

    fn trends(
        &self,
        of: crate::metrics::TrendOf,
        quantile: f64,
    ) -> Vec<(String, Result<crate::metrics::Trend, String>)> {
        self.timeline.trends(of, quantile)
    }

    fn journeys_done_and_failed(&self) -> (u64, u64) {
        self.journeys.values().fold((0, 0), |(d, f), j| (d + j.stats.count, f + j.stats.failures))
    }

    fn availability(&self) -> Option<f64> {
        let (width, unavailable) = self.timeline.unavailable();
        (width > 0.0).then(|| (1.0 - unavailable / width).clamp(0.0, 1.0))
    }

    fn stall_max(&self) -> Option<u64> {
        (!self.timeline.windows.is_empty()).then_some(self.service.stall_max_us)
    }

    fn dropped(&self) -> Option<(u64, u64)> {
        self.arrival.as_ref().map(|a| (a.scheduled, a.dropped))
    }

    fn inapplicable(&self, metric: &Metric) -> Option<String> {
        if let Some(subject) = metric.subject().filter(|s| self.not_run.iter().any(|n| n == s)) {
            return Some(format!("`{subject}` does not run (see the skipped personas)"));
        }
        if !self.run.personas.is_empty() && self.run.personas.iter().all(|p| self.not_run.contains(&p.name)) {
            // Every target is of the users' work, which a run of the probes alone has none of.
            return Some("no persona runs: this run is the JWT probes alone".into());
        }
        match metric {
            Metric::Cohort(n) => {
                let cohort = crate::journeys::cohort_journey().name;
                let running: Vec<&PersonaConfig> =
                    self.run.personas.iter().filter(|p| !self.not_run.contains(&p.name)).collect();
                let total: usize = running.iter().map(|p| p.weight).sum();
                let share: usize = running.iter().filter(|p| p.journey == cohort).map(|p| p.weight).sum();
                // The closed model shares its users among the personas by weight (about).
                let users = (self.run.users * share).div_ceil(total.max(1));
                if share == 0 {
                    Some(format!("no persona runs {cohort}, whose users make the cohorts"))
                } else if self.arrival.is_none() && users < *n && self.completions_us.len() < *n {
                    Some(format!(
                        "{users} of the run's {} users run {cohort} (by weight): a cohort of {n} needs {n}",
                        self.run.users
                    ))
                } else {
                    None
                }
            }
            Metric::Step { name, .. } => {
                let s = self.step(name);
                (s.count + s.failures == 0 && s.not_applicable > 0)
                    .then(|| format!("`{name}` {}", coverage::NOT_APPLICABLE))
            }
            Metric::DroppedRate if self.arrival.is_none() => {
                Some("the closed model drops nothing (the open model, --arrival-rate, does)".into())
            }
            _ => None,
        }
    }

    fn breached(&self) -> bool {
        self.findings.iter().any(|f| !f.known && f.severity.breaches())
    }

    fn defective(&self) -> bool {
        self.findings.iter().any(|f| !f.known && !f.severity.breaches())
    }

    fn incomplete(&self) -> bool {
        self.coverage.iter().any(|c| c.incomplete)
    }
}

/// The most frequent first; ties by step, then kind.
pub(crate) fn sort_errors(errors: &mut [ErrorReport]) {
    errors.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| (&a.step, &a.kind).cmp(&(&b.step, &b.kind))));
}

/// Keeps a profile name usable as part of a folder name.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
