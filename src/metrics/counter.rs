//! What every user writes at every step, kept in one slot per thread: two cores writing to one
//! atomic pass its cache line back and forth at every write; each thread writes to its own slot
//! (its own line), and a read, a few times a second, takes them all. [`Counter`] is the live
//! counts' ([`crate::journeys::Live`]); the collector's event lists are slotted the same way.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// Slots per counter; threads past this many share them (round robin).
pub const SLOTS: usize = 8;

/// One slot, alone on its cache line (128 bytes: adjacent lines are fetched in pairs).
#[derive(Default)]
#[repr(align(128))]
struct Slot(AtomicI64);

#[derive(Default)]
pub struct Counter {
    slots: [Slot; SLOTS],
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.get())
    }
}

/// Threads given a slot so far.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot, given on its first add.
    static SLOT: usize = THREADS.fetch_add(1, Ordering::Relaxed) % SLOTS;
}

/// This thread's slot (given on its first call).
pub fn thread_slot() -> usize {
    SLOT.with(|slot| *slot)
}

impl Counter {
    pub fn add(&self, n: i64) {
        self.slots[thread_slot()].0.fetch_add(n, Ordering::Relaxed);
    }

    /// The sum of every add so far (an add racing the read may or may not be in it).
    pub fn get(&self) -> i64 {
        self.slots.iter().map(|slot| slot.0.load(Ordering::Relaxed)).sum()
    }

    /// [`Counter::get`] for a count that only grows.
    pub fn count(&self) -> u64 {
        self.get().max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn adds_on_many_threads_sum_to_the_total() {
        let counter = Arc::new(Counter::default());
        let threads: Vec<_> = (0..12)
            .map(|t| {
                let counter = counter.clone();
                // Threads add here and take away elsewhere, as a step begun on one worker may
                // end on another.
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.add(if t % 3 == 2 { -1 } else { 2 });
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.get(), 8 * 2000 - 4 * 1000);
        assert_eq!(counter.count(), 12_000);
        counter.add(-20_000);
        assert_eq!((counter.get(), counter.count()), (-8000, 0));
    }
}
