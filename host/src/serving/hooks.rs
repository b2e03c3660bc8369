//! Starting a server's worker threads with every serving worker accepting, and what the
//! pool's hooks mean for serving: a thread's setup, a handler that holds its worker, a held
//! serving worker's handover; and handing idle connections on to the engine replacing this one.

use std::{
    os::fd::OwnedFd,
    sync::{Arc, Weak},
};

use tokio::sync::watch;

use super::{accept, local, server::Server, session};
use crate::{
    host::Host,
    workers::{self, Hooks, Pool, PoolSettings, WorkerHandle, watchdog::TICK},
};

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
        let server = Arc::new_cyclic(|me: &Weak<Server>| {
            let pool = Pool::new(settings, me.clone() as Weak<dyn Hooks>);
            Server::new(host, pool, listener, stop)
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
