//! Live metrics: the run as a Prometheus exposition (OpenMetrics text), for `--metrics-addr`.
//!
//! Only the collector task writes here ([`LiveMetrics::record`], called with every [`Event`] it
//! reads), so the simulated users' path is untouched: with no `--metrics-addr` there is no
//! `LiveMetrics` at all and the collector pays one `Option` check per event. What the collector
//! does not see (active users, findings so far, checks exercised) is read from its owners at
//! each scrape through [`Sources`], closures the load engine attaches once it has them: nothing
//! is copied while nobody scrapes.
//!
//! Units: durations in seconds (Prometheus' convention), observed into classic histograms with
//! exponential buckets from 1 ms to 65.5 s. These are for watching a run; the report's HDR
//! histograms remain the figures judged.
//!
//! A leaf like the rest of `metrics`: names and counts come in as plain values.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::Event;

/// The content type of [`LiveMetrics::encode`]'s text (what Prometheus asks for first).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric's name starts with this (and `_`).
pub const PREFIX: &str = "netra_load";

/// 1 ms, doubling 17 times: the last finite bucket is 65.536 s, past the client's call timeout.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the label values, as PromQL writes them
enum Outcome {
    ok,
    failed,
    /// A step that did not apply (and so did not run).
    not_applicable,
}

impl Outcome {
    fn of(ok: bool) -> Outcome {
        if ok { Outcome::ok } else { Outcome::failed }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JourneyLabels {
    journey: &'static str,
    persona: Arc<str>,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JourneyDurationLabels {
    journey: &'static str,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    journey: &'static str,
    step: &'static str,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: Cow<'static, str>,
}

type Read<T> = Arc<dyn Fn() -> T + Send + Sync>;

/// What is read from the run's owners at each scrape. Each is `None` until the load attaches it;
/// counts are totals so far, by name.
#[derive(Clone, Default)]
pub struct Sources {
    /// Simulated users started so far (the timeline's active users).
    pub active_users: Option<Read<usize>>,
    /// Findings so far by kind (every kind the run can report, zeros included, so that a
    /// dashboard's sum is 0 rather than empty).
    pub findings: Option<Read<Vec<(&'static str, u64)>>>,
    /// Checks exercised so far, by check.
    pub checks: Option<Read<Vec<(String, u64)>>>,
}

/// The metrics read at scrape time, as a prometheus-client [`Collector`]. (prometheus-client
/// ends every help text with a full stop: ours have none.)
#[derive(Default)]
struct Scraped(Mutex<Sources>);

impl fmt::Debug for Scraped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scraped")
    }
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        // Cloned out of the lock: the closures may take locks of their own.
        let sources = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let active = sources.active_users.map_or(0, |read| read());
        let gauge = ConstGauge::new(i64::try_from(active).unwrap_or(i64::MAX));
        let metric = encoder.encode_descriptor(
            "active_users",
            "Simulated users started so far (the timeline's active users)",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)?;
        let findings = sources.findings.map(|read| read()).unwrap_or_default();
        let help = "Findings so far (occurrences, as the report counts them), by kind";
        encode_counts(&mut encoder, "findings", help, "kind", findings)?;
        let checks = sources.checks.map(|read| read()).unwrap_or_default();
        let help = "Checks exercised so far: responses scanned, isolation probes sent, JWT probes answered";
        encode_counts(&mut encoder, "checks_exercised", help, "check", checks)
    }
}

/// One counter family with a single label, from `(label value, count)` pairs.
fn encode_counts<L: EncodeLabelValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    counts: Vec<(L, u64)>,
) -> Result<(), fmt::Error> {
    let kind = ConstCounter::new(0u64).metric_type();
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (value, count) in counts {
        let labels = [(label, value)];
        ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The registry and the metric families the collector updates.
pub struct LiveMetrics {
    registry: Registry,
    /// Persona names by the index events carry.
    personas: Vec<Arc<str>>,
    journeys: Family<JourneyLabels, Counter>,
    journey_seconds: Family<JourneyDurationLabels, Histogram>,
    steps: Family<StepLabels, Counter>,
    step_seconds: Family<StepLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    scraped: Arc<Scraped>,
}

impl fmt::Debug for LiveMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveMetrics").field("personas", &self.personas).finish_non_exhaustive()
    }
}

impl LiveMetrics {
    /// The metrics of a run whose personas have these names (in the plan's order).
    pub fn new(personas: impl IntoIterator<Item = String>) -> LiveMetrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let journeys = Family::default();
        registry.register(
            "journeys",
            "Journeys completed (ok) or failed, by journey and persona",
            journeys.clone(),
        );
        let journey_seconds = Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register(
            "journey_duration_seconds",
            "Journey durations in seconds, by journey and outcome",
            journey_seconds.clone(),
        );
        let steps = Family::default();
        registry.register(
            "steps",
            "Steps completed (ok), failed, or not applicable, by journey and step",
            steps.clone(),
        );
        let step_seconds = Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register(
            "step_duration_seconds",
            "Step durations in seconds, by journey, step and outcome",
            step_seconds.clone(),
        );
        let errors = Family::default();
        registry.register("errors", "Failures by kind (http_500, ws_closed, timeout, ...)", errors.clone());
        let scraped = Arc::new(Scraped::default());
        registry.register_collector(Box::new(scraped.clone()));
        LiveMetrics {
            registry,
            personas: personas.into_iter().map(Arc::from).collect(),
            journeys,
            journey_seconds,
            steps,
            step_seconds,
            errors,
            scraped,
        }
    }

    /// Where active users, findings and checks are read from at each scrape (replacing any
    /// attached before).
    pub fn attach(&self, sources: Sources) {
        *self.scraped.0.lock().unwrap_or_else(|e| e.into_inner()) = sources;
    }

    /// Counts one event (the collector calls this for every event it reads).
    pub fn record(&self, event: &Event) {
        match event {
            Event::Step { journey, step, elapsed, ok, .. } => {
                let labels = StepLabels { journey, step, outcome: Outcome::of(*ok) };
                self.steps.get_or_create(&labels).inc();
                self.step_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
            }
            Event::NotApplicable { journey, step, .. } => {
                let labels = StepLabels { journey, step, outcome: Outcome::not_applicable };
                self.steps.get_or_create(&labels).inc();
            }
            Event::Journey { persona, journey, elapsed, ok, .. } => {
                let persona = self.personas.get(*persona).cloned().unwrap_or_else(|| Arc::from("unknown"));
                let outcome = Outcome::of(*ok);
                self.journeys.get_or_create(&JourneyLabels { journey, persona, outcome }).inc();
                let labels = JourneyDurationLabels { journey, outcome };
                self.journey_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
            }
            Event::Error { kind, .. } => {
                self.errors.get_or_create(&ErrorLabels { kind: kind.clone() }).inc();
            }
            Event::Observed { .. } => {}
        }
    }

    /// The exposition, in OpenMetrics text (ending `# EOF`).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String fails only if an encoder does, which ours do not.
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
            text.push_str("# EOF\n");
        }
        text
    }

    /// The total of a counter family's samples in an exposition (`name` without `_total`), for
    /// tests and checks: `None` when no sample has that name.
    pub fn total_in(exposition: &str, name: &str) -> Option<f64> {
        let sample = format!("{name}_total");
        let values = exposition.lines().filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == sample).then(|| value.parse::<f64>().ok()).flatten()
        });
        values.fold(None, |sum, v| Some(sum.unwrap_or(0.0) + v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn events_become_counters_and_histograms_and_sources_are_read_at_scrape() {
        let live = LiveMetrics::new(["casual".to_owned()]);
        let step = |ok| Event::Step {
            persona: 0,
            journey: "chat",
            step: "send",
            elapsed: Duration::from_millis(3),
            ok,
        };
        live.record(&step(true));
        live.record(&step(true));
        live.record(&step(false));
        let journey = Event::Journey {
            persona: 0,
            journey: "chat",
            user: 1,
            elapsed: Duration::from_millis(30),
            ok: true,
            cohort: false,
        };
        live.record(&journey);
        live.record(&Event::Error {
            step: "profile",
            kind: "http_500".into(),
            message: "secret body".into(),
        });
        let text = live.encode();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains(r#"netra_load_steps_total{journey="chat",step="send",outcome="ok"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"netra_load_steps_total{journey="chat",step="send",outcome="failed"} 1"#));
        assert!(
            text.contains(r#"netra_load_journeys_total{journey="chat",persona="casual",outcome="ok"} 1"#)
        );
        assert!(text.contains(r#"netra_load_errors_total{kind="http_500"} 1"#));
        // 3 ms falls in the 4 ms bucket, not the 2 ms one.
        let bucket = |le: &str| {
            format!(
                r#"netra_load_step_duration_seconds_bucket{{le="{le}",journey="chat",step="send",outcome="ok"}} "#
            )
        };
        assert!(text.contains(&(bucket("0.002") + "0")), "{text}");
        assert!(text.contains(&(bucket("0.004") + "2")), "{text}");
        assert!(!text.contains("secret body"), "messages are no label");
        assert!(text.contains("netra_load_active_users 0"), "before the load attaches: 0");

        live.attach(Sources {
            active_users: Some(Arc::new(|| 7)),
            findings: Some(Arc::new(|| vec![("bola", 2), ("list_leak", 0)])),
            checks: Some(Arc::new(|| vec![("responses_scanned".to_owned(), 40)])),
        });
        let text = live.encode();
        assert!(text.contains("netra_load_active_users 7"), "{text}");
        assert!(text.contains(r#"netra_load_findings_total{kind="bola"} 2"#), "{text}");
        assert_eq!(LiveMetrics::total_in(&text, "netra_load_findings"), Some(2.0));
        assert_eq!(LiveMetrics::total_in(&text, "netra_load_checks_exercised"), Some(40.0));
        assert_eq!(LiveMetrics::total_in(&text, "netra_load_journeys"), Some(1.0));
        assert_eq!(LiveMetrics::total_in(&text, "netra_load_nothing"), None);
    }
}
