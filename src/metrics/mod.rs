//! Latency histograms: microseconds in HDR histograms with fixed bounds (1 µs to 1 hour, 3
//! significant digits), stored whole (V2 + deflate, base64) and merged with `add`. Percentiles
//! are derived only when rendering; they are never averaged. Also the collector that owns a
//! run's measurements, its timeline, and the figures reports keep ([`Stats`], [`ArrivalReport`], [`EndedBy`]);
//! and the live Prometheus exposition of `--metrics-addr` ([`LiveMetrics`], [`MetricsServer`]).
//!
//! A leaf module: it imports nothing else of the crate.

mod collector;
mod counter;
pub mod live;
mod live_server;
mod run;
pub mod service;
mod stats;
pub mod timeline;
pub mod trend;

pub use collector::{Collector, Event, Gauges, Observation, Recorder, Series, Snapshot};
pub use counter::{Counter, Gauge};
pub use live::LiveMetrics;
pub use live_server::MetricsServer;
pub use run::{ArrivalReport, EndedBy};
pub use service::ServiceReport;
pub use stats::{Stats, format_us};
pub use timeline::{Timeline, Window, WindowJourney};
pub use trend::{Trend, TrendOf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

const HIGHEST_US: u64 = 3_600_000_000;

#[derive(Clone, Debug)]
pub struct Histogram(hdrhistogram::Histogram<u64>);

impl Default for Histogram {
    fn default() -> Self {
        Histogram(
            hdrhistogram::Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("constant bounds are valid"),
        )
    }
}

impl Histogram {
    /// Records one value in microseconds; values past the bounds are clamped to them.
    pub fn record(&mut self, micros: u64) {
        self.0.saturating_record(micros.clamp(1, HIGHEST_US));
    }

    /// Merges another histogram (same bounds by construction).
    pub fn add(&mut self, other: &Histogram) {
        self.0.add(&other.0).expect("histograms share bounds");
    }

    /// Empties it, keeping its memory.
    pub fn reset(&mut self) {
        self.0.reset();
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at quantile `q` (0..=1) in microseconds; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.0.is_empty() { 0 } else { self.0.value_at_quantile(q) }
    }

    pub fn max(&self) -> u64 {
        self.0.max()
    }

    /// Counts in buckets whose bounds grow by `factor` from `first` µs: `(upper bound, count)`,
    /// up to the largest value recorded. Empty when nothing was recorded.
    pub fn log_buckets(&self, first: u64, factor: f64) -> Vec<(u64, u64)> {
        if self.0.is_empty() {
            return Vec::new();
        }
        self.0
            .iter_log(first.max(1), factor)
            .map(|v| (v.value_iterated_to(), v.count_since_last_iteration()))
            .collect()
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.to_bytes())
    }

    /// V2 + deflate: a few hundred bytes for a typical run's histogram.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut bytes)
            .expect("serialising into memory cannot fail");
        bytes
    }

    pub fn from_base64(text: &str) -> Result<Histogram, String> {
        let bytes = STANDARD.decode(text.trim()).map_err(|e| format!("histogram is not base64: {e}"))?;
        Histogram::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Histogram, String> {
        let h: hdrhistogram::Histogram<u64> = Deserializer::new()
            .deserialize(&mut &bytes[..])
            .map_err(|e| format!("histogram does not decode: {e:?}"))?;
        let mut fixed = Histogram::default();
        fixed.0.add(&h).map_err(|e| format!("histogram out of bounds: {e:?}"))?;
        Ok(fixed)
    }
}

impl Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Histogram, D::Error> {
        let text = String::deserialize(d)?;
        Histogram::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// A histogram kept compressed (V2 + deflate) until it is needed: what the timeline's windows
/// hold, so that hundreds of them stay small. Serialised as base64 like [`Histogram`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed(Vec<u8>);

impl Packed {
    pub fn pack(h: &Histogram) -> Packed {
        Packed(h.to_bytes())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The histogram; an empty one for an empty packing.
    pub fn unpack(&self) -> Result<Histogram, String> {
        if self.0.is_empty() { Ok(Histogram::default()) } else { Histogram::from_bytes(&self.0) }
    }
}

impl Serialize for Packed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Packed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Packed, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text.trim()).map_err(serde::de::Error::custom)?;
        // Checked now, so that a report that loads has histograms that unpack.
        if !bytes.is_empty() {
            Histogram::from_bytes(&bytes).map_err(serde::de::Error::custom)?;
        }
        Ok(Packed(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_round_trip_and_merge_exactly() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        (1..=1000).for_each(|v| a.record(v * 1000));
        (1..=1000).for_each(|v| b.record(v));
        let back = Histogram::from_base64(&a.to_base64()).unwrap();
        assert_eq!((back.count(), back.quantile(0.5), back.max()), (a.count(), a.quantile(0.5), a.max()));
        a.add(&b);
        assert_eq!(a.count(), 2000);
        // The merged median sits between the two populations, as only a merge can tell.
        assert!(a.quantile(0.5) <= 1001 && a.quantile(0.51) >= 10_000);
        assert!(Histogram::from_base64("not base64!").is_err());
    }
}
