//! The stacks handlers run on, kept for reuse.
//!
//! A stack is an `mmap` with a guard page below it; only the pages a handler touches become
//! resident. Mapping and unmapping one per event would cost two system calls and fresh page
//! faults every time, so finished stacks are kept: up to [`KEEP`] on the workers that serve
//! Kong's connections, [`KEEP_APART`] on the workers started for events of their own, which
//! run one event at a time. When many events end at once (10 000 abandoned events reaped) the
//! surplus goes back to the system, so memory returns to what the steady load needs.
//!
//! Each stack is two memory mappings (the stack and its guard page), and the kernel allows a
//! process `vm.max_map_count` of them (65530 by default): past that, every new stack fails.
//! So the stacks of all workers together are counted against a ceiling ([`Mapped`],
//! `-max-events`) set below what the kernel allows, and at the ceiling the caller makes room
//! (see [`crate::events`]) instead of failing every new event.

use std::{
    cell::RefCell,
    io,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use corosensei::stack::DefaultStack;

/// Finished stacks kept for the next events: more than Kong keeps in flight per worker in
/// ordinary load.
pub const KEEP: usize = 256;

/// Finished stacks kept by a worker started for events that run apart.
pub const KEEP_APART: usize = 4;

/// Memory mappings a process needs besides stacks: its libraries, heap arenas, threads' stacks
/// and plugins' own mappings.
const OTHER_MAPPINGS: usize = 8192;

/// The kernel's default `vm.max_map_count`, when it cannot be read.
const DEFAULT_MAX_MAP_COUNT: usize = 65530;

/// How many handler stacks the kernel lets this process map, by `vm.max_map_count`, beside
/// the stacks of `threads` worker threads.
pub fn stacks_the_kernel_allows(threads: usize) -> usize {
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(DEFAULT_MAX_MAP_COUNT);
    stacks_within(max_map_count, threads)
}

/// Stacks that fit in `max_map_count` mappings beside the process's others and the stacks
/// (each with its guard page) of `threads` worker threads.
fn stacks_within(max_map_count: usize, threads: usize) -> usize {
    (max_map_count.saturating_sub(OTHER_MAPPINGS + 2 * threads) / 2).max(64)
}

/// The stacks mapped by all workers, held to a ceiling.
#[derive(Debug)]
pub struct Mapped {
    count: AtomicUsize,
    max: usize,
}

impl Mapped {
    /// No stack yet; at most `max`.
    pub fn new(max: usize) -> Arc<Mapped> {
        Arc::new(Mapped {
            count: AtomicUsize::new(0),
            max,
        })
    }

    /// Stacks mapped now, running, suspended or kept.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// The ceiling.
    pub fn max(&self) -> usize {
        self.max
    }

    fn reserve(&self) -> bool {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why no stack could be had.
#[derive(Debug, thiserror::Error)]
pub enum NoStack {
    /// All workers together hold the ceiling's worth.
    #[error(
        "{0} handler stacks are mapped, the most allowed (-max-events, set below vm.max_map_count)"
    )]
    Ceiling(usize),
    /// The kernel refused the mapping.
    #[error("no memory for its stack: {0}")]
    Os(io::Error),
}

/// A pool of handler stacks of one size.
pub struct Stacks {
    free: RefCell<Vec<DefaultStack>>,
    size: usize,
    keep: usize,
    mapped: Arc<Mapped>,
}

impl Stacks {
    /// An empty pool of stacks of `size` bytes that keeps up to `keep` finished ones, its
    /// stacks counted in `mapped`.
    pub fn new(size: usize, keep: usize, mapped: Arc<Mapped>) -> Self {
        Stacks {
            free: RefCell::default(),
            size,
            keep,
            mapped,
        }
    }

    /// A stack for a new handler: a kept one, or a new mapping if the ceiling allows.
    pub fn take(&self) -> Result<DefaultStack, NoStack> {
        if let Some(stack) = self.free.borrow_mut().pop() {
            return Ok(stack);
        }
        if !self.mapped.reserve() {
            return Err(NoStack::Ceiling(self.mapped.max()));
        }
        DefaultStack::new(self.size).map_err(|e| {
            self.mapped.release();
            NoStack::Os(e)
        })
    }

    /// Keeps the stack of a finished handler, or unmaps it when enough are kept.
    pub fn give_back(&self, stack: DefaultStack) {
        let mut free = self.free.borrow_mut();
        if free.len() < self.keep {
            free.push(stack);
        } else {
            drop(stack);
            self.mapped.release();
        }
    }

    /// How many stacks are kept.
    pub fn kept(&self) -> usize {
        self.free.borrow().len()
    }
}

impl Drop for Stacks {
    fn drop(&mut self) {
        for _ in self.free.get_mut().drain(..) {
            self.mapped.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_keep_stacks() {
        let mapped = Mapped::new(1000);
        let stacks = Stacks::new(64 * 1024, KEEP, Arc::clone(&mapped));
        let taken: Vec<_> = (0..KEEP + 10).map(|_| stacks.take().unwrap()).collect();
        assert_eq!(mapped.count(), KEEP + 10);
        for stack in taken {
            stacks.give_back(stack);
        }
        assert_eq!(stacks.kept(), KEEP);
        assert_eq!(mapped.count(), KEEP, "the surplus was unmapped");
        let _reused = stacks.take().unwrap();
        assert_eq!(stacks.kept(), KEEP - 1);
        assert_eq!(mapped.count(), KEEP);
    }

    #[test]
    fn the_ceiling_is_shared_and_kept_below_the_kernels_limit() {
        let mapped = Mapped::new(3);
        let a = Stacks::new(64 * 1024, 1, Arc::clone(&mapped));
        let b = Stacks::new(64 * 1024, 1, Arc::clone(&mapped));
        let held = [a.take().unwrap(), a.take().unwrap(), b.take().unwrap()];
        assert!(matches!(b.take(), Err(NoStack::Ceiling(3))));
        let [x, y, z] = held;
        a.give_back(x);
        a.give_back(y);
        assert_eq!(mapped.count(), 2, "a keeps one, unmaps the other");
        let w = b.take().unwrap();
        b.give_back(w);
        b.give_back(z);
        assert_eq!(mapped.count(), 2, "b kept one, unmapped the other");
        drop(a);
        assert_eq!(mapped.count(), 1, "a's kept stack was unmapped with it");
        // Two mappings a stack, and room for the rest of the process.
        let allowed = stacks_within(65530, 4096);
        assert!(2 * allowed + OTHER_MAPPINGS + 2 * 4096 <= 65530);
        assert!(stacks_the_kernel_allows(4096) >= 64);
    }
}
