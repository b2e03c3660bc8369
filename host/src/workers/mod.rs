//! The threads that serve, and how a handler that blocks holds up only its own event.
//!
//! Every worker thread runs an event loop of its own, serves the connections it owns, and runs
//! handlers as coroutines that never leave it (see [`crate::events`]). One worker is the
//! *active* one: it accepts, and the connections gather on it. Quick handlers run there, where
//! their PDK calls cost a stack switch, as on one thread. An event's id names the worker it
//! lives on; a `Step` arriving at another worker is sent to that one, and its answer comes
//! back.
//!
//! A handler may block or compute between PDK calls, as in a Go plugin. Two things keep that
//! from holding up other events, the second Go's answer to a goroutine stuck in a system call:
//!
//! - **Phases whose handlers hold their thread run on idle workers.** Their events start on a
//!   worker of their own, so the active worker never waits for them ([`crate::pace`] decides).
//! - **A worker stuck in a handler loses its connections.** The watchdog looks every
//!   millisecond; a worker whose handler has run since its last look is stuck. Its
//!   connections, and the listening socket if it had it, go to another worker (a new one if
//!   none is idle), which serves them from then on. The stuck worker finishes its handler,
//!   keeps the events that live on it, and becomes idle.
//!
//! Threads are started as needed up to `-max-threads`. At that bound nothing new starts: an
//! event that should run on an idle worker waits on the least busy one, and a stuck active
//! worker keeps its connections until its handler returns; both are logged. Workers are
//! started either to serve connections or to run events apart; each kind is picked for its own
//! work first. A worker started for events apart that stays idle for `-thread-idle-seconds`
//! retires: its thread ends, and its index goes to the next worker started.

mod conn;
mod handle;
mod watchdog;
mod worker;

use std::{
    sync::{
        Arc, Mutex, RwLock, Weak,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

pub use conn::{Conn, Listener, NOBODY};
pub use handle::{Job, ReplySender, WorkerHandle};
use tokio::sync::watch;
pub use watchdog::TICK;

use crate::host::Host;

/// The most worker threads there can be: an event id keeps the worker's index in its low
/// [`HOME_BITS`] bits.
pub const MAX_THREADS: usize = 1 << HOME_BITS;

/// Bits of an event id that name the worker it lives on.
pub const HOME_BITS: u32 = 9;

/// The worker an event lives on.
pub fn home_of(event_id: u64) -> usize {
    (event_id & ((1 << HOME_BITS) - 1)) as usize
}

/// How often the bound is logged at most.
pub const BOUND_LOG_EVERY: Duration = Duration::from_secs(10);

/// Every worker thread, and what they share.
pub struct Workers {
    host: Arc<Host>,
    handles: RwLock<Vec<Arc<WorkerHandle>>>,
    active: AtomicUsize,
    max: usize,
    conns: Mutex<Vec<Weak<Conn>>>,
    listener: Mutex<Option<Arc<Listener>>>,
    stop: watch::Receiver<bool>,
    stopping: AtomicBool,
    bound_logged: Mutex<Option<Instant>>,
}

impl Workers {
    /// Starts the host's `-threads` workers (at most `-max-threads`), the first one active.
    /// `stop` turns true when the server stops accepting.
    pub fn start(host: Arc<Host>, stop: watch::Receiver<bool>) -> std::io::Result<Arc<Workers>> {
        let max = usize::from(host.settings.max_threads).clamp(1, MAX_THREADS);
        let threads = host.settings.threads;
        let workers = Arc::new(Workers {
            host,
            handles: RwLock::default(),
            active: AtomicUsize::new(0),
            max,
            conns: Mutex::default(),
            listener: Mutex::default(),
            stop,
            stopping: AtomicBool::new(false),
            bound_logged: Mutex::default(),
        });
        for _ in 0..threads.clamp(1, max) {
            workers.spawn(false)?;
        }
        watchdog::spawn(Arc::clone(&workers))?;
        Ok(workers)
    }

    /// The shared host.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// Turns true when the server stops accepting.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// The worker that accepts and gathers the connections.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Worker `index`.
    pub fn handle(&self, index: usize) -> Option<Arc<WorkerHandle>> {
        self.read_handles().get(index).cloned()
    }

    /// Every worker.
    pub fn handles(&self) -> Vec<Arc<WorkerHandle>> {
        self.read_handles().clone()
    }

    /// How many worker threads run.
    pub fn count(&self) -> usize {
        live(&self.read_handles())
    }

    /// How long a worker started for events apart stays idle before it retires.
    pub fn idle_retire(&self) -> Duration {
        self.host.settings.thread_idle
    }

    /// Whether worker `index` serves a connection or the listening socket.
    pub fn serves(&self, index: usize) -> bool {
        let listening = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|l| l.owner() == index);
        listening
            || self
                .conns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter_map(Weak::upgrade)
                .any(|c| c.owner() == index)
    }

    /// Events living on any worker.
    pub fn events(&self) -> usize {
        self.read_handles().iter().map(|h| h.events()).sum()
    }

    /// Serves `listener` on the active worker.
    pub fn listen(&self, listener: Arc<Listener>) {
        let active = self.active();
        listener.set_owner(active);
        *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&listener));
        self.send(active, Job::Listen(listener));
    }

    /// Stops accepting: nobody owns the listening socket any more.
    pub fn stop_accepting(&self) {
        self.stopping.store(true, Ordering::Release);
        if let Some(listener) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            listener.set_owner(NOBODY);
        }
    }

    /// Whether the server is stopping.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Keeps track of a new connection (for the watchdog) and hands it to its owner.
    pub fn place(&self, conn: Arc<Conn>) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain(|c| c.strong_count() > 0);
        conns.push(Arc::downgrade(&conn));
        drop(conns);
        self.send(conn.owner(), Job::Adopt(conn));
    }

    /// Sends `job` to worker `index`; false if there is no such worker or it is gone.
    pub fn send(&self, index: usize, job: Job) -> bool {
        self.handle(index).is_some_and(|h| h.send(job))
    }

    /// A worker for an event that should not run on the worker `busy` (the one asking), with
    /// the event counted on it: an idle worker started for events apart, a new one below the
    /// bound, then any idle one, or at the bound the one with the fewest events. `None` when
    /// there is no other worker at all.
    pub fn pick(self: &Arc<Self>, busy: usize) -> Option<Arc<WorkerHandle>> {
        self.pick_for(busy, true)
    }

    fn pick_for(self: &Arc<Self>, busy: usize, apart: bool) -> Option<Arc<WorkerHandle>> {
        let active = self.active();
        let handles = self.handles();
        let others = handles
            .iter()
            .filter(|h| h.index != busy && h.index != active && !h.retired());
        let preferred = others.clone().filter(|h| h.apart == apart);
        if let Some(idle) = preferred.clone().find(|h| h.reserve_if_idle()) {
            return Some(Arc::clone(idle));
        }
        if live(&handles) < self.max
            && let Ok(new) = self.spawn(apart)
        {
            new.add_event();
            return Some(new);
        }
        if let Some(idle) = others.clone().find(|h| h.reserve_if_idle()) {
            return Some(Arc::clone(idle));
        }
        let least = others.min_by_key(|h| h.events())?;
        self.log_bound("an event waits for a worker that is running other handlers");
        least.add_event();
        Some(Arc::clone(least))
    }

    /// The worker with the most events living on it.
    pub fn fullest(&self) -> Option<Arc<WorkerHandle>> {
        self.handles()
            .into_iter()
            .filter(|h| !h.retired())
            .max_by_key(|h| h.events())
    }

    /// Makes another worker the active one, if worker `stuck` is; returns the new one.
    pub fn replace_active(self: &Arc<Self>, stuck: usize) -> Option<usize> {
        if self.active() != stuck {
            return Some(self.active());
        }
        let new = self.pick_for(stuck, false)?;
        // Picked for serving, not for an event.
        new.remove_event();
        self.active.store(new.index, Ordering::Release);
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(listener) = listener
            && listener.owner() == stuck
        {
            listener.set_owner(new.index);
            new.send(Job::Listen(listener));
        }
        Some(new.index)
    }

    /// Moves the connections of worker `from` that it is not processing now to worker `to`;
    /// returns how many moved.
    pub fn move_connections(&self, from: usize, to: usize) -> usize {
        let conns: Vec<Arc<Conn>> = self
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut moved = 0;
        for conn in conns {
            if conn.owner() == from && conn.claim() {
                conn.set_owner(to);
                conn.release();
                if self.send(to, Job::Adopt(conn)) {
                    moved += 1;
                }
            }
        }
        moved
    }

    /// Logs that the thread bound was reached, at most every [`BOUND_LOG_EVERY`].
    pub fn log_bound(&self, what: &str) {
        let mut last = self.bound_logged.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= BOUND_LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                threads = self.max,
                "all {} worker threads are busy running handlers (-max-threads): {what}",
                self.max
            );
        }
    }

    /// Starts a worker: one for events apart, or one to serve connections.
    fn spawn(self: &Arc<Self>, apart: bool) -> std::io::Result<Arc<WorkerHandle>> {
        let mut handles = self.handles.write().unwrap_or_else(|p| p.into_inner());
        if live(&handles) >= self.max {
            return Err(std::io::Error::other("the thread bound is reached"));
        }
        // A retired worker's place (and index) is taken first: it has no event left.
        let index = handles
            .iter()
            .position(|h| h.retired())
            .unwrap_or(handles.len());
        let (jobs, inbox) = tokio::sync::mpsc::unbounded_channel();
        let handle = Arc::new(WorkerHandle::new(index, jobs, apart));
        worker::spawn(Arc::clone(self), Arc::clone(&handle), inbox)?;
        if index == handles.len() {
            handles.push(Arc::clone(&handle));
        } else {
            handles[index] = Arc::clone(&handle);
        }
        if index > 0 {
            tracing::debug!(threads = index + 1, "started a worker thread");
        }
        Ok(handle)
    }

    fn read_handles(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<WorkerHandle>>> {
        self.handles.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl crate::metrics::live::Source for Workers {
    fn gauges(&self) -> Vec<crate::metrics::live::Gauge> {
        vec![crate::metrics::live::Gauge::single(
            "worker_threads",
            "Worker threads running",
            self.count(),
        )]
    }
}

/// How many of `handles` have not retired.
fn live(handles: &[Arc<WorkerHandle>]) -> usize {
    handles.iter().filter(|h| !h.retired()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_names_its_worker() {
        assert_eq!(home_of((12345 << HOME_BITS) | 7), 7);
        assert_eq!(home_of(1 << HOME_BITS), 0);
        assert_eq!(MAX_THREADS, 512);
    }
}
