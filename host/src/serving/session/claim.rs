//! What a session does around each request, in both dialects: claim the connection before
//! reading ([`claim`]) and, once the request is answered, settle where it goes next
//! ([`settle`]).

use std::{rc::Rc, sync::Arc, time::Duration};

use crate::serving::{
    conn::Conn,
    local::{self, Local},
};

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
/// on to the new one (see [`crate::serving::handover`]). A Kong process's connections gather on its
/// serving worker, where its events live: they are placed there when accepted, and only a
/// worker replaced while it held one (see [`crate::serving::Server`]'s handover) has any to send home.
/// `serve` is the session's own task, which serves the connection on the worker it goes to.
pub fn settle<F, S>(local: &Local, conn: &Arc<Conn>, open: bool, idle: bool, serve: S) -> bool
where
    S: FnOnce(Rc<Local>, Arc<Conn>) -> F + Send + 'static,
    F: Future<Output = ()> + 'static,
{
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
        local::adopt(server, Arc::clone(conn), serve);
        return false;
    }
    conn.release();
    open
}
