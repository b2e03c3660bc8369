//! Accepting: every serving worker accepts on the listening socket, greets each new connection
//! with `serverPid`, and places it on the serving worker of its Kong worker process.

use std::{
    io::Write,
    os::{fd::OwnedFd, unix::net::UnixStream},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use super::{
    conn::Conn,
    local::{Local, here},
    placement::UNKNOWN_PID,
    server::Server,
    session,
};
use crate::{dialect::Dialect, wire::msgpack::message::server_pid_notification};

/// Accepts connections while this worker serves and the server is not stopping.
pub async fn accept_loop(local: Rc<Local>, listener: Arc<OwnedFd>) {
    if local.accepting.replace(true) {
        return;
    }
    accept(&local, listener).await;
    local.accepting.set(false);
}

async fn accept(local: &Rc<Local>, listener: Arc<OwnedFd>) {
    let me = local.worker.index;
    let socket = match listener
        .try_clone()
        .map(std::os::unix::net::UnixListener::from)
        .and_then(|l| {
            l.set_nonblocking(true)?;
            tokio::net::UnixListener::from_std(l)
        }) {
        Ok(socket) => socket,
        Err(e) => {
            tracing::error!("cannot accept on the socket: {e}");
            return;
        }
    };
    drop(listener);
    let server = &local.server;
    let mut stop = server.stop_signal();
    while server.pool.is_serving(me) && !*stop.borrow() {
        tokio::select! {
            accepted = socket.accept() => match accepted.and_then(|(s, _)| s.into_std()) {
                Ok(stream) => {
                    server.count_accepted();
                    welcome(local, stream, false);
                }
                Err(e) => {
                    // EMFILE and friends: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => {}
        }
    }
}

/// Serves `stream`, a connection handed over by the engine this one replaces (or, with
/// `stays`, the link from the engine replacing this one, never handed on), as if accepted.
pub fn adopt_handed(server: &Server, stream: UnixStream, stays: bool) -> bool {
    let Some(&worker) = server.pool.serving().first() else {
        return false;
    };
    server
        .pool
        .send(worker, Box::new(move || welcome(&here(), stream, stays)))
}

/// Greets a new connection with `serverPid` (MsgPack:1 only: ProtoBuf:1 has no
/// notifications) and has the worker of its process serve it.
fn welcome(local: &Rc<Local>, stream: UnixStream, stays: bool) {
    let dialect = local.host().settings.dialect;
    // 16 bytes into a fresh socket's empty buffer: this never blocks.
    if dialect == Dialect::MsgPack
        && let Err(e) = (&stream).write_all(&server_pid_notification(local.host().pid))
    {
        tracing::debug!("client left before serverPid: {e}");
        return;
    }
    let pid = rustix::net::sockopt::socket_peercred(&stream)
        .map(|cred| cred.pid.as_raw_nonzero().get() as u32)
        .unwrap_or(UNKNOWN_PID);
    let server = &local.server;
    let conn = Arc::new(Conn::new(
        stream.into(),
        pid,
        Arc::clone(&server.placement),
        &server.pool.serving(),
        Arc::clone(&server.host.buffers),
    ));
    if stays {
        conn.keep_here();
    }
    server.track(&conn);
    if conn.owner() == local.worker.index {
        session::start(local, conn);
    } else {
        session::adopt(server, conn);
    }
}
