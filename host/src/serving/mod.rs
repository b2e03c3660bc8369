//! Serving Kong: accepting connections, reading requests, dispatching each `plugin.*` method,
//! and writing the answers, on the worker threads of [`crate::workers`].
//!
//! Every serving worker accepts ([`accept`]) and serves the connections placed on it
//! ([`placement`]: all the connections of one Kong worker process on one serving worker).
//! Each connection has a task ([`connection`]) that reads its requests, has [`dispatch`] answer
//! each by its method ([`methods`], one file per group), and writes the answers ([`reply`]). A
//! `HandleEvent` starts its handler inline, on the serving worker, or apart, on a worker of its
//! own, as the phase's pace says ([`crate::pace`]); a `Step` resumes the event where it lives
//! ([`crate::ids::home_of`]), here or on another worker, which then answers on the connection
//! itself.
//!
//! A serving worker that a handler holds loses its connections and its processes to the worker
//! that replaces it ([`Server::handover`]); the handler's phase runs apart from then on.

pub mod accept;
pub mod conn;
pub mod connection;
pub mod dispatch;
pub mod local;
pub mod methods;
pub mod placement;
pub mod reply;
pub mod stream;

use std::{
    os::fd::OwnedFd,
    sync::{Arc, Mutex, Weak},
};

use tokio::sync::watch;

use self::{conn::Conn, placement::Placement};
use crate::{
    host::Host,
    workers::{Hooks, Pool, PoolSettings, WorkerHandle, watchdog::TICK},
};

/// What every worker thread shares to serve Kong.
pub struct Server {
    /// Plugins, instances, settings.
    pub host: Arc<Host>,
    /// The worker threads.
    pub pool: Arc<Pool>,
    /// Which serving worker serves each Kong worker process.
    pub placement: Arc<Placement>,
    /// Every open connection, for handing them over.
    conns: Mutex<Vec<Weak<Conn>>>,
    /// The listening socket; taken away when the server stops accepting.
    listener: Mutex<Option<Arc<OwnedFd>>>,
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
            pool: Pool::new(settings, me.clone() as Weak<dyn Hooks>),
            host,
            placement: Arc::default(),
            conns: Mutex::default(),
            listener: Mutex::new(Some(Arc::new(listener))),
            stop,
        });
        server.pool.start()?;
        for worker in server.pool.serving() {
            server.accept_on(worker);
        }
        Ok(server)
    }

    /// Turns true when the server stops accepting.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Stops accepting and handing workers over.
    pub fn stop_accepting(&self) {
        self.pool.stop();
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Keeps track of a new connection, to hand it over with its worker.
    pub fn track(&self, conn: &Arc<Conn>) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain(|c| c.strong_count() > 0);
        conns.push(Arc::downgrade(conn));
    }

    /// Sends `conn` to the worker that owns it now.
    pub fn adopt(&self, conn: Arc<Conn>) -> bool {
        let to = conn.owner();
        self.pool.send(
            to,
            Box::new(move || {
                tokio::task::spawn_local(connection::serve(local::here(), conn));
            }),
        )
    }

    /// Has worker `worker` accept on the listening socket.
    fn accept_on(&self, worker: usize) {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(listener) = listener {
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
                if self.adopt(conn) {
                    moved += 1;
                }
            }
        }
        moved
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
