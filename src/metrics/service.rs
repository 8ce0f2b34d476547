//! Whether the target kept answering: the collector samples whether work is waiting on the
//! target (every [`SAMPLE`]) and sees every step that completes. A *stall* is a stretch with work
//! waiting and no step completed; a window of the timeline is *unavailable* when work waited
//! through all of it and no step completed in it. Back-off after failures counts as waiting, and
//! waits on purpose (a token's expiry, `Retry-After`) do not: an outage cannot hide behind the
//! users' patience, and the tool's own waits are never the target's.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the collector asks whether work is waiting.
pub const SAMPLE: Duration = Duration::from_millis(100);

/// The run's service figures (`report.json` `service`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    /// The longest stretch with work waiting and no step completed, in microseconds.
    pub stall_max_us: u64,
    /// When it ended, in seconds from the run's start.
    pub stall_at_s: f64,
}

/// The watch kept while the run goes on.
#[derive(Debug, Default)]
pub struct Service {
    /// Since when (from the run's start) no step completed while work kept waiting.
    gap_from: Duration,
    report: ServiceReport,
    /// Steps completed in the open window.
    steps_ok: u64,
    /// Whether a sample in the open window found nothing waiting.
    idle_seen: bool,
    /// Whether the open window was sampled at all.
    sampled: bool,
    /// Whether the last sample found work waiting.
    last_waiting: bool,
}

/// What one closed window held.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WindowService {
    pub steps_ok: u64,
    /// Work waited through the whole window and nothing completed.
    pub unavailable: bool,
}

impl Service {
    /// A step completed `at` after the run's start.
    pub fn step_done(&mut self, at: Duration) {
        self.gap(at);
        self.gap_from = self.gap_from.max(at);
        self.steps_ok += 1;
    }

    /// A sample `at` after the run's start: is work waiting on the target? A stall is measured
    /// when it ends (a step completes, nothing waits, the run ends), by the times the events
    /// carry: a step the collector has not read yet cannot lengthen one.
    pub fn sample(&mut self, at: Duration, waiting: bool) {
        self.sampled = true;
        self.last_waiting = waiting;
        if !waiting {
            self.idle_seen = true;
            self.gap(at);
            self.gap_from = self.gap_from.max(at);
        }
    }

    /// The users stopped `at` after the run's start: work waiting at the last sample waited
    /// until then (and what comes after, the probes finishing, is no stall).
    pub fn end(&mut self, at: Duration) {
        if self.last_waiting {
            self.gap(at);
        }
        self.gap_from = self.gap_from.max(at);
        self.last_waiting = false;
    }

    fn gap(&mut self, at: Duration) {
        let gap = at.saturating_sub(self.gap_from);
        let us = u64::try_from(gap.as_micros()).unwrap_or(u64::MAX);
        if us > self.report.stall_max_us {
            self.report.stall_max_us = us;
            self.report.stall_at_s = at.as_secs_f64();
        }
    }

    /// Closes the open window.
    pub fn close_window(&mut self) -> WindowService {
        let unavailable = self.sampled && !self.idle_seen && self.steps_ok == 0;
        let closed = WindowService { steps_ok: self.steps_ok, unavailable };
        (self.steps_ok, self.idle_seen, self.sampled) = (0, false, false);
        closed
    }

    pub fn report(&self) -> ServiceReport {
        self.report.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_stall_is_work_waiting_with_nothing_completed_and_idle_time_is_none() {
        let mut s = Service::default();
        s.sample(ms(100), true);
        s.step_done(ms(150));
        assert_eq!(s.close_window(), WindowService { steps_ok: 1, unavailable: false });
        // Work waits from 150 ms to 2.5 s with nothing completed: a stall of 2.35 s, and the
        // window with only waiting samples is unavailable.
        for t in (200..=1000).step_by(100) {
            s.sample(ms(t), true);
        }
        assert_eq!(s.close_window(), WindowService { steps_ok: 0, unavailable: true });
        s.sample(ms(1100), true);
        assert_eq!(s.report().stall_max_us, 150_000, "a stall counts once it ends");
        s.step_done(ms(2500));
        assert_eq!((s.report().stall_max_us, s.report().stall_at_s), (2_350_000, 2.5));
        assert!(!s.close_window().unavailable);
        // Nothing waiting (users between journeys, or waiting on purpose): no stall, however long.
        for t in (2600..=9000).step_by(100) {
            s.sample(ms(t), false);
        }
        s.sample(ms(9100), true);
        s.step_done(ms(9200));
        assert_eq!(s.report().stall_max_us, 2_350_000);
        assert!(!s.close_window().unavailable, "a window with idle samples is not an outage");
        assert!(!s.close_window().unavailable, "an unsampled window says nothing");
        // Still waiting when the run ends: the stall lasts until then, and no longer.
        s.sample(ms(9300), true);
        s.end(ms(12_000));
        assert_eq!(s.report().stall_max_us, 2_800_000);
        s.sample(ms(13_000), false);
        assert_eq!(s.report().stall_max_us, 2_800_000);
    }
}
