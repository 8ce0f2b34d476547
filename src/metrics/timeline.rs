//! The run over time: fixed windows (1 s to start with) of journeys begun, completed and failed
//! per journey, steps completed, whether the target was unavailable ([`super::service`]), errors
//! and active users, each window's journey and step latencies kept as small packed
//! histograms, so that windows can be merged exactly (across segments, or two by two), and
//! latency over time can be judged per step (and so per endpoint: `report::trend`).
//!
//! Memory is bounded: past [`MAX_WINDOWS`] windows, neighbours are merged two by two and the
//! window width doubles. Only the open window holds full histograms.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Histogram, Packed};

/// The most windows a timeline keeps.
pub const MAX_WINDOWS: usize = 600;

/// One journey in one window. Its percentiles are over every journey that ended in it, failed
/// and cut ones included (a hang shows in the window it ended in).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WindowJourney {
    pub count: u64,
    pub failures: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// The successful journeys' durations.
    pub histogram: Packed,
    /// The failed and cut journeys' durations (empty in older reports).
    #[serde(default, skip_serializing_if = "Packed::is_empty")]
    pub incomplete: Packed,
}

impl WindowJourney {
    /// Every journey that ended in the window, completed or not.
    pub fn ended(&self) -> Result<Histogram, String> {
        let mut all = self.histogram.unpack()?;
        all.add(&self.incomplete.unpack()?);
        Ok(all)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Window {
    /// Seconds from the run's start.
    pub start_s: f64,
    pub width_s: f64,
    /// Simulated users started by the window's end.
    pub active_users: usize,
    /// Journeys begun in the window (attempts: after failures, users back off, and so begin
    /// fewer).
    #[serde(default)]
    pub begun: u64,
    /// Steps completed successfully in the window.
    #[serde(default)]
    pub steps_ok: u64,
    /// Seconds of the window in which work waited on the target and nothing completed (the whole
    /// width of a 1 s window, or none; coarser windows add theirs up).
    #[serde(default)]
    pub unavailable_s: f64,
    pub errors: u64,
    pub journeys: BTreeMap<String, WindowJourney>,
    /// Per journey, its steps that ended in the window (empty in older reports).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub steps: BTreeMap<String, BTreeMap<String, WindowJourney>>,
}

impl Window {
    /// Adds `other` (the same span of another segment, or the next window when coarsening).
    pub fn absorb(&mut self, other: &Window) -> Result<(), String> {
        self.active_users = self.active_users.max(other.active_users);
        self.errors += other.errors;
        self.begun += other.begun;
        self.steps_ok += other.steps_ok;
        self.unavailable_s += other.unavailable_s;
        for (name, theirs) in &other.journeys {
            self.journeys.entry(name.clone()).or_default().absorb(theirs)?;
        }
        for (journey, steps) in &other.steps {
            let mine = self.steps.entry(journey.clone()).or_default();
            for (step, theirs) in steps {
                mine.entry(step.clone()).or_default().absorb(theirs)?;
            }
        }
        Ok(())
    }
}

impl WindowJourney {
    fn absorb(&mut self, theirs: &WindowJourney) -> Result<(), String> {
        let (mut ok, mut failed) = (self.histogram.unpack()?, self.incomplete.unpack()?);
        ok.add(&theirs.histogram.unpack()?);
        failed.add(&theirs.incomplete.unpack()?);
        *self = WindowJourney::of(&ok, &failed, self.failures + theirs.failures);
        Ok(())
    }

    /// From the completed journeys' histogram and the failed ones'.
    pub fn of(ok: &Histogram, failed: &Histogram, failures: u64) -> WindowJourney {
        let mut all = ok.clone();
        all.add(failed);
        WindowJourney {
            count: ok.count(),
            failures,
            p50_us: all.quantile(0.5),
            p99_us: all.quantile(0.99),
            histogram: Packed::pack(ok),
            incomplete: if failed.is_empty() { Packed::default() } else { Packed::pack(failed) },
        }
    }
}

/// The windows of a run, with the one being filled.
#[derive(Debug)]
pub struct Timeline {
    width: Duration,
    closed: Vec<Window>,
    /// Per journey: the completed ones' durations, the failed ones', and how many failed.
    open: BTreeMap<&'static str, Open>,
    /// The same per (journey, step). Kept from window to window and reset when packed: a
    /// histogram is ~190 KiB to allocate, and a run's steps are few.
    open_steps: BTreeMap<(&'static str, &'static str), Open>,
    errors: u64,
}

/// A series being filled: the completed ones' durations, the failed ones', how many failed.
type Open = (Histogram, Histogram, u64);

fn record((completed, failed, failures): &mut Open, elapsed: Duration, ok: bool) {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if ok {
        completed.record(us);
    } else {
        failed.record(us);
        *failures += 1;
    }
}

/// What the collector knows of a window when it closes, besides the journeys.
#[derive(Clone, Copy, Debug, Default)]
pub struct Closing {
    pub active_users: usize,
    /// Journeys begun in the window.
    pub begun: u64,
    pub service: super::service::WindowService,
}

impl Timeline {
    pub fn new(width: Duration) -> Timeline {
        Timeline { width, closed: Vec::new(), open: BTreeMap::new(), open_steps: BTreeMap::new(), errors: 0 }
    }

    pub fn width(&self) -> Duration {
        self.width
    }

    pub fn journey(&mut self, journey: &'static str, elapsed: Duration, ok: bool) {
        record(self.open.entry(journey).or_default(), elapsed, ok);
    }

    pub fn step(&mut self, journey: &'static str, step: &'static str, elapsed: Duration, ok: bool) {
        record(self.open_steps.entry((journey, step)).or_default(), elapsed, ok);
    }

    pub fn error(&mut self) {
        self.errors += 1;
    }

    /// Closes the open window, which ended `end` after the run's start.
    pub fn close(&mut self, end: Duration, closing: Closing) {
        let width = self.width.as_secs_f64();
        let start = self.closed.last().map_or(0.0, |w| w.start_s + w.width_s);
        let journeys = std::mem::take(&mut self.open)
            .into_iter()
            .map(|(name, (ok, failed, failures))| {
                (name.to_owned(), WindowJourney::of(&ok, &failed, failures))
            })
            .collect();
        let mut steps: BTreeMap<String, BTreeMap<String, WindowJourney>> = BTreeMap::new();
        for ((journey, step), (ok, failed, failures)) in &mut self.open_steps {
            if *failures == 0 && ok.is_empty() {
                continue;
            }
            let series = WindowJourney::of(ok, failed, *failures);
            steps.entry((*journey).to_owned()).or_default().insert((*step).to_owned(), series);
            ok.reset();
            failed.reset();
            *failures = 0;
        }
        // The last window of a run is usually shorter.
        let width_s = (end.as_secs_f64() - start).clamp(0.0, width);
        let errors = std::mem::take(&mut self.errors);
        let Closing { active_users, begun, service } = closing;
        let unavailable_s = if service.unavailable { width_s } else { 0.0 };
        let steps_ok = service.steps_ok;
        self.closed.push(Window {
            start_s: start,
            width_s,
            active_users,
            begun,
            steps_ok,
            unavailable_s,
            errors,
            journeys,
            steps,
        });
        if self.closed.len() > MAX_WINDOWS {
            self.coarsen();
        }
    }

    /// Merges windows two by two; the width doubles.
    fn coarsen(&mut self) {
        let old = std::mem::take(&mut self.closed);
        for pair in old.chunks(2) {
            let mut w = pair[0].clone();
            if let Some(next) = pair.get(1) {
                // Packed histograms made by this process always unpack.
                let _ = w.absorb(next);
                w.width_s += next.width_s;
            }
            self.closed.push(w);
        }
        self.width *= 2;
    }

    pub fn finish(mut self, end: Duration, closing: Closing) -> Vec<Window> {
        let start = self.closed.last().map_or(0.0, |w| w.start_s + w.width_s);
        let steps_open = self.open_steps.values().any(|(ok, _, failures)| *failures > 0 || !ok.is_empty());
        if end.as_secs_f64() > start + 1e-3 || !self.open.is_empty() || steps_open {
            self.close(end, closing);
        }
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(active_users: usize) -> Closing {
        Closing { active_users, ..Closing::default() }
    }

    #[test]
    fn windows_count_what_happened_in_them_and_stay_bounded() {
        let mut t = Timeline::new(Duration::from_secs(1));
        t.journey("j", Duration::from_millis(10), true);
        t.journey("j", Duration::from_millis(30), false);
        t.error();
        let service = super::super::service::WindowService { steps_ok: 0, unavailable: true };
        t.close(Duration::from_secs(1), Closing { active_users: 5, begun: 2, service });
        t.journey("j", Duration::from_millis(20), true);
        let windows = t.finish(Duration::from_millis(1500), users(7));
        assert_eq!(windows.len(), 2);
        let (first, last) = (&windows[0], &windows[1]);
        assert_eq!((first.journeys["j"].count, first.journeys["j"].failures, first.errors), (1, 1, 1));
        assert!((last.start_s, last.width_s, last.active_users) == (1.0, 0.5, 7));
        assert_eq!((first.begun, first.unavailable_s, last.unavailable_s), (2, 1.0, 0.0));
        assert!(last.journeys["j"].p50_us >= 19_900 && last.journeys["j"].p50_us <= 20_100);

        let mut t = Timeline::new(Duration::from_secs(1));
        for s in 1..=(MAX_WINDOWS as u64 + 1) {
            t.journey("j", Duration::from_millis(s), true);
            t.close(Duration::from_secs(s), users(1));
        }
        assert_eq!(t.width(), Duration::from_secs(2));
        let windows = t.finish(Duration::from_secs(MAX_WINDOWS as u64 + 1), users(1));
        assert_eq!(windows.len(), MAX_WINDOWS / 2 + 1);
        let total: u64 = windows.iter().map(|w| w.journeys["j"].count).sum();
        assert_eq!(total, MAX_WINDOWS as u64 + 1, "coarsening loses nothing");
        assert_eq!((windows[1].start_s, windows[1].width_s), (2.0, 2.0));
    }
}
