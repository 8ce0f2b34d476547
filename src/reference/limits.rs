//! Per-user token buckets and daily message quotas.
//!
//! A bucket holds at most `burst` tokens and refills at the configured rate; each `/api/*`
//! request takes one. Headers: `X-RateLimit-Limit` is the bucket's capacity (the burst),
//! `X-RateLimit-Remaining` the whole tokens left after this request, `X-RateLimit-Reset` the epoch
//! second at which the bucket is full again; a refusal adds `Retry-After`, the whole seconds until
//! one token is back.

use std::time::Instant;

use super::config::Rate;
use super::tokens::now_secs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanTier {
    Free,
    Pro,
    Enterprise,
}

impl PlanTier {
    /// Chat messages a day; `None` is unlimited.
    pub fn daily_limit(self) -> Option<u32> {
        match self {
            PlanTier::Free => Some(10),
            PlanTier::Pro => Some(1000),
            PlanTier::Enterprise => None,
        }
    }

    pub fn permissions(self) -> Vec<String> {
        let mut p = vec!["read".to_owned(), "write".to_owned()];
        if self == PlanTier::Enterprise {
            p.push("admin".to_owned());
        }
        p
    }
}

/// The outcome of one request against a bucket, with what the headers need.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds at which the bucket is full again.
    pub reset: u64,
    /// Whole seconds until a token is available (only meaningful when refused).
    pub retry_after: u64,
}

#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn full(burst: u32) -> Bucket {
        Bucket { tokens: f64::from(burst), last: Instant::now() }
    }

    pub fn take(&mut self, rate: Rate, burst: u32, now: Instant) -> Decision {
        let per_sec = rate.per_second();
        let capacity = f64::from(burst);
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_sec).min(capacity);
        self.last = now;
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        let to_full = ((capacity - self.tokens) / per_sec).ceil() as u64;
        let retry_after = if allowed { 0 } else { ((1.0 - self.tokens) / per_sec).ceil().max(1.0) as u64 };
        Decision {
            allowed,
            limit: burst,
            remaining: self.tokens.floor() as u32,
            reset: now_secs() + to_full,
            retry_after,
        }
    }
}

/// Chat messages used today. The day is the UTC day number; a new day starts from zero.
#[derive(Debug, Default)]
pub struct Quota {
    day: u64,
    used: u32,
}

impl Quota {
    fn roll(&mut self) {
        let today = now_secs() / 86_400;
        if self.day != today {
            self.day = today;
            self.used = 0;
        }
    }

    pub fn used(&mut self) -> u32 {
        self.roll();
        self.used
    }

    /// The `lost-usage` fault's write: the count as read before, plus one (a lost update when
    /// another message was counted meanwhile).
    pub fn set_used(&mut self, read: u32) {
        self.roll();
        self.used = read + 1;
    }

    /// Counts one message if the tier allows it; `false` means quota exceeded.
    pub fn try_use(&mut self, tier: PlanTier) -> bool {
        self.roll();
        match tier.daily_limit() {
            Some(limit) if self.used >= limit => false,
            _ => {
                self.used += 1;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_the_burst_then_refills_at_the_rate() {
        let rate = Rate { count: 60, per: Duration::from_secs(60) };
        let start = Instant::now();
        let mut bucket = Bucket { tokens: 3.0, last: start };
        let taken: Vec<_> = (0..4).map(|_| bucket.take(rate, 3, start)).collect();
        assert_eq!(taken.iter().filter(|d| d.allowed).count(), 3);
        assert_eq!(taken[0].remaining, 2);
        let refused = taken[3];
        assert_eq!((refused.remaining, refused.retry_after, refused.limit), (0, 1, 3));
        assert!(bucket.take(rate, 3, start + Duration::from_millis(1010)).allowed);
        assert!(!bucket.take(rate, 3, start + Duration::from_millis(1020)).allowed);
    }

    #[test]
    fn quota_refuses_the_eleventh_free_message_only() {
        let mut q = Quota::default();
        assert!((0..10).all(|_| q.try_use(PlanTier::Free)));
        assert!(!q.try_use(PlanTier::Free));
        assert_eq!(q.used(), 10);
        let mut q = Quota::default();
        assert!((0..2000).all(|_| q.try_use(PlanTier::Enterprise)));
    }
}
