//! Whether latency grew over a run: a journey's, a step's or an endpoint's quantile at the start
//! of the steady phase against its end, each side from merged window histograms holding at least
//! [`MIN_SAMPLES`] samples, so that a trend is never judged from a handful of journeys.

use serde::{Deserialize, Serialize};

use super::{Histogram, Window};

/// Samples each side of a trend needs (the start and the end of the steady phase).
pub const MIN_SAMPLES: u64 = 20;
/// Complete windows the steady phase needs (10 s, at first) for a trend: in a shorter one the
/// users' first journeys, queued behind the ramp, are still ending, and that is no slowdown.
pub const MIN_WINDOWS: usize = 10;
/// Growth smaller than this is no degradation, whatever its ratio: a 2 ms login that takes 3 ms
/// later is a shared box's noise (measured: clean 12 s runs beside other work), not a server
/// slowing down.
pub const MIN_GROWTH_US: u64 = 5_000;

/// What a trend is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TrendOf {
    Journey,
    Step,
    Endpoint,
}

/// One subject's quantile early and late in the steady phase, with the samples behind each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub of: TrendOf,
    /// The journey, step or endpoint (`GET /api/threads`).
    pub name: String,
    pub quantile: f64,
    pub first_us: u64,
    pub last_us: u64,
    pub first_samples: u64,
    pub last_samples: u64,
    /// Seconds from the run's start: the first side's span and the last side's.
    pub first_s: (f64, f64),
    pub last_s: (f64, f64),
}

impl Trend {
    /// The growth as a ratio (`0.5` = +50 %), `None` from a zero start.
    pub fn change(&self) -> Option<f64> {
        (self.first_us > 0).then(|| self.last_us as f64 / self.first_us as f64 - 1.0)
    }

    /// The growth that counts against a limit: none under [`MIN_GROWTH_US`].
    pub fn judged_change(&self) -> Option<f64> {
        let change = self.change()?;
        Some(if self.last_us.saturating_sub(self.first_us) < MIN_GROWTH_US {
            change.min(0.0)
        } else {
            change
        })
    }

    /// Grew by more than `limit` (a ratio), and by at least [`MIN_GROWTH_US`].
    pub fn degraded(&self, limit: f64) -> bool {
        self.judged_change().is_some_and(|c| c > limit)
    }
}

/// The trend of what `pick` gives of each window (`None`: nothing of it there), over the steady
/// phase's windows. Each side starts as a tenth of the windows and takes more, up to a third,
/// until it holds [`MIN_SAMPLES`]; else the trend cannot be judged, and the error says why.
pub fn over(
    steady: &[Window],
    pick: &dyn Fn(&Window) -> Option<Histogram>,
    of: TrendOf,
    name: &str,
    quantile: f64,
) -> Result<Trend, String> {
    let n = steady.len();
    if n < MIN_WINDOWS {
        let windows = if n == 1 { "window" } else { "windows" };
        return Err(format!("the steady phase has {n} complete {windows}: a trend needs {MIN_WINDOWS}"));
    }
    let (least, most) = (n.div_ceil(10), (n / 3).max(1));
    // Windows are unpacked one at a time, only those a side takes: a long run's steady phase
    // holds hundreds, each ~190 KiB unpacked.
    let side = |order: &mut dyn Iterator<Item = usize>| -> (Histogram, Vec<usize>) {
        let (mut merged, mut taken) = (Histogram::default(), Vec::new());
        for i in order.take(most) {
            if let Some(h) = pick(&steady[i]) {
                merged.add(&h);
            }
            taken.push(i);
            if taken.len() >= least && merged.count() >= MIN_SAMPLES {
                break;
            }
        }
        (merged, taken)
    };
    let (first, first_at) = side(&mut (0..n));
    let (last, last_at) = side(&mut (0..n).rev());
    if first.count() < MIN_SAMPLES || last.count() < MIN_SAMPLES {
        return Err(format!(
            "too few samples: {} at the steady phase's start and {} at its end ({MIN_SAMPLES} each needed)",
            first.count(),
            last.count()
        ));
    }
    let span = |at: &[usize]| {
        let (a, b) = (at.iter().min().copied().unwrap_or(0), at.iter().max().copied().unwrap_or(0));
        (steady[a].start_s, steady[b].start_s + steady[b].width_s)
    };
    Ok(Trend {
        of,
        name: name.to_owned(),
        quantile,
        first_us: first.quantile(quantile),
        last_us: last.quantile(quantile),
        first_samples: first.count(),
        last_samples: last.count(),
        first_s: span(&first_at),
        last_s: span(&last_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(per_window: &[(u64, u64)]) -> Vec<Window> {
        per_window
            .iter()
            .enumerate()
            .map(|(i, &(count, us))| {
                let mut h = Histogram::default();
                (0..count).for_each(|_| h.record(us));
                let mut w = Window { start_s: i as f64, width_s: 1.0, ..Window::default() };
                w.journeys
                    .insert("j".into(), crate::metrics::WindowJourney::of(&h, &Histogram::default(), 0));
                w
            })
            .collect()
    }

    fn pick(w: &Window) -> Option<Histogram> {
        w.journeys.get("j").and_then(|j| j.ended().ok())
    }

    #[test]
    fn each_side_takes_windows_until_it_has_enough_samples() {
        // 10 windows of 8 samples: a tenth (one window) is too few, three are enough.
        let w = windows(&[(8, 10_000); 5].into_iter().chain([(8, 30_000); 5]).collect::<Vec<_>>());
        let t = over(&w, &pick, TrendOf::Journey, "j", 0.5).unwrap();
        assert_eq!((t.first_samples, t.last_samples), (24, 24));
        assert_eq!((t.first_s, t.last_s), ((0.0, 3.0), (7.0, 10.0)));
        assert!(t.degraded(0.5) && (t.change().unwrap() - 2.0).abs() < 0.01, "{t:?}");
        // A third of the windows is the most a side takes.
        let few = windows(&[(2, 1_000); 12]);
        let why = over(&few, &pick, TrendOf::Journey, "j", 0.5).unwrap_err();
        assert!(why.contains("too few samples: 8") && why.contains("20 each"), "{why}");
        let short = over(&few[..9], &pick, TrendOf::Journey, "j", 0.5).unwrap_err();
        assert!(short.contains("9 complete windows: a trend needs 10"), "{short}");
    }

    #[test]
    fn growth_under_a_millisecond_is_no_degradation() {
        let w = windows(&[(30, 200); 5].into_iter().chain([(30, 400); 5]).collect::<Vec<_>>());
        let t = over(&w, &pick, TrendOf::Step, "j", 0.5).unwrap();
        assert!(t.change().unwrap() > 0.9 && !t.degraded(0.5), "{t:?}");
    }
}
