//! The figures of one journey, step or persona as reports keep them: counts, percentiles derived
//! from the histogram, and the histogram itself, so that figures can be merged exactly; and the
//! text form of microseconds.

use serde::{Deserialize, Serialize};

use super::{Histogram, Series};

/// Count, failures, percentiles (derived from the histogram) and the histogram itself.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub count: u64,
    pub failures: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// The whole HDR histogram, V2 + deflate, base64.
    pub histogram: Histogram,
}

impl Stats {
    pub fn of(series: &Series) -> Stats {
        let mut s =
            Stats { failures: series.failures, histogram: series.histogram.clone(), ..Stats::default() };
        s.derive();
        s
    }

    pub fn merge(&mut self, other: &Stats) {
        self.histogram.add(&other.histogram);
        self.failures += other.failures;
        self.derive();
    }

    fn derive(&mut self) {
        let h = &self.histogram;
        self.count = h.count();
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
