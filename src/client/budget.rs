//! An account's own requests to the backend, counted as they are built: a 429 is a neighbour's
//! doing only when the account's own requests in the [`WINDOW`] were within its limit, whatever
//! the provisioning (a fresh user per journey, or an existing account that carries its bucket
//! from journey to journey).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use http::HeaderMap;

/// How far back an account's own requests count against its limit. Rate limits are stated per
/// minute; a bucket that refills faster is judged the more strictly (fewer 429s read as a
/// neighbour's), never the less.
pub const WINDOW: Duration = Duration::from_secs(60);

/// At most this many of an account's requests are remembered: past it, the account is over any
/// sane burst anyway.
const TRACKED: usize = 256;

/// One account's requests to the backend. Only its own user's task touches it: the lock is never
/// contended.
#[derive(Debug)]
pub struct Budget {
    sent: Mutex<Sent>,
    /// `X-RateLimit-Limit` as the deployment last announced it on a 429 (0: never).
    announced: AtomicU32,
    /// The tokens an existing account's bucket held when this run first used it, from the first
    /// answer that said what remained (`X-RateLimit-Remaining`), plus one (0: not known yet).
    start: AtomicU32,
    /// When this run first used the account.
    first: Instant,
    /// Whether the account existed before this run (its bucket may hold an earlier run's use).
    existing: bool,
}

#[derive(Debug, Default)]
struct Sent {
    /// The latest requests, oldest first.
    times: VecDeque<Instant>,
    /// Every request this run made on the account.
    total: usize,
}

impl Budget {
    pub fn new(existing: bool) -> Budget {
        Budget {
            sent: Mutex::default(),
            announced: AtomicU32::new(0),
            start: AtomicU32::new(0),
            first: Instant::now(),
            existing,
        }
    }

    fn sent(&self) -> std::sync::MutexGuard<'_, Sent> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more request of this account's.
    pub fn spend(&self) {
        let now = Instant::now();
        let mut sent = self.sent();
        if sent.times.len() == TRACKED {
            sent.times.pop_front();
        }
        sent.times.push_back(now);
        sent.total += 1;
    }

    /// Whether an answer that is no refusal can still tell something: an existing account's,
    /// until one says what remained in its bucket (checked before anything else is read, as it
    /// is asked of every answer).
    pub fn reads_remaining(&self) -> bool {
        self.existing && self.start.load(Ordering::Relaxed) == 0
    }

    /// Reads what a backend answer says of the account's bucket: the limit a refusal announces
    /// (`X-RateLimit-Limit`), and for an existing account, on the first answer that says it,
    /// what remained.
    pub fn answered(&self, refused: bool, headers: &HeaderMap) {
        let number = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()?.trim().parse::<u32>().ok());
        if refused && let Some(limit) = number("x-ratelimit-limit") {
            self.announced.store(limit, Ordering::Relaxed);
        }
        // Only an existing account's bucket may hold what an earlier run left in it.
        if self.reads_remaining()
            && let Some(remaining) = number("x-ratelimit-remaining")
        {
            // What remained, and what this run had taken by then (a refused request took none).
            let taken =
                u32::try_from(self.sent().total).unwrap_or(u32::MAX).saturating_sub(u32::from(refused));
            self.start.store(remaining.saturating_add(taken).saturating_add(1), Ordering::Relaxed);
        }
    }

    /// The account's own requests in the [`WINDOW`] up to `now`.
    pub fn spent(&self, now: Instant) -> usize {
        let sent = self.sent();
        sent.times.iter().rev().take_while(|t| now.saturating_duration_since(**t) <= WINDOW).count()
    }

    /// Whether a 429 at `now` can only be someone else's doing: the account's own requests in the
    /// window were within `burst` and the limit the deployment announced, and within what its
    /// bucket held when this run began using it (an existing account whose bucket never said is
    /// judged only once it has been used for a whole window). Gives the requests and the limit
    /// judged by.
    pub fn within(&self, burst: u32, now: Instant) -> Option<(usize, u32)> {
        let announced = match self.announced.load(Ordering::Relaxed) {
            0 => u32::MAX,
            limit => limit,
        };
        let limit = burst.min(announced);
        let spent = self.spent(now);
        // Past the requests remembered, the account is over any limit this can judge.
        let full = self.sent().times.len() == TRACKED && spent == TRACKED;
        let carried_over = match self.start.load(Ordering::Relaxed) {
            _ if !self.existing => false,
            0 => now.saturating_duration_since(self.first) < WINDOW,
            start => self.sent().total > (start - 1) as usize,
        };
        (!full && !carried_over && spent <= limit as usize).then_some((spent, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_neighbours_only_within_the_smaller_limit() {
        let budget = Budget::new(false);
        for _ in 0..5 {
            budget.spend();
        }
        let now = Instant::now();
        assert_eq!(budget.within(20, now), Some((5, 20)));
        assert_eq!(budget.within(4, now), None, "5 requests are over a burst of 4");
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", "3".parse().unwrap());
        budget.answered(true, &headers);
        assert_eq!(budget.within(20, now), None, "the deployment announced 3");
        assert_eq!(budget.spent(now + WINDOW + Duration::from_secs(1)), 0, "older requests fall out");
    }

    #[test]
    fn an_existing_account_is_not_judged_in_its_first_window_and_memory_is_bounded() {
        let budget = Budget::new(true);
        budget.spend();
        assert_eq!(budget.within(20, Instant::now()), None);
        assert_eq!(budget.within(20, Instant::now() + WINDOW), Some((0, 20)));
        for _ in 0..TRACKED * 2 {
            budget.spend();
        }
        assert_eq!(budget.spent(Instant::now()), TRACKED);
    }

    #[test]
    fn an_account_whose_bucket_said_what_remained_is_judged_by_it_at_once() {
        let budget = Budget::new(true);
        budget.spend();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "2".parse().unwrap());
        // Three tokens when the run began: the first request took one, two remained.
        budget.answered(false, &headers);
        headers.insert("x-ratelimit-remaining", "9".parse().unwrap());
        budget.answered(false, &headers);
        budget.spend();
        budget.spend();
        assert_eq!(
            budget.within(20, Instant::now()),
            Some((3, 20)),
            "three of three: a 429 now is not its own"
        );
        budget.spend();
        assert_eq!(
            budget.within(20, Instant::now()),
            None,
            "a fourth request: the bucket may be its own doing"
        );
    }
}
