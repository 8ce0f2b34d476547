//! One collector owns every statistic of a run. Users never aggregate: each measurement is an
//! [`Event`] pushed to its thread's own list (under a lock only the collector shares, for a
//! swap, when it takes the lists every [`DRAIN`]), and [`Recorder::finish`] returns the
//! [`Snapshot`]. No memory is written by every user: one channel for all, as before, had every
//! event's send update its shared positions and wake the collector.
//!
//! Successful steps and journeys enter their histogram; failed ones (and those cut at the end
//! after waiting on the target) are counted and their durations kept in a second, `incomplete`
//! histogram beside it, so that a hang shows in the latency judged. The collector also watches
//! whether the target kept answering ([`Service`]): the longest gap with no step completed while
//! work was waiting, and windows in which nothing completed although users waited.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::Histogram;
use super::counter::{SLOTS, thread_slot};
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
/// How often the collector takes the users' events; also before each sample of the work
/// waiting, each window's end, the users' end and the finish, so that nothing it decides waits
/// on an event not yet taken.
const DRAIN: Duration = Duration::from_millis(10);

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
    /// Two events at once (a journey's last step and the journey): one push instead of two.
    Two(Event, Event, Instant),
}

impl Message {
    fn at(&self) -> Instant {
        match self {
            Message::Event(_, at) | Message::Two(_, _, at) => *at,
        }
    }
}

/// What the collector is told over its channel: seldom, unlike events.
enum Control {
    /// The users stopped at this time: work still waiting then waited until then.
    UsersDone(Instant),
    Finish(oneshot::Sender<Snapshot>),
}

/// The events not yet taken, one list per thread ([`thread_slot`]).
#[derive(Default)]
struct Events {
    slots: [Slot; SLOTS],
    /// Set when the collector ends ([`Taken`]): what is sent after it is dropped.
    closed: AtomicBool,
}

/// One thread's list, alone on its cache line.
#[derive(Default)]
#[repr(align(128))]
struct Slot(Mutex<Vec<Message>>);

impl Events {
    fn push(&self, message: Message) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let slot = &self.slots[thread_slot()];
        slot.0.lock().unwrap_or_else(|e| e.into_inner()).push(message);
    }

    /// Moves every event pushed so far to `into`, oldest first. Each list is swapped with its
    /// empty `spare` under its lock (no copy while a user could wait on it).
    fn take(&self, into: &mut Vec<Message>, spares: &mut [Vec<Message>; SLOTS]) {
        for (slot, spare) in self.slots.iter().zip(spares.iter_mut()) {
            std::mem::swap(&mut *slot.0.lock().unwrap_or_else(|e| e.into_inner()), spare);
            into.append(spare);
        }
        // A user's events are in its thread's order; a user whose task moved to another
        // thread between two of them is put back in order by their times (a stable sort).
        into.sort_by_key(Message::at);
    }
}

/// The collector's hold on the events: closes them when it ends.
struct Taken(Arc<Events>);

impl std::ops::Deref for Taken {
    type Target = Events;
    fn deref(&self) -> &Events {
        &self.0
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
        for slot in &self.slots {
            slot.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

/// Cheap to clone; hand one to every user.
#[derive(Clone)]
pub struct Recorder {
    events: Arc<Events>,
    control: mpsc::UnboundedSender<Control>,
}

impl Recorder {
    pub fn send(&self, event: Event) {
        self.send_at(event, Instant::now());
    }

    /// `send` for an event that happened at `at` (a time the caller has already read).
    pub fn send_at(&self, event: Event, at: Instant) {
        // After `finish`, late events of stopping users are dropped.
        self.events.push(Message::Event(event, at));
    }

    /// `send_at` for two events, in this order.
    pub fn send_two_at(&self, first: Event, second: Event, at: Instant) {
        self.events.push(Message::Two(first, second, at));
    }

    /// The users have stopped (the run's end, before the probes finish).
    pub fn users_done(&self) {
        let _ = self.control.send(Control::UsersDone(Instant::now()));
    }

    /// Stops collecting and returns everything recorded before this call.
    pub async fn finish(&self) -> Snapshot {
        let (reply, answer) = oneshot::channel();
        if self.control.send(Control::Finish(reply)).is_err() {
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
        let (control, mut rx) = mpsc::unbounded_channel();
        let events = Arc::new(Events::default());
        // However the task ends (its finish, every recorder gone, its runtime shut down, even
        // before it ran): events sent after it are dropped, not kept.
        let taken = Taken(events.clone());
        tokio::spawn(async move {
            let events = taken;
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
            let mut drain = tokio::time::interval_at((started + DRAIN).into(), DRAIN);
            drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
            let (mut batch, mut spares) = (Vec::new(), Default::default());
            let mut take = |snap: &mut Snapshot, timeline: &mut Timeline, service: &mut Service| {
                events.take(&mut batch, &mut spares);
                for message in batch.drain(..) {
                    match message {
                        Message::Event(event, at) => record(event, at, snap, timeline, service),
                        Message::Two(first, second, at) => {
                            record(first, at, snap, timeline, service);
                            record(second, at, snap, timeline, service);
                        }
                    }
                }
            };
            loop {
                // Every branch takes the events first: a window closes, and work is sampled,
                // after what happened before them was read.
                tokio::select! {
                    biased;
                    control = rx.recv() => {
                        take(&mut snap, &mut timeline, &mut service);
                        match control {
                            None => return,
                            Some(Control::UsersDone(at)) => {
                                let at = at.saturating_duration_since(started);
                                service.end(at);
                                users_done = Some(at);
                            }
                            Some(Control::Finish(reply)) => {
                                // Events pushed after the take above are dropped: `events`
                                // closes as this task returns.
                                // Work still waiting at the end counts to the end.
                                let end = users_done.unwrap_or_else(|| started.elapsed());
                                service.end(end);
                                snap.service = service.report();
                                snap.windows = timeline.finish(end, closing(&mut service));
                                // In order across takes too (an event read just before a take
                                // may be pushed just after it).
                                snap.completions.sort_unstable();
                                let _ = reply.send(snap);
                                return;
                            }
                        }
                    }
                    _ = drain.tick() => take(&mut snap, &mut timeline, &mut service),
                    _ = sample.tick(), if users_done.is_none() => {
                        take(&mut snap, &mut timeline, &mut service);
                        service.sample(started.elapsed(), waiting());
                    }
                    _ = tick.tick(), if users_done.is_none() => {
                        take(&mut snap, &mut timeline, &mut service);
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
        Recorder { events, control }
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

    /// Every step pushes an event: an error's details must not make them all larger (a `String`
    /// message beside the step made it 72 bytes).
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

    /// A user's two completions sent from two threads (its task moved between them), the later
    /// one first, to the list taken first (or to the same list): the earlier is the cohort's.
    #[tokio::test]
    async fn events_from_two_threads_are_taken_in_the_order_they_happened() {
        let started = Instant::now();
        let rec = Collector::spawn(started, Gauges::fixed(1));
        // Two threads that say their slot, then send a completion at each time they are given.
        let senders = [(); 2].map(|()| {
            let (rec, (to, at), (slot_tx, slot)) =
                (rec.clone(), std::sync::mpsc::channel(), std::sync::mpsc::channel());
            let thread = std::thread::spawn(move || {
                slot_tx.send(thread_slot()).unwrap();
                for at in at {
                    let elapsed = Duration::from_millis(1);
                    rec.send_at(
                        Event::Journey { persona: 0, journey: "j", user: 7, elapsed, ok: true, cohort: true },
                        at,
                    );
                    slot_tx.send(thread_slot()).unwrap();
                }
            });
            (slot.recv().unwrap(), to, slot, thread)
        });
        let (t1, t2) = (started + Duration::from_millis(5), started + Duration::from_millis(9));
        let [x, y] = senders;
        // Lists are taken in slot order. This test's thread blocks meanwhile: the collector (on
        // it) takes nothing between the two sends.
        let (taken_first, taken_last) = if x.0 <= y.0 { (x, y) } else { (y, x) };
        for ((_, to, sent, _), at) in [(&taken_first, t2), (&taken_last, t1)] {
            to.send(at).unwrap();
            sent.recv().unwrap();
        }
        for (_, to, _, thread) in [taken_first, taken_last] {
            drop(to);
            thread.join().unwrap();
        }
        let snap = rec.finish().await;
        assert_eq!(snap.completions, vec![t1 - started], "the earlier completion is the cohort's");
    }

    #[test]
    fn events_sent_after_the_collector_is_gone_are_not_kept() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let rec = runtime.block_on(async { Collector::spawn(Instant::now(), Gauges::fixed(1)) });
        // Its runtime shut down before any finish.
        drop(runtime);
        rec.send(Event::Observed { name: "late", value: 1, expected: None });
        let kept: usize = rec.events.slots.iter().map(|slot| slot.0.lock().unwrap().len()).sum();
        assert_eq!(kept, 0);
    }
}
