//! One budget of buffered request bytes for all connections together, so that many clients
//! each holding a partial request cannot take the server's memory between them: each one is
//! also held to the per-request limit (see [`crate::wire::msgpack::frame::Limits`]), but that alone lets N
//! connections hold N times it.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// Bytes a buffer keeps allocated once it is empty; a bigger allocation, left by one large
/// request, goes back to the allocator.
const KEEP_CAPACITY: usize = 64 * 1024;

/// The bytes all connections may hold unprocessed at once.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    limit: usize,
}

/// A buffer would take the server past its budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "its {wanted} buffered bytes would take all connections past the budget of {limit} bytes \
     ({used} held by the others; -max-buffered-bytes)"
)]
pub struct OverBudget {
    /// What this buffer holds.
    pub wanted: usize,
    /// What the other buffers hold.
    pub used: usize,
    /// The budget.
    pub limit: usize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// Bytes held now by every buffer.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A connection's unprocessed bytes, counted against the budget.
#[derive(Debug)]
pub struct Buffer {
    /// The bytes; call [`Buffer::account`] after changing them.
    pub bytes: Vec<u8>,
    held: usize,
    budget: Arc<Budget>,
}

impl Buffer {
    /// An empty buffer counted against `budget`.
    pub fn new(budget: Arc<Budget>) -> Buffer {
        Buffer {
            bytes: Vec::with_capacity(4096),
            held: 0,
            budget,
        }
    }

    /// An empty buffer counted against the same budget.
    pub fn empty_like(&self) -> Buffer {
        Buffer::new(Arc::clone(&self.budget))
    }

    /// Counts the buffer at its length now. When that would exceed the budget, nothing is
    /// counted more and the caller is to drop the connection.
    pub fn account(&mut self) -> Result<(), OverBudget> {
        let len = self.bytes.len();
        if len > self.held {
            if !self.budget.take(len - self.held) {
                return Err(OverBudget {
                    wanted: len,
                    used: self.budget.used() - self.held,
                    limit: self.budget.limit,
                });
            }
        } else {
            self.budget.give(self.held - len);
            if len == 0 && self.bytes.capacity() > KEEP_CAPACITY {
                self.bytes = Vec::with_capacity(4096);
            }
        }
        self.held = len;
        Ok(())
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.budget.give(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_share_one_budget_and_give_back_what_they_held() {
        let budget = Budget::new(100);
        let mut a = Buffer::new(Arc::clone(&budget));
        let mut b = a.empty_like();
        a.bytes.resize(60, 0);
        a.account().unwrap();
        b.bytes.resize(40, 0);
        b.account().unwrap();
        assert_eq!(budget.used(), 100);
        b.bytes.push(0);
        assert_eq!(
            b.account(),
            Err(OverBudget {
                wanted: 41,
                used: 60,
                limit: 100
            })
        );
        a.bytes.drain(..50);
        a.account().unwrap();
        b.account().unwrap();
        assert_eq!(budget.used(), 51);
        drop(b);
        assert_eq!(budget.used(), 10);
        a.bytes.clear();
        a.account().unwrap();
        assert_eq!(budget.used(), 0);
    }
}
