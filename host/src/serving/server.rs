//! The server: what every worker thread shares to serve Kong. Starting it, and what the
//! pool's hooks mean for serving, is [`super::hooks`].

use std::{
    os::fd::OwnedFd,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::watch;

use super::{conn::Conn, handover::HandOver, placement::Placement};
use crate::{host::Host, workers::Pool};

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
    /// The state of a server listening on `listener` with `pool`, until `stop` turns true.
    pub fn new(
        host: Arc<Host>,
        pool: Arc<Pool>,
        listener: OwnedFd,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Server {
            host,
            pool,
            placement: Arc::default(),
            handover: HandOver::default(),
            conns: Mutex::default(),
            listener: Mutex::new(Some(Arc::new(listener))),
            accepted: AtomicU64::new(0),
            stop,
        }
    }

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
