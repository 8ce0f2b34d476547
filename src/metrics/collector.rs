//! One collector owns every statistic of a run. Users never aggregate: each measurement is an
//! [`Event`] sent over an unbounded channel (a send never waits, and no lock is shared by the
//! users), and [`Recorder::finish`] returns the [`Snapshot`].
//!
//! Successful steps and journeys enter their histogram; failed ones (and those cut at the end
//! after waiting on the target) are counted and their durations kept in a second, `incomplete`
//! histogram beside it, so that a hang shows in the latency judged. The collector also watches
//! whether the target kept answering ([`Service`]): the longest gap with no step completed while
//! work was waiting, and windows in which nothing completed although users waited.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::Histogram;
use super::live::LiveMetrics;
use super::service::{SAMPLE, Service, ServiceReport};
use super::timeline::{Closing, Timeline, Window};

/// What the collector reads of the running load (the load engine's counters).
#[derive(Clone)]
pub struct Gauges {
    /// Simulated users started so far (asked at every window's end).
    pub active: Arc<dyn Fn() -> usize + Send + Sync>,
    /// Journeys begun so far.
    pub begun: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// Whether work is waiting on the target now (asked every [`SAMPLE`]).
    pub waiting: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Until every user is started: the timeline's step windows hold only steps begun after it,
    /// so that a trend never compares the ramp's own queue with the steady phase.
    pub ramp: Duration,
}

impl Gauges {
    /// `active` users, none of them waiting: for tests of the collector.
    pub fn fixed(active: usize) -> Gauges {
        Gauges {
            active: Arc::new(move || active),
            begun: Arc::new(|| 0),
            waiting: Arc::new(|| false),
            ramp: Duration::ZERO,
        }
    }
}

/// The timeline's first window width.
const WINDOW: Duration = Duration::from_secs(1);
/// Messages taken from the channel at once.
const BATCH: usize = 256;

/// A measurement. Names are `&'static str`: sending one costs no allocation.
#[derive(Debug)]
pub enum Event {
    Step {
        persona: usize,
        journey: &'static str,
        step: &'static str,
        elapsed: Duration,
        ok: bool,
    },
    /// A step that did not apply to this journey (e.g. an expiry wait with long-lived tokens):
    /// not run, and not the target's doing.
    NotApplicable {
        persona: usize,
        journey: &'static str,
        step: &'static str,
    },
    Journey {
        persona: usize,
        journey: &'static str,
        user: usize,
        elapsed: Duration,
        ok: bool,
        /// A journey whose completions time the cohorts.
        cohort: bool,
    },
    Error {
        /// The step that failed (`""` when no step did).
        step: &'static str,
        /// The failure's kind, as reports count it (`http_500`, `ws_closed`, ...).
        kind: Cow<'static, str>,
        /// Boxed, not a `String`: with the step beside it, this variant stays within the 64
        /// bytes of the others, and every event the channel carries with it.
        message: Box<str>,
    },
    /// A value observed during the run that is not a latency (e.g. the observed rate limit),
    /// with what it was expected to be.
    Observed {
        name: &'static str,
        value: u64,
        expected: Option<u64>,
    },
}

/// Count, minimum, maximum and sum of an observed value, and what it was expected to be.
#[derive(Clone, Copy, Debug, Default)]
pub struct Observation {
    pub count: u64,
    pub min: u64,
    pub max: u64,
    pub sum: u64,
    pub expected: Option<u64>,
}

/// Successful durations, failed ones, and the failure count of one journey or step.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub histogram: Histogram,
    /// The durations of failed (or cut, unanswered) journeys and steps.
    pub incomplete: Histogram,
    pub failures: u64,
    /// Times the step did not apply (and so did not run).
    pub not_applicable: u64,
}

impl Series {
    fn record(&mut self, elapsed: Duration, ok: bool) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if ok {
            self.histogram.record(us);
        } else {
            self.incomplete.record(us);
            self.failures += 1;
        }
    }

    pub fn add(&mut self, other: &Series) {
        self.histogram.add(&other.histogram);
        self.incomplete.add(&other.incomplete);
        self.failures += other.failures;
        self.not_applicable += other.not_applicable;
    }
}

#[derive(Clone, Debug, Default)]
pub struct JourneySeries {
    pub total: Series,
    /// Steps in the order they were first seen (the journey's order).
    pub steps: Vec<(&'static str, Series)>,
}

#[derive(Clone, Debug, Default)]
pub struct ErrorCount {
    pub count: u64,
    pub sample: String,
}

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// By (persona index, journey).
    pub journeys: BTreeMap<(usize, &'static str), JourneySeries>,
    /// By (step, kind): one cause on one step is one row.
    pub errors: BTreeMap<(&'static str, Cow<'static, str>), ErrorCount>,
    /// When each distinct user first completed a cohort journey, in order, since the run's
    /// start.
    pub completions: Vec<Duration>,
    pub observed: BTreeMap<&'static str, Observation>,
    /// The run over time, oldest window first.
    pub windows: Vec<Window>,
    /// Whether the target kept answering: the longest stall.
    pub service: ServiceReport,
}

enum Message {
    Event(Event, Instant),
    /// Two events at once (a journey's last step and the journey): one message instead of two.
    Two(Event, Event, Instant),
    /// The users stopped at this time: work still waiting then waited until then.
    UsersDone(Instant),
    Finish(oneshot::Sender<Snapshot>),
}

/// Cheap to clone; hand one to every user.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Message>,
}

impl Recorder {
    pub fn send(&self, event: Event) {
        self.send_at(event, Instant::now());
    }

    /// `send` for an event that happened at `at` (a time the caller has already read).
    pub fn send_at(&self, event: Event, at: Instant) {
        // After `finish` the collector is gone: late events of stopping users are dropped.
        let _ = self.tx.send(Message::Event(event, at));
    }

    /// `send_at` for two events, in this order.
    pub fn send_two_at(&self, first: Event, second: Event, at: Instant) {
        let _ = self.tx.send(Message::Two(first, second, at));
    }

    /// The users have stopped (the run's end, before the probes finish).
    pub fn users_done(&self) {
        let _ = self.tx.send(Message::UsersDone(Instant::now()));
    }

    /// Stops collecting and returns everything recorded before this call.
    pub async fn finish(&self) -> Snapshot {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Message::Finish(reply)).is_err() {
            return Snapshot::default();
        }
        answer.await.unwrap_or_default()
    }
}

/// Spawns the collector; `started` is the run's start.
pub struct Collector;

impl Collector {
    pub fn spawn(started: Instant, gauges: Gauges) -> Recorder {
        Collector::spawn_live(started, gauges, None)
    }

    /// `spawn`, also counting every event into `live` (`--metrics-addr`).
    pub fn spawn_live(started: Instant, gauges: Gauges, live: Option<Arc<LiveMetrics>>) -> Recorder {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut snap = Snapshot::default();
            let mut timeline = Timeline::new(WINDOW);
            let mut service = Service::default();
            let mut begun_before = 0;
            // When the users stopped: the run's time ends there (the probes finishing after it
            // are no time the target served or failed users).
            let mut users_done: Option<Duration> = None;
            let mut completed_users = HashSet::new();
            let mut tick = tokio::time::interval_at((started + WINDOW).into(), WINDOW);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut sample = tokio::time::interval_at((started + SAMPLE).into(), SAMPLE);
            sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut closing = |service: &mut Service| {
                let begun = (gauges.begun)();
                let closing = Closing {
                    active_users: (gauges.active)(),
                    begun: begun.saturating_sub(begun_before),
                    service: service.close_window(),
                };
                begun_before = begun;
                closing
            };
            let (waiting, ramp) = (gauges.waiting.clone(), gauges.ramp);
            let mut record = |event: Event,
                              at: Instant,
                              snap: &mut Snapshot,
                              timeline: &mut Timeline,
                              service: &mut Service| {
                match &event {
                    Event::Journey { journey, elapsed, ok, .. } => timeline.journey(journey, *elapsed, *ok),
                    Event::Step { journey, step, elapsed, ok, .. } => {
                        let began = at.checked_sub(*elapsed).map(|b| b.saturating_duration_since(started));
                        if began.is_some_and(|b| b >= ramp) {
                            timeline.step(journey, step, *elapsed, *ok);
                        }
                        if *ok {
                            service.step_done(at.saturating_duration_since(started));
                        }
                    }
                    Event::Error { .. } => timeline.error(),
                    _ => {}
                }
                if let Some(live) = &live {
                    live.record(&event);
                }
                apply(snap, event, at, started, &mut completed_users);
            };
            // Messages are taken in batches: one wake-up of this task for many events.
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                tokio::select! {
                    // Events first: a window closes, and work is sampled, after what happened
                    // before them was read (the collector reads far faster than users send).
                    biased;
                    n = rx.recv_many(&mut batch, BATCH) => {
                        if n == 0 {
                            return;
                        }
                        for message in batch.drain(..) {
                            match message {
                                Message::Event(event, at) => {
                                    record(event, at, &mut snap, &mut timeline, &mut service);
                                }
                                Message::Two(first, second, at) => {
                                    record(first, at, &mut snap, &mut timeline, &mut service);
                                    record(second, at, &mut snap, &mut timeline, &mut service);
                                }
                                Message::UsersDone(at) => {
                                    let at = at.saturating_duration_since(started);
                                    service.end(at);
                                    users_done = Some(at);
                                }
                                Message::Finish(reply) => {
                                    // Work still waiting at the end counts to the end.
                                    let end = users_done.unwrap_or_else(|| started.elapsed());
                                    service.end(end);
                                    snap.service = service.report();
                                    snap.windows = timeline.finish(end, closing(&mut service));
                                    let _ = reply.send(snap);
                                    return;
                                }
                            }
                        }
                    }
                    _ = sample.tick(), if users_done.is_none() => service.sample(started.elapsed(), waiting()),
                    _ = tick.tick(), if users_done.is_none() => {
                        timeline.close(started.elapsed(), closing(&mut service));
                        // After coarsening, windows are wider: so are the ticks.
                        if tick.period() != timeline.width() {
                            tick = tokio::time::interval(timeline.width());
                            tick.tick().await;
                        }
                    }
                }
            }
        });
        Recorder { tx }
    }
}

/// The series of `step` in `journey` of `persona`, created in the order steps are first seen.
fn step_series<'a>(
    snap: &'a mut Snapshot,
    persona: usize,
    journey: &'static str,
    step: &'static str,
) -> &'a mut Series {
    let series = &mut snap.journeys.entry((persona, journey)).or_default().steps;
    let at = match series.iter().position(|(name, _)| *name == step) {
        Some(at) => at,
        None => {
            series.push((step, Series::default()));
            series.len() - 1
        }
    };
    &mut series[at].1
}

fn apply(
    snap: &mut Snapshot,
    event: Event,
    at: Instant,
    started: Instant,
    completed_users: &mut HashSet<usize>,
) {
    match event {
        Event::Step { persona, journey, step, elapsed, ok } => {
            step_series(snap, persona, journey, step).record(elapsed, ok);
        }
        Event::NotApplicable { persona, journey, step } => {
            step_series(snap, persona, journey, step).not_applicable += 1;
        }
        Event::Journey { persona, journey, user, elapsed, ok, cohort } => {
            snap.journeys.entry((persona, journey)).or_default().total.record(elapsed, ok);
            if ok && cohort && completed_users.insert(user) {
                snap.completions.push(at.saturating_duration_since(started));
            }
        }
        Event::Observed { name, value, expected } => {
            let o = snap.observed.entry(name).or_default();
            o.expected = o.expected.or(expected);
            o.min = if o.count == 0 { value } else { o.min.min(value) };
            o.max = o.max.max(value);
            o.count += 1;
            o.sum = o.sum.saturating_add(value);
        }
        Event::Error { step, kind, message } => {
            let e = snap.errors.entry((step, kind)).or_default();
            e.count += 1;
            if e.sample.is_empty() {
                e.sample = message.into();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every step sends an event through the channel: an error's details must not make them all
    /// larger (a `String` message beside the step made it 72 bytes).
    #[test]
    fn an_event_is_at_most_64_bytes() {
        assert!(std::mem::size_of::<Event>() <= 64, "{} bytes", std::mem::size_of::<Event>());
    }

    #[tokio::test]
    async fn events_from_many_senders_land_in_one_snapshot() {
        let started = Instant::now();
        let rec = Collector::spawn(started, Gauges::fixed(4));
        let senders: Vec<_> = (0..4)
            .map(|user| {
                let rec = rec.clone();
                tokio::spawn(async move {
                    for i in 0..100u64 {
                        let elapsed = Duration::from_micros(100 + i);
                        rec.send(Event::Step {
                            persona: 0,
                            journey: "j",
                            step: "a",
                            elapsed,
                            ok: i % 10 != 0,
                        });
                    }
                    // Twice each: a user's second completion is no new cohort member.
                    for _ in 0..2 {
                        let elapsed = Duration::from_millis(1);
                        let cohort = true;
                        rec.send(Event::Journey {
                            persona: 0,
                            journey: "j",
                            user,
                            elapsed,
                            ok: true,
                            cohort,
                        });
                    }
                    rec.send(Event::Error {
                        step: "profile",
                        kind: "http_500".into(),
                        message: format!("from {user}").into(),
                    });
                    rec.send(Event::Journey {
                        persona: 0,
                        journey: "other",
                        user: user + 100,
                        elapsed: Duration::from_millis(1),
                        ok: true,
                        cohort: false,
                    });
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        let snap = rec.finish().await;
        let j = &snap.journeys[&(0, "j")];
        assert_eq!((j.steps[0].1.histogram.count(), j.steps[0].1.failures), (360, 40));
        assert_eq!(j.total.histogram.count(), 8);
        assert_eq!(snap.completions.len(), 4, "one completion per distinct user of a cohort journey");
        assert_eq!(snap.errors[&("profile", "http_500".into())].count, 4);
        let counted: u64 = snap.windows.iter().map(|w| w.journeys["j"].count).sum();
        assert_eq!(counted, 8, "every journey is in a window");
        assert_eq!(snap.windows.last().unwrap().active_users, 4);
        rec.send(Event::Error { step: "", kind: "late".into(), message: "".into() });
    }
}
