//! The server: starting the worker threads with every serving worker accepting, and what the
//! pool's hooks mean for serving (a thread's setup, a handler that holds its worker, a held
//! serving worker's handover).

use std::{
    os::fd::OwnedFd,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::watch;

use super::{accept, conn::Conn, handover::HandOver, local, placement::Placement, session};
use crate::{
    host::Host,
    workers::{self, Hooks, Pool, PoolSettings, WorkerHandle, watchdog::TICK},
};

/// A server of Kong's plugin protocol on a pool of worker threads: what every worker thread
/// shares to serve Kong (the host, the pool, where each Kong process is served, the open
/// connections, the listening socket, the hand-over to another engine).
pub struct Server {
    /// Plugins, instances, settings.
    pub host: Arc<Host>,
    /// The worker threads.
    pub pool: Arc<Pool>,
    /// Which serving worker serves each Kong worker process.
    pub placement: Arc<Placement>,
    /// Connections handed to the engine replacing this one, and Steps passed back.
    pub handover: HandOver,
    /// Every open connection, for handing them over.
    conns: Mutex<Vec<Weak<Conn>>>,
    /// The listening socket; taken away when the server stops accepting.
    listener: Mutex<Option<Arc<OwnedFd>>>,
    /// Connections accepted so far.
    accepted: AtomicU64,
    stop: watch::Receiver<bool>,
}

impl Server {
    /// Starts the worker threads and serves `listener` on every serving worker, until `stop`
    /// turns true.
    pub fn start(
        host: Arc<Host>,
        listener: OwnedFd,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<Arc<Server>> {
        let settings = PoolSettings {
            threads: host.settings.threads,
            max_threads: usize::from(host.settings.max_threads),
            idle_retire: host.settings.thread_idle,
        };
        let server = Arc::new_cyclic(|me: &Weak<Server>| Server {
            host,
            pool: Pool::new(settings, me.clone() as Weak<dyn Hooks>),
            placement: Arc::default(),
            handover: HandOver::default(),
            conns: Mutex::default(),
            listener: Mutex::new(Some(Arc::new(listener))),
            accepted: AtomicU64::new(0),
            stop,
        });
        workers::start(&server.pool)?;
        for worker in server.pool.serving() {
            server.accept_on(worker);
        }
        Ok(server)
    }

    /// Hands on every connection idle now (its task waits for Kong, nothing buffered) to the
    /// engine replacing this one, each from the worker that serves it; a busy one goes when
    /// its task is done with it (see [`super::handover`]).
    pub fn hand_on_idle(&self) {
        for worker in self.pool.serving() {
            self.pool.send(
                worker,
                Box::new(move || {
                    let local = local::here();
                    let server = &local.server;
                    for conn in server.connections_of(local.worker.index) {
                        if !conn.claim() {
                            continue;
                        }
                        let buf = conn.take_buf();
                        let idle = buf.bytes.is_empty();
                        conn.put_buf(buf);
                        if idle {
                            server.handover.hand_on(&conn);
                        }
                        conn.release();
                    }
                }),
            );
        }
    }

    /// Has worker `worker` accept on the listening socket.
    fn accept_on(&self, worker: usize) {
        if let Some(listener) = self.listener() {
            self.pool.send(
                worker,
                Box::new(move || {
                    tokio::task::spawn_local(accept::accept_loop(local::here(), listener));
                }),
            );
        }
    }

    /// Moves the connections of worker `from` that it is not processing now to worker `to`;
    /// returns how many moved.
    fn move_connections(&self, from: usize, to: usize) -> usize {
        let mut moved = 0;
        for conn in self.connections_of(from) {
            if !conn.claim() {
                continue;
            }
            // Whoever held the claim since the list was made may have moved it already.
            if conn.owner() != from {
                conn.release();
                continue;
            }
            conn.set_owner(to);
            conn.release();
            if session::adopt(self, conn) {
                moved += 1;
            }
        }
        moved
    }
}

impl Server {
    /// Turns true when the server stops accepting.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Counts a connection accepted.
    pub fn count_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Stops accepting and handing workers over.
    pub fn stop_accepting(&self) {
        self.pool.stop();
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// The listening socket, until the server stops accepting.
    pub fn listener(&self) -> Option<Arc<OwnedFd>> {
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keeps track of a new connection, to hand it over with its worker.
    pub fn track(&self, conn: &Arc<Conn>) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain(|c| c.strong_count() > 0);
        conns.push(Arc::downgrade(conn));
    }

    /// The open connections worker `owner` serves.
    pub fn connections_of(&self, owner: usize) -> Vec<Arc<Conn>> {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|c| c.owner() == owner)
            .collect()
    }
}

impl Hooks for Server {
    fn started(self: Arc<Self>, worker: &Arc<WorkerHandle>) {
        local::install(self, worker);
    }

    fn held(&self, worker: &WorkerHandle) {
        if let Some((plugin, phase)) = worker.current()
            && plugin.pace.phase(phase).go_apart()
        {
            tracing::info!(
                plugin = plugin.name(),
                %phase,
                "a {phase} handler ran over {TICK:?} without a PDK call: the other events go \
                 on on other threads, and this phase now runs apart, each event on a worker \
                 thread of its own"
            );
        }
    }

    fn handover(&self, from: usize, to: usize) {
        self.placement.move_all(from, to);
        self.accept_on(to);
        let moved = self.move_connections(from, to);
        tracing::debug!(
            from,
            to,
            moved,
            "a handler holds a serving worker: another serves"
        );
    }
}
