//! The pool of worker threads: which there are, which serve, picking one for an event
//! apart, and replacing a serving worker a handler holds (see the module above for why).

use std::{
    sync::{
        Arc, Mutex, OnceLock, RwLock, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::{
    alarm::Alarm,
    handle::{Job, WorkerHandle},
    shares::{Refused, Share, Shares},
    worker,
};
use crate::ids::MAX_WORKERS;

/// How often the bound is logged at most.
pub const BOUND_LOG_EVERY: Duration = Duration::from_secs(10);

/// Events of phases on probation that may run apart at once, per serving worker; the others
/// run inline. A burst of new events (a Kong node starting under traffic) would otherwise
/// start a thread each, up to `-max-threads`, for handlers that may well be quick.
pub const PROBATION_THREADS_PER_SERVING: usize = 4;

/// How the pool is sized.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Serving workers (`-threads`).
    pub threads: usize,
    /// Workers there may be at most (`-max-threads`).
    pub max_threads: usize,
    /// How long a worker that does not serve stays idle before it retires.
    pub idle_retire: Duration,
}

/// What the pool tells the code that uses its threads.
pub trait Hooks: Send + Sync + 'static {
    /// Runs first on every new worker thread, inside its event loop.
    fn started(self: Arc<Self>, worker: &Arc<WorkerHandle>);
    /// A handler has held worker `worker` (serving or not) since the watchdog's last look.
    fn held(&self, worker: &WorkerHandle);
    /// Worker `to` serves from now on in the place of worker `from`, which a handler holds.
    fn handover(&self, from: usize, to: usize);
}

/// Every worker thread.
pub struct Pool {
    settings: PoolSettings,
    handles: RwLock<Vec<Arc<WorkerHandle>>>,
    /// The workers that serve connections.
    serving: RwLock<Vec<usize>>,
    hooks: Weak<dyn Hooks>,
    alarm: Arc<Alarm>,
    stopping: AtomicBool,
    bound_logged: Mutex<Option<Instant>>,
    started: OnceLock<()>,
    shares: Arc<Shares>,
}

/// A worker picked for an event apart, the event counted on it, and the thread of its
/// plugin's and instance's share that it holds (none where no share applies: see
/// [`Pool::pick_apart`]).
pub struct Apart {
    /// The worker the event starts on.
    pub worker: Arc<WorkerHandle>,
    /// Given back when the event ends.
    pub share: Option<Share>,
}

impl Pool {
    /// A pool with no thread yet; `hooks` are told what happens to its threads.
    pub fn new(settings: PoolSettings, hooks: Weak<dyn Hooks>) -> Arc<Pool> {
        let max_threads = settings.max_threads.clamp(1, MAX_WORKERS);
        let settings = PoolSettings {
            max_threads,
            threads: settings.threads.clamp(1, max_threads),
            ..settings
        };
        Arc::new(Pool {
            settings,
            handles: RwLock::default(),
            serving: RwLock::default(),
            hooks,
            alarm: Arc::new(Alarm::default()),
            stopping: AtomicBool::new(false),
            bound_logged: Mutex::default(),
            started: OnceLock::new(),
            shares: Shares::new(max_threads.saturating_sub(settings.threads.clamp(1, max_threads))),
        })
    }

    /// Starts the serving workers (see [`super::start`], which starts the watchdog too).
    pub(super) fn start(self: &Arc<Self>) -> std::io::Result<bool> {
        if self.started.set(()).is_err() {
            return Ok(false);
        }
        for _ in 0..self.settings.threads {
            let handle = self.spawn(true)?;
            handle.set_serving(true);
            self.write_serving().push(handle.index);
        }
        Ok(true)
    }

    /// How the pool is sized.
    pub fn settings(&self) -> PoolSettings {
        self.settings
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

    /// The workers that serve connections now.
    pub fn serving(&self) -> Vec<usize> {
        self.serving
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether worker `index` serves connections now.
    pub fn is_serving(&self, index: usize) -> bool {
        self.handle(index).is_some_and(|h| h.serves())
    }

    /// Events living on any worker.
    pub fn events(&self) -> usize {
        self.read_handles().iter().map(|h| h.events()).sum()
    }

    /// Events started on the workers there are now (a retired worker's are gone from it):
    /// whether it changed tells whether events started.
    pub fn started(&self) -> u64 {
        self.read_handles().iter().map(|h| h.started()).sum()
    }

    /// Stops replacing held workers: the server is stopping.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Whether the server is stopping.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Sends `job` to worker `index`; false if there is no such worker or it is gone.
    pub fn send(&self, index: usize, job: Job) -> bool {
        self.handle(index).is_some_and(|h| h.send(job))
    }

    /// A worker that does not serve, for an event of `plugin`'s `instance` that runs apart,
    /// with the event counted on it: an idle one, else a new one, once the event has taken a
    /// thread of its plugin's and instance's share ([`super::shares`]). A spent share, or
    /// every thread running (`-max-threads`), refuses the event: it never waits behind a
    /// handler that holds its thread. A phase on probation may not start threads beyond
    /// [`PROBATION_THREADS_PER_SERVING`] per serving worker: `None` then, and its event runs
    /// inline; `None` too when there are no threads but the serving ones (`-max-threads` ≤
    /// `-threads`).
    pub fn pick_apart(
        self: &Arc<Self>,
        probation: bool,
        plugin: &str,
        instance: u64,
    ) -> Result<Option<Apart>, Refused> {
        if self.shares.room() == 0 {
            return Ok(None);
        }
        let serving = self.serving();
        // Counted by the events on probation apart now, not by the threads: another plugin's
        // handlers holding hundreds of threads must not send a new phase inline.
        if probation && self.shares.on_probation() >= serving.len() * PROBATION_THREADS_PER_SERVING
        {
            return Ok(None);
        }
        let share = Some(self.shares.take(plugin, instance, probation)?);
        let handles = self.handles();
        let mut others = handles
            .iter()
            .filter(|h| !serving.contains(&h.index) && !h.retired());
        if let Some(idle) = others.find(|h| h.reserve_if_idle()) {
            let worker = Arc::clone(idle);
            return Ok(Some(Apart { worker, share }));
        }
        if live(&handles) < self.settings.max_threads
            && let Ok(new) = self.spawn(false)
        {
            new.add_event();
            return Ok(Some(Apart { worker: new, share }));
        }
        if probation {
            return Ok(None);
        }
        drop(share);
        self.log_bound("an event apart is refused");
        Err(self.shares.refuse_threads(plugin, instance))
    }

    /// The shares of the threads apart.
    pub fn shares(&self) -> &Arc<Shares> {
        &self.shares
    }

    /// The worker with the most events living on it.
    pub fn fullest(&self) -> Option<Arc<WorkerHandle>> {
        self.handles()
            .into_iter()
            .filter(|h| !h.retired())
            .max_by_key(|h| h.events())
    }

    /// Replaces serving worker `held`, which a handler holds, with an idle worker or a new one;
    /// returns the worker that serves in its place.
    pub fn replace(self: &Arc<Self>, held: usize) -> Option<usize> {
        if !self.is_serving(held) || self.stopping() {
            return None;
        }
        let serving = self.serving();
        let idle = self.handles().into_iter().find(|h| {
            h.index != held && !serving.contains(&h.index) && !h.retired() && h.reserve_if_idle()
        });
        let new = match idle {
            Some(idle) => {
                // Reserved for serving, not for an event.
                idle.remove_event();
                idle
            }
            None => match self.spawn(true) {
                Ok(new) => new,
                Err(_) => {
                    self.log_bound("a serving worker waits until its handler returns");
                    return None;
                }
            },
        };
        {
            let mut serving = self.write_serving();
            serving.retain(|&i| i != held);
            serving.push(new.index);
            new.set_serving(true);
            if let Some(held) = self.handle(held) {
                held.set_serving(false);
            }
        }
        if let Some(hooks) = self.hooks.upgrade() {
            hooks.handover(held, new.index);
        }
        Some(new.index)
    }

    /// Logs that the thread bound was reached, at most every [`BOUND_LOG_EVERY`].
    pub fn log_bound(&self, what: &str) {
        let mut last = self.bound_logged.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= BOUND_LOG_EVERY) {
            *last = Some(Instant::now());
            let max = self.settings.max_threads;
            tracing::warn!(
                threads = max,
                "all {max} worker threads run handlers (-max-threads): {what}"
            );
        }
    }

    /// Wakes the watchdog when the first event arrives.
    pub(super) fn alarm(&self) -> &Arc<Alarm> {
        &self.alarm
    }

    /// The hooks, while the code using the pool lives.
    pub(crate) fn hooks(&self) -> Option<Arc<dyn Hooks>> {
        self.hooks.upgrade()
    }

    /// Starts a worker, to serve or for events apart.
    fn spawn(self: &Arc<Self>, serving: bool) -> std::io::Result<Arc<WorkerHandle>> {
        let mut handles = self.handles.write().unwrap_or_else(|p| p.into_inner());
        if live(&handles) >= self.settings.max_threads {
            return Err(std::io::Error::other("the thread bound is reached"));
        }
        // A retired worker's place (and index) is taken first: it has no event left.
        let index = handles
            .iter()
            .position(|h| h.retired())
            .unwrap_or(handles.len());
        let (jobs, inbox) = tokio::sync::mpsc::unbounded_channel();
        let handle = Arc::new(WorkerHandle::new(
            index,
            jobs,
            serving,
            Arc::clone(&self.alarm),
        ));
        let hooks = self.hooks.clone();
        let started = move |worker: &Arc<WorkerHandle>| {
            if let Some(hooks) = hooks.upgrade() {
                hooks.started(worker);
            }
        };
        worker::spawn(
            Arc::clone(&handle),
            inbox,
            self.settings.idle_retire,
            Box::new(started),
        )?;
        if index == handles.len() {
            handles.push(Arc::clone(&handle));
        } else {
            handles[index] = Arc::clone(&handle);
        }
        tracing::debug!(worker = index, serving, "started a worker thread");
        Ok(handle)
    }

    fn read_handles(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<WorkerHandle>>> {
        self.handles.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_serving(&self) -> std::sync::RwLockWriteGuard<'_, Vec<usize>> {
        self.serving.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl crate::metrics::live::Source for Pool {
    fn gauges(&self) -> Vec<crate::metrics::live::Gauge> {
        let mut gauges = vec![crate::metrics::live::Gauge::single(
            "worker_threads",
            "Worker threads running",
            self.count(),
        )];
        gauges.extend(self.shares.gauges());
        gauges
    }
}

/// How many of `handles` have not retired.
fn live(handles: &[Arc<WorkerHandle>]) -> usize {
    handles.iter().filter(|h| !h.retired()).count()
}
