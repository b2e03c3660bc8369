//! The stacks handlers run on, kept for reuse.
//!
//! A stack is an `mmap` with a guard page below it; only the pages a handler touches become
//! resident. Mapping and unmapping one per event would cost two system calls and fresh page
//! faults every time, so finished stacks are kept: up to [`KEEP`] on the workers that serve
//! Kong's connections, [`KEEP_APART`] on the workers started for events of their own, which
//! run one event at a time. When many events end at once (10 000 abandoned events reaped) the
//! surplus goes back to the system, so memory returns to what the steady load needs.

use std::{cell::RefCell, io};

use corosensei::stack::DefaultStack;

/// Finished stacks kept for the next events: more than Kong keeps in flight per worker in
/// ordinary load.
pub const KEEP: usize = 256;

/// Finished stacks kept by a worker started for events that run apart.
pub const KEEP_APART: usize = 4;

/// A pool of handler stacks of one size.
pub struct Stacks {
    free: RefCell<Vec<DefaultStack>>,
    size: usize,
    keep: usize,
}

impl Stacks {
    /// An empty pool of stacks of `size` bytes that keeps up to `keep` finished ones.
    pub fn new(size: usize, keep: usize) -> Self {
        Stacks {
            free: RefCell::default(),
            size,
            keep,
        }
    }

    /// A stack for a new handler: a kept one, or a new mapping.
    pub fn take(&self) -> io::Result<DefaultStack> {
        match self.free.borrow_mut().pop() {
            Some(stack) => Ok(stack),
            None => DefaultStack::new(self.size),
        }
    }

    /// Keeps the stack of a finished handler, or unmaps it when enough are kept.
    pub fn give_back(&self, stack: DefaultStack) {
        let mut free = self.free.borrow_mut();
        if free.len() < self.keep {
            free.push(stack);
        }
    }

    /// How many stacks are kept.
    pub fn kept(&self) -> usize {
        self.free.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_keep_stacks() {
        let stacks = Stacks::new(64 * 1024, KEEP);
        let taken: Vec<_> = (0..KEEP + 10).map(|_| stacks.take().unwrap()).collect();
        for stack in taken {
            stacks.give_back(stack);
        }
        assert_eq!(stacks.kept(), KEEP);
        let _reused = stacks.take().unwrap();
        assert_eq!(stacks.kept(), KEEP - 1);
    }
}
