//! The MsgPack:1 session: one task per connection on the worker that owns it, its requests
//! answered in order.
//!
//! Kong never pipelines, but nothing breaks if a client does: every complete frame in the buffer
//! is answered in turn. A frame that is not MessagePack at all closes the connection (there is
//! no way to find where the next request starts); a well-formed but wrong request gets an error
//! response when it has a msgid.
//!
//! A connection can change worker between two requests (see [`crate::workers::Hooks::handover`]): its
//! task claims it before each read, and ends when another worker owns it. Between requests it
//! goes to the worker its Kong process is placed on, if that is another.

use std::{os::unix::net::UnixStream, rc::Rc, sync::Arc};

use super::claim::{claim, settle};
use crate::serving::{
    conn::Conn,
    local::Local,
    operations::operate,
    reply::{self, Answering, Dispatched, Via},
    stream::Stream,
};
use crate::{
    budget::Buffer,
    metrics::{RpcMethod, count_rpc},
    op,
    wire::msgpack::{
        frame::Framer,
        message::{Incoming, decode},
    },
};

/// Serves `conn` while this worker owns it and the client keeps it open.
pub async fn serve(local: Rc<Local>, conn: Arc<Conn>) {
    let me = local.worker.index;
    let stream = conn.socket().map(UnixStream::from).and_then(Stream::new);
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!("cannot serve a connection: {e}");
            return;
        }
    };
    let mut out = Vec::with_capacity(4096);
    loop {
        if !claim(&conn, me).await {
            return;
        }
        let mut buf = conn.take_buf();
        let mut framer = Framer::default();
        // Answer what is buffered (a connection that moved brings what it had read), then
        // read and answer until nothing more comes.
        let mut state = State::Open;
        let mut first = true;
        loop {
            if !first {
                match stream.try_read(&mut buf.bytes) {
                    Ok(None) => break,
                    Ok(Some(0)) | Err(_) => {
                        state = State::Close;
                        break;
                    }
                    Ok(_) => {
                        if let Err(e) = buf.account() {
                            tracing::warn!("closing a connection: {e}");
                            state = State::Close;
                            break;
                        }
                    }
                }
            }
            first = false;
            state =
                answer_frames(&local, &conn, &mut stream, &mut buf, &mut framer, &mut out).await;
            if state != State::Open {
                break;
            }
        }
        if state == State::Handed {
            // The worker answering holds the claim now, and nothing was left in the buffer.
            if stream.readable().await.is_err() {
                return;
            }
            continue;
        }
        let idle = buf.bytes.is_empty();
        conn.put_buf(buf);
        if !settle(&local, &conn, state == State::Open, idle, serve) {
            return;
        }
        if stream.readable().await.is_err() {
            return;
        }
    }
}

/// What became of a connection after its buffered requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Answered; read on.
    Open,
    /// To be closed.
    Close,
    /// The last request went to the worker its event lives on, which answers it on the
    /// connection and gives the claim back.
    Handed,
}

/// Answers every complete frame at the front of `buf` and removes them. `framer` holds where
/// the walk of an incomplete request stopped, so it goes on from there at the next read.
async fn answer_frames(
    local: &Local,
    conn: &Arc<Conn>,
    stream: &mut Stream,
    buf: &mut Buffer,
    framer: &mut Framer,
    out: &mut Vec<u8>,
) -> State {
    let limits = local.host().settings.limits;
    // Answered frames are removed once at the end: removing each one from the front would
    // move the rest every time, quadratic in a burst of small requests.
    let mut start = 0;
    let state = loop {
        let len = match framer.next(&buf.bytes[start..], limits) {
            Ok(Some(len)) => len,
            Ok(None) => break State::Open,
            Err(e) => {
                tracing::warn!("closing a connection: {e}");
                break State::Close;
            }
        };
        let end = start + len;
        out.clear();
        match decode(&buf.bytes[start..end]) {
            Incoming::Request(incoming) => {
                let msgid = incoming.msgid;
                let rpc = crate::metrics::get().map(|metrics| {
                    let rpc = RpcMethod::of(&incoming.method);
                    metrics.rpc(rpc);
                    rpc
                });
                let dispatched = match op::msgpack::decode(&incoming.method, incoming.param) {
                    Ok(request) => {
                        let answering = Answering {
                            conn,
                            stream: &mut *stream,
                            buf: &mut buf.bytes,
                            end,
                            msgid: &msgid,
                            rpc,
                        };
                        operate(local, request, Via::Connection(answering))
                    }
                    Err(e) => Dispatched::Now(Err(e.into())),
                };
                let Some(outcome) = dispatched.outcome().await else {
                    buf.bytes.clear();
                    let _ = buf.account();
                    return State::Handed;
                };
                reply::encode(&msgid, &outcome, rpc, out);
            }
            Incoming::Notification => {}
            Incoming::Malformed {
                msgid: Some(msgid),
                reason,
            } => {
                count_rpc(RpcMethod::INVALID, true);
                reply::encode(&msgid, &Err(reason.into()), None, out);
            }
            Incoming::Malformed {
                msgid: None,
                reason,
            } => {
                count_rpc(RpcMethod::INVALID, true);
                tracing::warn!("closing a connection: {reason}");
                break State::Close;
            }
        }
        start = end;
        if !out.is_empty() && reply::write(stream, out).await.is_err() {
            break State::Close;
        }
    };
    buf.bytes.drain(..start);
    // Only shrinks: it cannot fail.
    let _ = buf.account();
    state
}
