//! What the other threads know of one worker thread: how to send it work, whether a handler is
//! running on it right now (and whose), and how many events live on it.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use plugin_abi::Phase;
use tokio::sync::{mpsc, oneshot};

use super::conn::{Conn, Listener};
use crate::{
    events::Answer,
    instances::Running,
    loader::LoadedPlugin,
    rpc::message::{Reply, encode_response},
};

/// Where the answer to a request another worker answers goes.
pub enum ReplySender {
    /// Back to the worker that read the request.
    Channel(oneshot::Sender<Result<Reply, String>>),
    /// Straight to the connection, whose claim the answering worker was handed with the
    /// request and gives back once it has written.
    Direct {
        /// The connection.
        conn: Arc<Conn>,
        /// The request's msgid.
        msgid: rmpv::Value,
        /// Its method, when metrics count errors.
        rpc: Option<crate::metrics::RpcMethod>,
    },
}

impl ReplySender {
    /// Sends the answer.
    pub fn send(self, outcome: Result<Reply, String>) {
        match self {
            ReplySender::Channel(sender) => {
                // The reader gave up only if its connection is gone.
                let _ = sender.send(outcome);
            }
            ReplySender::Direct { conn, msgid, rpc } => {
                if outcome.is_err()
                    && let (Some(metrics), Some(rpc)) = (crate::metrics::get(), rpc)
                {
                    metrics.rpc_error(rpc);
                }
                let mut out = Vec::with_capacity(256);
                encode_response(&msgid, &outcome, &mut out);
                if let Err(e) = conn.write_all(&out) {
                    tracing::debug!("cannot answer on a connection: {e}");
                }
                conn.release();
            }
        }
    }
}

/// The event count of a retired worker: no event can be counted on it any more.
const RETIRED: usize = usize::MAX / 2;

/// Work for a worker, sent by another thread.
pub enum Job {
    /// Serve this connection from now on.
    Adopt(Arc<Conn>),
    /// Accept on the listening socket from now on.
    Listen(Arc<Listener>),
    /// Start an event here: its handler lives on this thread.
    Start {
        /// The instance, marked running.
        running: Running,
        /// The phase.
        phase: Phase,
        /// Where the first step goes.
        reply: ReplySender,
    },
    /// Kong's answer to the pending PDK call of an event living here.
    Step {
        /// The event.
        id: u64,
        /// Kong's answer.
        answer: Answer,
        /// Where the next step goes.
        reply: ReplySender,
    },
    /// End every event living here (shutdown); answers how many there were.
    EndAll(oneshot::Sender<usize>),
}

/// One worker thread, as every thread sees it.
pub struct WorkerHandle {
    /// Its index, which is also the low bits of the ids of the events living on it.
    pub index: usize,
    /// Started for events that run apart, not to serve connections.
    pub apart: bool,
    jobs: mpsc::UnboundedSender<Job>,
    /// Bumped when a handler starts running on the thread and when it stops: odd while one
    /// runs. The watchdog compares it between two looks.
    stretch: AtomicU64,
    /// The plugin and phase of the handler running (or that ran last).
    current: Mutex<Option<(Arc<LoadedPlugin>, Phase)>>,
    /// Events living on the thread: running, suspended, or about to start.
    events: AtomicUsize,
}

impl WorkerHandle {
    /// The handle of worker `index`, reached through `jobs`.
    pub fn new(index: usize, jobs: mpsc::UnboundedSender<Job>, apart: bool) -> Self {
        WorkerHandle {
            index,
            apart,
            jobs,
            stretch: AtomicU64::new(0),
            current: Mutex::new(None),
            events: AtomicUsize::new(0),
        }
    }

    /// Sends `job`; false if the worker is gone (the server is stopping).
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
        self.events.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts one event less.
    pub fn remove_event(&self) {
        self.events.fetch_sub(1, Ordering::AcqRel);
    }

    /// Events living here (none once retired).
    pub fn events(&self) -> usize {
        match self.events.load(Ordering::Acquire) {
            RETIRED => 0,
            n => n,
        }
    }

    /// Retires the worker if it has no event: true if it did. A retired worker takes no more
    /// work; its thread ends, and a new worker may take its place (and index) later.
    pub fn retire_if_idle(&self) -> bool {
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
    pub fn reserve_if_idle(&self) -> bool {
        !self.running()
            && self
                .events
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }
}
