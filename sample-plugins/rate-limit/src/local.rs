//! `policy = local`: counters in this process's memory. Kong starts one instance per
//! configuration in each of its workers, all served by this one process, so the counters are
//! process-wide and every worker counts against the same limit; other Kong nodes count their
//! own (use `policy = redis` for a cluster).

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use crate::window::{Decision, Window};

/// Key → (window start, requests counted in it).
static COUNTERS: LazyLock<Mutex<HashMap<String, (u64, u64)>>> = LazyLock::new(Default::default);

/// Past this many counters, those of finished windows are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// Counts one request under `key`.
pub fn count(key: String, limit: u32, window: Window, seconds: u32) -> Decision {
    let mut counters = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
    if counters.len() > PRUNE_ABOVE {
        counters.retain(|_, (start, _)| *start + u64::from(seconds) > window.start);
    }
    let current = counters.entry(key).or_insert((window.start, 0));
    if current.0 != window.start {
        *current = (window.start, 0);
    }
    // Refused requests are not counted: the count never passes the limit.
    let decision = Decision::for_count(current.1 + 1, limit, window);
    if decision.allowed {
        current.1 += 1;
    }
    decision
}
