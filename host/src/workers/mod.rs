//! The worker threads: a pool of threads, each running an event loop of its own, the jobs other
//! threads send it, and the handlers of the events that live on it (a handler's coroutine
//! never leaves its thread, see [`crate::events`]).
//!
//! A worker either *serves* connections or not. `-threads` workers serve from the start (one
//! per core by default); the others are started as needed, up to `-max-threads`, to run events
//! *apart* (see [`crate::pace`]), each on a thread of its own, and retire once idle for
//! `-thread-idle-seconds`. Each plugin, and each instance of it, may hold only its share of
//! the threads apart ([`shares`]): a service that hangs holds up its own plugin's events, and
//! an event whose share is spent is refused at once rather than queued behind a held thread. What serving means (connections, the protocol) is not the pool's
//! business: it tells [`Hooks`] when a thread starts and when a serving worker must be
//! replaced.
//!
//! A serving worker held by a handler (the [`watchdog`] sees it) is replaced: an idle worker,
//! or a new one below the bound, serves in its place from then on, and the held worker finishes
//! its handler, keeps the events that live on it, and serves no more. At the bound the held
//! worker keeps serving once its handler returns; this is logged. Go's answer to a goroutine
//! stuck in a system call is the same: another thread takes over its work.

mod alarm;
mod handle;
mod pool;
pub mod shares;
pub mod sizing;
pub mod watchdog;
mod worker;

use std::sync::Arc;

pub use handle::{Job, WorkerHandle};
pub use pool::{Apart, BOUND_LOG_EVERY, Hooks, PROBATION_THREADS_PER_SERVING, Pool, PoolSettings};
pub use shares::{Refused, Share, Shares, Spent};

/// Starts `pool`'s serving workers, and the watchdog when there may be more than one thread.
pub fn start(pool: &Arc<Pool>) -> std::io::Result<()> {
    if pool.start()? && pool.settings().max_threads > 1 {
        watchdog::spawn(Arc::clone(pool))?;
    }
    Ok(())
}
