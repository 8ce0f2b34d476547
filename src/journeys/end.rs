//! The run's end, which every step in flight races ([`super::run_step`]): set once, when the
//! run time is up or the run is interrupted.
//!
//! A step's race reads one flag and registers its task with its own waiter, which a user (or an
//! open-model journey) makes once: the race writes no memory shared with other users. (A
//! `watch::Receiver` per step, as before, cloned the channel's shared counts and registered with
//! its shared notifier under a lock, twice per step, as tokio's `Notify` does for every wait:
//! `bench/ab.sh` in docs/performance.md.)

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;

use futures_util::task::AtomicWaker;

/// Whether the run is over, and who to wake when it ends.
#[derive(Default)]
pub struct RunEnd {
    /// Read at every poll of every step: alone on its cache line, apart from the list (written
    /// whenever a waiter is made) and the `Arc`'s counts.
    over: Flag,
    /// Every waiter made, for [`RunEnd::end`] to wake; those dropped are pruned as it grows.
    waiters: Mutex<Vec<Weak<AtomicWaker>>>,
}

#[derive(Default)]
#[repr(align(128))]
struct Flag(AtomicBool);

/// One task's registration with the [`RunEnd`]: a user's, kept from step to step. It holds one
/// waker: two futures must not await [`RunEnd::over`] with the same waiter at once (a clone is
/// for the same task's next wait).
#[derive(Clone)]
pub struct Waiter(Arc<AtomicWaker>);

impl RunEnd {
    pub fn is_over(&self) -> bool {
        self.over.0.load(Ordering::SeqCst)
    }

    /// Ends the run: every task waiting in [`RunEnd::over`] wakes. Ending it again does nothing.
    pub fn end(&self) {
        if self.over.0.swap(true, Ordering::SeqCst) {
            return;
        }
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        for waiter in waiters.iter().filter_map(Weak::upgrade) {
            waiter.wake();
        }
    }

    /// A waiter for one task (a user, a journey) to race the end with.
    pub fn waiter(&self) -> Waiter {
        let waiter = Arc::new(AtomicWaker::new());
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if waiters.len() == waiters.capacity() {
            // Before it grows: the open model makes a waiter per journey.
            waiters.retain(|w| w.strong_count() > 0);
        }
        waiters.push(Arc::downgrade(&waiter));
        Waiter(waiter)
    }

    /// Resolves when the run is over. `waiter` is this task's own (see [`RunEnd::waiter`]).
    pub async fn over(&self, waiter: &Waiter) {
        poll_fn(|cx| {
            if self.is_over() {
                return Poll::Ready(());
            }
            // Registered, then the flag read again: an end between the two is not missed (`end`
            // sets the flag before it wakes).
            waiter.0.register(cx.waker());
            if self.is_over() { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_waiter_wakes_at_the_end_and_one_made_after_it_does_not_wait() {
        let end = Arc::new(RunEnd::default());
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let end = end.clone();
                let waiter = end.waiter();
                tokio::spawn(async move { end.over(&waiter).await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(tasks.iter().all(|t| !t.is_finished()), "nothing ended yet");
        end.end();
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(5), task).await.expect("woken").unwrap();
        }
        end.over(&end.waiter()).await;
        assert!(end.is_over());
    }

    #[test]
    fn waiters_dropped_are_pruned_as_more_are_made() {
        let end = RunEnd::default();
        for _ in 0..1000 {
            drop(end.waiter());
        }
        let kept = end.waiter();
        assert!(end.waiters.lock().unwrap().len() < 100, "dropped waiters are not kept");
        drop(kept);
    }
}
