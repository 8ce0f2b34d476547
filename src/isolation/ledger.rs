//! Who owns what, in memory that stays bounded however long the run.
//!
//! - **Canaries carry their owner**: a canary's 64 bits are the owner (24 bits), a serial number
//!   (24 bits) and a 16-bit keyed check of both (a key random to this process), so no table of
//!   canaries is kept: any `cnry-` value that passes the check names its owner. Owners past 24
//!   bits (e.g. the open model's millionth journey) go to a small table.
//! - **Ids** (users, threads, connections), which the server chooses, are remembered in two
//!   generations of [`GENERATION`] ids each: when the current one is full, the previous one is
//!   forgotten. The most recent 100 000 to 200 000 ids are always known; an older one leaking
//!   is still caught by the canaries written into what it names (titles, messages, names).

use std::hash::BuildHasher;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use super::Actor;

/// Ids per generation of the id ledger.
pub const GENERATION: usize = 100_000;

const OWNER_BITS: u32 = 24;
const SERIAL_BITS: u32 = 24;
const WIDE: u64 = (1 << OWNER_BITS) - 1;

#[derive(Default)]
pub struct Canaries {
    key: std::collections::hash_map::RandomState,
    serial: AtomicU64,
    /// Owners too large for 24 bits, by serial number.
    wide: DashMap<u64, Actor>,
}

impl Canaries {
    fn check(&self, owner: u64, serial: u64) -> u64 {
        self.key.hash_one((owner, serial)) & 0xFFFF
    }

    /// A fresh canary value owned by `owner`.
    pub fn issue(&self, owner: Actor) -> u64 {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) & ((1 << SERIAL_BITS) - 1);
        let field = if u64::from(owner) < WIDE {
            u64::from(owner)
        } else {
            self.wide.insert(serial, owner);
            WIDE
        };
        (field << (SERIAL_BITS + 16)) | (serial << 16) | self.check(field, serial)
    }

    /// The owner of a canary this process issued; `None` for any other value.
    pub fn owner(&self, value: u64) -> Option<Actor> {
        let (field, serial) = (value >> (SERIAL_BITS + 16), (value >> 16) & ((1 << SERIAL_BITS) - 1));
        if value & 0xFFFF != self.check(field, serial) {
            return None;
        }
        if field == WIDE { self.wide.get(&serial).map(|o| *o) } else { Actor::try_from(field).ok() }
    }

    pub fn issued(&self) -> u64 {
        self.serial.load(Ordering::Relaxed)
    }
}

/// Two generations of id owners.
#[derive(Default)]
pub struct Ids {
    generations: RwLock<[DashMap<u128, Actor>; 2]>,
    recorded: AtomicU64,
}

impl Ids {
    pub fn insert(&self, id: u128, owner: Actor) {
        self.recorded.fetch_add(1, Ordering::Relaxed);
        let full = {
            let g = self.generations.read().unwrap_or_else(|e| e.into_inner());
            g[0].insert(id, owner);
            g[0].len() >= GENERATION
        };
        if full {
            let mut g = self.generations.write().unwrap_or_else(|e| e.into_inner());
            if g[0].len() >= GENERATION {
                g.swap(0, 1);
                g[0] = DashMap::new();
            }
        }
    }

    pub fn owner(&self, id: u128) -> Option<Actor> {
        let g = self.generations.read().unwrap_or_else(|e| e.into_inner());
        g[0].get(&id).or_else(|| g[1].get(&id)).map(|o| *o)
    }

    /// Ids recorded in the whole run.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_name_their_owner_and_nothing_else_passes() {
        let c = Canaries::default();
        let values: Vec<(u64, Actor)> = [0, 1, 4242, WIDE as Actor - 1, WIDE as Actor, Actor::MAX]
            .iter()
            .map(|&o| (c.issue(o), o))
            .collect();
        for (value, owner) in &values {
            assert_eq!(c.owner(*value), Some(*owner));
        }
        // Another process's canaries (another key), and arbitrary values, name no one.
        let other = Canaries::default();
        let foreign = (0..1000).filter(|_| c.owner(other.issue(7)).is_some()).count();
        assert!(foreign < 5, "{foreign} of 1000 foreign canaries passed the check");
        assert_eq!(c.owner(values[0].0 ^ 1), None);
        assert_eq!(c.issued(), 6);
    }

    #[test]
    fn ids_are_remembered_for_at_least_one_generation() {
        let ids = Ids::default();
        for id in 0..(2 * GENERATION as u128 + 10) {
            ids.insert(id, (id % 7) as Actor);
        }
        let last = 2 * GENERATION as u128 + 9;
        assert_eq!(ids.owner(last), Some((last % 7) as Actor));
        assert_eq!(ids.owner(last - GENERATION as u128), Some(((last - GENERATION as u128) % 7) as Actor));
        assert_eq!(ids.owner(0), None, "the oldest generation is forgotten");
        assert_eq!(ids.recorded(), 2 * GENERATION as u64 + 10);
    }
}
