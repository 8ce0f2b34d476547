//! Deadlines of the requests in flight, looked at by the client's one task every [`TICK`]
//! ([`Watch::expire`], from `wire.rs`'s watcher, which also closes idle connections): arming and
//! disarming a deadline are two atomic stores, where a tokio timer per request is inserted into
//! and removed from the timer wheel under its lock (measured: ~5 % of the CPU per request at two
//! threads, docs/performance.md). A request past its deadline has its connection's task aborted,
//! which fails the request at once; the connection is gone with it.
//!
//! A deadline fires between its time and its time plus a tick (later only if the runtime is so
//! busy that the watcher itself is late), never before.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

pub const TICK: Duration = Duration::from_millis(20);

const DISARMED: u64 = u64::MAX;

/// The deadlines of one client's connections.
pub struct Watch {
    epoch: Instant,
    deadlines: Mutex<Vec<Weak<Deadline>>>,
}

/// A time in the watch's own measure.
#[derive(Clone, Copy)]
pub struct Due(u64);

/// One connection's deadline.
pub struct Deadline {
    /// Microseconds since the watch's epoch; `DISARMED` when nothing is in flight.
    at_us: AtomicU64,
    expired: AtomicBool,
    task: AbortHandle,
}

impl Watch {
    pub fn new() -> Watch {
        Watch { epoch: Instant::now(), deadlines: Mutex::default() }
    }

    /// Watches the connection whose task is `task`.
    pub fn watch(&self, task: AbortHandle) -> Arc<Deadline> {
        let deadline =
            Arc::new(Deadline { at_us: AtomicU64::new(DISARMED), expired: AtomicBool::new(false), task });
        self.deadlines.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&deadline));
        deadline
    }

    /// Aborts the connections past their deadline and forgets the closed ones (every tick).
    pub fn expire(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(DISARMED);
        let mut deadlines = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
        deadlines.retain(|d| {
            let Some(d) = d.upgrade() else { return false };
            if d.at_us.load(Ordering::Relaxed) <= now {
                d.expired.store(true, Ordering::SeqCst);
                d.task.abort();
                return false;
            }
            true
        });
    }

    /// The time `timeout` from now: read once per request, for each connection it is armed on.
    pub fn due_in(&self, timeout: Duration) -> Due {
        let at = self.epoch.elapsed().saturating_add(timeout);
        Due(u64::try_from(at.as_micros()).unwrap_or(DISARMED))
    }

    /// What is left until `due`; none once it has passed.
    pub fn left(&self, due: Due) -> Option<Duration> {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(DISARMED);
        (now < due.0).then(|| Duration::from_micros(due.0 - now))
    }
}

impl Deadline {
    /// What is in flight on this connection must be done by `due`.
    pub fn arm(&self, due: Due) {
        self.at_us.store(due.0, Ordering::Relaxed);
    }

    pub fn disarm(&self) {
        self.at_us.store(DISARMED, Ordering::Relaxed);
    }

    /// Whether the connection was aborted for being past its deadline.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst)
    }
}
