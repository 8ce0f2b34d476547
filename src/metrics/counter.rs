//! What every user writes at every step, kept in one slot per thread: two cores writing to one
//! atomic pass its cache line back and forth at every write; each thread writes to its own slot
//! (its own line), and a read, a few times a second, takes them all. [`Counter`] and [`Gauge`]
//! are the live counts' ([`crate::journeys::Live`]); the collector's event lists are slotted the
//! same way.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Slots per counter; threads past this many share them (round robin).
pub const SLOTS: usize = 8;

/// One slot, alone on its cache line (128 bytes: adjacent lines are fetched in pairs).
#[derive(Default)]
#[repr(align(128))]
struct Slot(AtomicU64);

/// A count that only grows.
#[derive(Default)]
pub struct Counter {
    slots: [Slot; SLOTS],
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.count())
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
    pub fn incr(&self) {
        // Release: whoever reads this sees what its thread did before (see `Gauge::any`).
        self.slots[thread_slot()].0.fetch_add(1, Ordering::AcqRel);
    }

    /// Every increment so far (one racing the read may or may not be in it: the slots are read
    /// one after another, so this is no snapshot).
    pub fn count(&self) -> u64 {
        self.slots.iter().map(|slot| slot.0.load(Ordering::Acquire)).sum()
    }
}

/// Work in flight, counted in and out on many threads. One counter added to and taken from
/// could read 0 while work was in flight the whole time (one unit's in read before it came,
/// another's out read after it went); two counts that only grow, the outs read first, cannot.
#[derive(Debug, Default)]
pub struct Gauge {
    ins: Counter,
    outs: Counter,
}

impl Gauge {
    pub fn enter(&self) {
        self.ins.incr();
    }

    pub fn leave(&self) {
        self.outs.incr();
    }

    /// Whether anything was in flight during the read: true if something was throughout it,
    /// and false if nothing was at any moment of it.
    pub fn any(&self) -> bool {
        // Every out read has its in before it (an out follows its in, and is read with
        // Acquire): the ins read after them are at least those, and at least the ins of
        // everything in flight when the outs' reading ended.
        let outs = self.outs.count();
        self.ins.count() > outs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn increments_on_many_threads_add_up() {
        let counter = Arc::new(Counter::default());
        // More threads than slots: some share one.
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| counter.incr()))
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.count(), 12_000);
    }

    #[test]
    fn a_gauge_counts_work_entered_on_one_thread_and_left_on_another() {
        let gauge = Gauge::default();
        assert!(!gauge.any());
        // Entered on one thread, left on another (a step that moved between workers), with
        // another unit in flight meanwhile.
        std::thread::scope(|s| s.spawn(|| gauge.enter()).join().unwrap());
        gauge.enter();
        assert!(gauge.any());
        std::thread::scope(|s| s.spawn(|| gauge.leave()).join().unwrap());
        assert!(gauge.any(), "one still in flight");
        gauge.leave();
        assert!(!gauge.any());
    }
}
