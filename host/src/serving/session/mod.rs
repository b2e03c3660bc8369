//! A session: the task that serves one connection on the worker that owns it, one per dialect
//! ([`msgpack`], [`protobuf`]), and what both do around each request: claim the connection
//! before reading ([`claim`]) and, once answered, settle where it goes next ([`settle`]).

pub mod msgpack;
pub mod protobuf;

use std::{rc::Rc, sync::Arc, time::Duration};

use super::{
    conn::Conn,
    local::{self, Local},
    server::Server,
};
use crate::dialect::Dialect;

/// Sends `conn` to the worker that owns it now, whose session serves it from then on; `false`
/// when that worker has stopped.
pub fn adopt(server: &Server, conn: Arc<Conn>) -> bool {
    match server.host.settings.dialect {
        Dialect::MsgPack => local::adopt(server, conn, msgpack::serve),
        Dialect::ProtoBuf => local::adopt(server, conn, protobuf::serve),
    }
}

/// Starts the session of `conn` on this worker, which owns it.
pub fn start(local: &Rc<Local>, conn: Arc<Conn>) {
    let local = Rc::clone(local);
    match local.host().settings.dialect {
        Dialect::MsgPack => tokio::task::spawn_local(msgpack::serve(local, conn)),
        Dialect::ProtoBuf => tokio::task::spawn_local(protobuf::serve(local, conn)),
    };
}

/// Claims `conn` for the next request on worker `me`; `false` when the session is over: another
/// worker owns the connection now, or it was handed to another engine, which reads what Kong
/// sends from now on.
pub async fn claim(conn: &Conn, me: usize) -> bool {
    // Whoever else holds the claim holds it for a moment: a session that lost the connection,
    // the watchdog moving it, or a worker writing an answer on it.
    let mut tries = 0u32;
    loop {
        if conn.owner() != me {
            return false;
        }
        if conn.claim() {
            break;
        }
        tries += 1;
        if tries < 64 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    if conn.owner() != me || conn.handed() {
        conn.release();
        return false;
    }
    true
}

/// Releases `conn` after a request, its buffer put back (`idle`: nothing left in it); whether
/// this session goes on serving it. An open, idle connection of an engine being replaced goes
/// on to the new one (see [`super::handover`]). A Kong process's connections gather on its
/// serving worker, where its events live: they are placed there when accepted, and only a
/// worker replaced while it held one (see [`Server`]'s handover) has any to send home.
pub fn settle(local: &Local, conn: &Arc<Conn>, open: bool, idle: bool) -> bool {
    let server = &local.server;
    if open && idle && server.handover.hand_on(conn) {
        conn.release();
        return false;
    }
    let me = local.worker.index;
    let home = if local.worker.serves() {
        me
    } else {
        conn.home()
    };
    if open && home != me && !server.pool.stopping() {
        conn.set_owner(home);
        conn.release();
        adopt(server, Arc::clone(conn));
        return false;
    }
    conn.release();
    open
}
