//! What the other threads know of one worker thread: how to send it work, whether a handler is
//! running on it right now (and whose), how many events live on it, and its thread id.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering},
};

use plugin_abi::Phase;
use tokio::sync::mpsc;

use super::alarm::Alarm;
use crate::loader::LoadedPlugin;

/// Work for a worker, sent by another thread; it runs on the worker's thread, inside its event
/// loop.
pub type Job = Box<dyn FnOnce() + Send>;

/// The event count of a retired worker: no event can be counted on it any more.
const RETIRED: usize = usize::MAX / 2;

/// One worker thread, as every thread sees it.
pub struct WorkerHandle {
    /// Its index, which is also the low bits of the ids of the events living on it.
    pub index: usize,
    /// Started to serve connections (it keeps more finished stacks), not for events apart.
    pub born_serving: bool,
    jobs: mpsc::UnboundedSender<Job>,
    /// Bumped when a handler starts running on the thread and when it stops: odd while one
    /// runs. The watchdog compares it between two looks.
    stretch: AtomicU64,
    /// The plugin and phase of the handler running (or that ran last).
    current: Mutex<Option<(Arc<LoadedPlugin>, Phase)>>,
    /// Events living on the thread: running, suspended, or about to start.
    events: AtomicUsize,
    /// Events started here so far: a stopping server tells from it whether Kong still sends.
    started: AtomicU64,
    /// The thread's id, once it runs (0 before).
    tid: AtomicI32,
    /// Whether it serves connections now: read by its own thread after every request, so it
    /// is kept here rather than in the pool's shared list.
    serving: AtomicBool,
    /// Wakes the watchdog when the first event arrives.
    alarm: Arc<Alarm>,
}

impl WorkerHandle {
    /// The handle of worker `index`, reached through `jobs`.
    pub(super) fn new(
        index: usize,
        jobs: mpsc::UnboundedSender<Job>,
        born_serving: bool,
        alarm: Arc<Alarm>,
    ) -> Self {
        WorkerHandle {
            index,
            born_serving,
            jobs,
            stretch: AtomicU64::new(0),
            current: Mutex::new(None),
            events: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            tid: AtomicI32::new(0),
            serving: AtomicBool::new(false),
            alarm,
        }
    }

    /// Sends `job`; false if the worker is gone (it retired, or the server is stopping).
    pub fn send(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }

    /// Marks the start of a handler's stretch of `plugin`'s `phase`; `same` says the caller
    /// knows the previous stretch was of the same plugin and phase.
    pub fn enter(&self, plugin: &Arc<LoadedPlugin>, phase: Phase, same: bool) {
        if !same {
            *self.current.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((Arc::clone(plugin), phase));
        }
        self.stretch.fetch_add(1, Ordering::Release);
    }

    /// Marks the end of the stretch.
    pub fn leave(&self) {
        self.stretch.fetch_add(1, Ordering::Release);
    }

    /// The stretch counter (odd: a handler runs now).
    pub fn stretch(&self) -> u64 {
        self.stretch.load(Ordering::Acquire)
    }

    /// Whether a handler runs on the thread now.
    pub fn running(&self) -> bool {
        !self.stretch().is_multiple_of(2)
    }

    /// The plugin and phase of the handler running now, or that ran last.
    pub fn current(&self) -> Option<(Arc<LoadedPlugin>, Phase)> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts one more event living here.
    pub fn add_event(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
        if self.events.fetch_add(1, Ordering::SeqCst) == 0 {
            self.alarm.ring();
        }
    }

    /// Counts one event less.
    pub fn remove_event(&self) {
        self.events.fetch_sub(1, Ordering::AcqRel);
    }

    /// Events started here so far.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Events living here (none once retired).
    pub fn events(&self) -> usize {
        match self.events.load(Ordering::SeqCst) {
            RETIRED => 0,
            n => n,
        }
    }

    /// Retires the worker if it has no event: true if it did. A retired worker takes no more
    /// work; its thread ends, and a new worker may take its place (and index) later.
    pub(super) fn retire_if_idle(&self) -> bool {
        !self.running()
            && self
                .events
                .compare_exchange(0, RETIRED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Whether the worker has retired.
    pub fn retired(&self) -> bool {
        self.events.load(Ordering::Acquire) == RETIRED
    }

    /// Reserves the worker for one new event if it has none: true if it was idle.
    pub(super) fn reserve_if_idle(&self) -> bool {
        let reserved = !self.running()
            && self
                .events
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok();
        if reserved {
            self.alarm.ring();
        }
        reserved
    }

    /// Whether it serves connections now.
    pub fn serves(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    pub(super) fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::Release);
    }

    /// The thread's id (0 until it runs).
    pub fn tid(&self) -> i32 {
        self.tid.load(Ordering::Acquire)
    }

    pub(super) fn set_tid(&self, tid: i32) {
        self.tid.store(tid, Ordering::Release);
    }
}
