//! The figures of one journey, step or persona as reports keep them: counts, percentiles derived
//! from the histogram, and the histogram itself, so that figures can be merged exactly; and the
//! text form of microseconds.

use serde::{Deserialize, Serialize};

use super::{Histogram, Series};

/// Count, failures, percentiles and the histograms themselves. The percentiles and the maximum
/// are over every journey (or step) that ended: completed ones (`histogram`) and failed or cut
/// ones (`incomplete`), so that a target that hangs shows in them; `count` is the completed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub count: u64,
    pub failures: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// The completed journeys' (steps') HDR histogram, V2 + deflate, base64.
    pub histogram: Histogram,
    /// The failed and cut ones' durations (empty in older reports, which did not keep them).
    #[serde(default, skip_serializing_if = "Histogram::is_empty")]
    pub incomplete: Histogram,
    /// Times a step did not apply, and so did not run (an expiry wait with long-lived tokens).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_applicable: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Stats {
    pub fn of(series: &Series) -> Stats {
        let mut s = Stats {
            failures: series.failures,
            histogram: series.histogram.clone(),
            incomplete: series.incomplete.clone(),
            not_applicable: series.not_applicable,
            ..Stats::default()
        };
        s.derive();
        s
    }

    pub fn merge(&mut self, other: &Stats) {
        self.histogram.add(&other.histogram);
        self.incomplete.add(&other.incomplete);
        self.failures += other.failures;
        self.not_applicable += other.not_applicable;
        self.derive();
    }

    /// Every journey (step) that ended, completed or not: what the percentiles are of.
    pub fn ended(&self) -> Histogram {
        let mut all = self.histogram.clone();
        all.add(&self.incomplete);
        all
    }

    fn derive(&mut self) {
        self.count = self.histogram.count();
        let h = &self.ended();
        (self.p50_us, self.p90_us, self.p95_us, self.p99_us) =
            (h.quantile(0.5), h.quantile(0.9), h.quantile(0.95), h.quantile(0.99));
        self.max_us = h.max();
    }
}

/// `1.234ms`-style text for microseconds.
pub fn format_us(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.3}s", us / 1_000_000.0)
    } else if us >= 1000.0 {
        format!("{:.3}ms", us / 1000.0)
    } else {
        format!("{us:.0}µs")
    }
}
