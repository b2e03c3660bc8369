//! Instance and event ids that are never reused, not even across restarts.
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
}
