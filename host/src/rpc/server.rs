//! The connection loop: one task per connection, requests answered in order. Every task runs
//! on the one serving thread (see [`crate::events`] for why).
//!
//! Kong never pipelines, but nothing breaks if a client does: every complete frame in the buffer
//! is answered in turn. A frame that is not MessagePack at all closes the connection (there is
//! no way to find where the next request starts); a well-formed but wrong request gets an error
//! response when it has a msgid.

use std::rc::Rc;

use tokio::{net::UnixListener, sync::watch};

use super::{
    dispatch::dispatch,
    frame::object_len,
    message::{Incoming, decode, encode_response, server_pid_notification},
    stream::Stream,
};
use crate::host::Serving;

/// Largest request accepted; Kong's largest are raw bodies in Step answers.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Accepts connections until `stop` turns true.
pub async fn accept_loop(
    serving: Rc<Serving>,
    listener: UnixListener,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match stream.into_std().and_then(Stream::new) {
                    Ok(stream) => {
                        tokio::task::spawn_local(serve_connection(Rc::clone(&serving), stream));
                    }
                    Err(e) => tracing::warn!("cannot serve a new connection: {e}"),
                },
                Err(e) => {
                    // EMFILE and friends: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
}

/// Serves one connection until the client closes it.
pub async fn serve_connection(serving: Rc<Serving>, mut stream: Stream) {
    if let Err(e) = stream
        .write_all(&server_pid_notification(serving.host.pid))
        .await
    {
        tracing::debug!("client left before serverPid: {e}");
        return;
    }
    let mut buf = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(4096);
    loop {
        loop {
            let len = match object_len(&buf) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("closing a connection: {e}");
                    return;
                }
            };
            out.clear();
            match decode(&buf[..len]) {
                Incoming::Request(request) => {
                    let msgid = request.msgid.clone();
                    let outcome = dispatch(&serving, request);
                    encode_response(&msgid, &outcome, &mut out);
                }
                Incoming::Notification => {}
                Incoming::Malformed {
                    msgid: Some(msgid),
                    reason,
                } => {
                    encode_response(&msgid, &Err(reason), &mut out);
                }
                Incoming::Malformed {
                    msgid: None,
                    reason,
                } => {
                    tracing::warn!("closing a connection: {reason}");
                    return;
                }
            }
            buf.drain(..len);
            if !out.is_empty() && stream.write_all(&out).await.is_err() {
                return;
            }
        }
        if buf.len() > MAX_FRAME {
            tracing::warn!("closing a connection: request larger than {MAX_FRAME} bytes");
            return;
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
