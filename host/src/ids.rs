//! Instance and event ids that are never reused, not even across restarts, and the layout of
//! an event id (which worker thread the event lives on).
//!
//! Kong caches instance ids; a restarted go-pluginserver counted from 0 again, so Kong's cached
//! ids named *other* instances and requests ran with another route's config (Kong #8370).
//! Each process here starts its counters at a random point of a 2^50 range, leaving room below
//! 2^53 (the largest integer a Lua number holds exactly).

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

/// Bits of an event id that name the worker thread the event lives on.
pub const HOME_BITS: u32 = 13;

/// The most worker threads there can be: an event id keeps its worker's index in its low
/// [`HOME_BITS`] bits.
pub const MAX_WORKERS: usize = 1 << HOME_BITS;

/// The worker an event lives on.
pub fn home_of(event_id: u64) -> usize {
    (event_id & ((1 << HOME_BITS) - 1)) as usize
}

/// The ids of the events of one worker: a never-reused number, and the worker's index in the
/// low [`HOME_BITS`] bits, so that a `Step` arriving at another worker finds the event's home.
pub struct EventIds {
    seq: IdGen,
    home: u64,
}

impl EventIds {
    /// The ids of worker `home`'s events; they stay below 2^53, like every id Kong holds.
    pub fn for_worker(home: usize) -> Self {
        debug_assert!(home < MAX_WORKERS);
        EventIds {
            seq: IdGen::random_below(53 - HOME_BITS),
            home: home as u64,
        }
    }

    /// The next event id.
    pub fn next(&self) -> u64 {
        (self.seq.next() << HOME_BITS) | self.home
    }
}

/// A source of unique ids.
pub struct IdGen {
    next: AtomicU64,
}

impl IdGen {
    /// A generator starting at a random point.
    pub fn random() -> Self {
        Self::random_below(53)
    }

    /// A generator starting at a random point below `2^(bits - 3)`, so that its ids stay
    /// below `2^bits` however many are taken.
    pub fn random_below(bits: u32) -> Self {
        // RandomState is seeded from the OS's randomness; mix in the time for good measure.
        let mut hasher = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        IdGen {
            next: AtomicU64::new(hasher.finish() & ((1 << (bits - 3)) - 1)),
        }
    }

    /// The next id.
    pub fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_fit_a_lua_number() {
        let a = IdGen::random();
        let b = IdGen::random();
        let (x, y) = (a.next(), a.next());
        assert_eq!(y, x + 1);
        assert_ne!(a.next(), b.next());
        assert!(x < (1 << 53));
        assert!(IdGen::random_below(44).next() < (1 << 41));
    }

    #[test]
    fn an_event_id_names_its_worker() {
        let ids = EventIds::for_worker(7);
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert_eq!((home_of(a), home_of(b)), (7, 7));
        assert!(a < (1 << 53));
        assert_eq!(home_of(1 << HOME_BITS), 0);
        assert_eq!(MAX_WORKERS, 8192);
    }
}
