//! Serving Kong's ProtoBuf:1 dialect: one task per connection, one `RpcCall` at a time, and a
//! `cmd_handle_event` keeps the connection for its whole event.
//!
//! The event itself runs as in MsgPack:1 (see [`crate::events`]): a coroutine suspended at
//! each PDK call, on this worker or on one of its own as its phase's pace says. Only the way
//! its calls reach Kong differs: each is written here as a method-name frame and an argument
//! frame, and Kong's answer frame is read here, translated both ways so that a plugin sees the
//! same values in both dialects ([`crate::wire::protobuf::args`], [`crate::wire::protobuf::answers`]).
//!
//! Errors follow Kong's side of the dialect (see the protocol's section on ProtoBuf:1): an
//! unknown instance closes the connection, which Kong 3.0+ takes as "instance lost" and
//! retries with a new one; a handler's error or panic ends the event normally (empty frame,
//! `RpcReturn`) and is logged, because Kong 3.8+ answers any other failure with HTTP 500 and
//! Kong 3.0 - 3.7 would retry without end. A connection that reaches its end mid-event ends
//! the event at once: Kong has given up on it.
//!
//! The task holds the connection's claim from an `RpcCall` to its `RpcReturn`, so a handover
//! (see [`crate::workers::Hooks::handover`]) moves only connections between events.

use std::{ops::Range, os::unix::net::UnixStream, rc::Rc, sync::Arc};

use plugin_abi::ffi::{BridgeError, BridgeErrorKind};
use prost::Message;

use super::claim::{claim, settle};
use crate::serving::{
    conn::Conn,
    local::Local,
    operations::{events::abandon, operate},
    reply::Via,
    stream::Stream,
};
use crate::{
    budget::Buffer,
    events::Progress,
    metrics::{RpcMethod, count_rpc},
    op::{
        Done, Failure, Outcome, Request,
        protobuf::{self as request, returned},
    },
    wire::protobuf::{
        answers, args, frame,
        messages::{RpcCall, RpcReturn},
        methods,
    },
};

/// What became of the connection after a call.
enum After {
    /// Answered: read the next call.
    Open,
    /// Close it (an error Kong learns of by the close, or Kong left).
    Close,
}

/// One connection's stream, what was read from it and what is to be written.
struct Session {
    stream: Stream,
    buf: Buffer,
    out: Vec<u8>,
    scratch: Vec<u8>,
    limit: usize,
}

impl Session {
    /// The next frame's payload range in `buf` (whose frame the caller drains with
    /// [`Session::consume`]); `None` when the connection ended or must close.
    async fn frame(&mut self) -> Option<Range<usize>> {
        loop {
            match frame::next(&self.buf.bytes, self.limit) {
                Ok(Some(payload)) => return Some(payload),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("closing a connection: {e}");
                    return None;
                }
            }
            match self.stream.try_read(&mut self.buf.bytes) {
                Ok(Some(0)) | Err(_) => return None,
                Ok(Some(_)) => {
                    if let Err(e) = self.buf.account() {
                        tracing::warn!("closing a connection: {e}");
                        return None;
                    }
                }
                Ok(None) => self.stream.readable().await.ok()?,
            }
        }
    }

    /// Drops the frame whose payload ends at `end`.
    fn consume(&mut self, end: usize) {
        self.buf.bytes.drain(..end);
        // Only shrinks: it cannot fail.
        let _ = self.buf.account();
    }

    /// Writes what `out` holds.
    async fn flush(&mut self) -> bool {
        let sent = self.stream.write_all(&self.out).await.is_ok();
        self.out.clear();
        sent
    }
}

/// Serves `conn` while this worker owns it and Kong keeps it open.
pub async fn serve(local: Rc<Local>, conn: Arc<Conn>) {
    let me = local.worker.index;
    let stream = match conn.socket().map(UnixStream::from).and_then(Stream::new) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!("cannot serve a connection: {e}");
            return;
        }
    };
    let budget = Arc::clone(&local.host().buffers);
    let mut session = Session {
        stream,
        buf: Buffer::new(Arc::clone(&budget)),
        out: Vec::with_capacity(256),
        scratch: Vec::with_capacity(256),
        limit: local.host().settings.limits.max_bytes,
    };
    let handover = &local.server.handover;
    loop {
        // Between calls the connection is not claimed, so that a handover can move it; it
        // is claimed once the next call's first bytes are there.
        if session.stream.readable().await.is_err() {
            return;
        }
        if !claim(&conn, me).await {
            return;
        }
        session.buf = conn.take_buf();
        if session.buf.bytes.is_empty() {
            let read = session.stream.try_read(&mut session.buf.bytes);
            let nothing = matches!(read, Ok(None));
            let ended = matches!(read, Ok(Some(0)) | Err(_));
            let over = session.buf.account().err();
            if nothing || ended || over.is_some() {
                if let Some(e) = over {
                    tracing::warn!("closing a connection: {e}");
                }
                let buf = std::mem::replace(&mut session.buf, Buffer::new(Arc::clone(&budget)));
                conn.put_buf(buf);
                // Replaced by another engine: an idle connection goes to it.
                let handed = nothing && handover.hand_on(&conn);
                conn.release();
                if nothing && !handed {
                    continue;
                }
                return;
            }
        }
        let after = match session.frame().await {
            Some(payload) => {
                let call = RpcCall::decode(&session.buf.bytes[payload.clone()]);
                session.consume(payload.end);
                match call {
                    Ok(call) => answer(&local, &mut session, call).await,
                    Err(e) => {
                        count_rpc(RpcMethod::INVALID, true);
                        tracing::warn!("closing a connection: not a ProtoBuf:1 RpcCall: {e}");
                        After::Close
                    }
                }
            }
            None => After::Close,
        };
        let buf = std::mem::replace(&mut session.buf, Buffer::new(Arc::clone(&budget)));
        let idle = buf.bytes.is_empty();
        conn.put_buf(buf);
        if !settle(&local, &conn, matches!(after, After::Open), idle, serve) {
            return;
        }
    }
}

/// Does the operation `request` asks for, answered here or by the worker its event lives on.
async fn run(local: &Local, request: Request) -> Outcome {
    operate(local, request, Via::Channel)
        .outcome()
        .await
        .unwrap_or_else(|| Err("pluginhost is stopping".into()))
}

/// Answers one `RpcCall`.
async fn answer(local: &Rc<Local>, session: &mut Session, call: RpcCall) -> After {
    let sequence = call.sequence;
    let label = match request::name(call.call.as_ref()) {
        "" => RpcMethod::INVALID,
        name => RpcMethod::of(name),
    };
    let request = request::decode(call.call);
    let outcome = match request {
        Ok(start @ Request::HandleEvent { .. }) => {
            count_rpc(label, false);
            return handle_event(local, session, sequence, start).await;
        }
        Ok(request) => run(local, request).await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    count_rpc(label, outcome.is_err());
    match outcome.map(|done| returned(&done)) {
        Ok(Some(r)) => {
            let ret = RpcReturn {
                sequence,
                r#return: Some(r),
            };
            frame::push_with(&mut session.out, |out| ret.encode_raw(out));
            if session.flush().await {
                After::Open
            } else {
                After::Close
            }
        }
        Ok(None) => {
            tracing::warn!("closing a ProtoBuf:1 connection: an answer the dialect cannot carry");
            After::Close
        }
        Err(e) => {
            // The dialect has no error message: Kong learns of it by the close.
            tracing::warn!("closing a ProtoBuf:1 connection: {e}");
            After::Close
        }
    }
}

/// Runs one event: its PDK calls go out on `session` as they come, until the handler ends.
async fn handle_event(
    local: &Rc<Local>,
    session: &mut Session,
    sequence: i64,
    start: Request,
) -> After {
    let mut outcome = run(local, start).await;
    loop {
        let (id, method, call_args) = match outcome {
            Ok(Done::Event(Progress::Call {
                event_id,
                method,
                args,
            })) => (event_id, method, args),
            Ok(_) => return end_event(session, sequence).await,
            Err(Failure::NoInstance(id)) => {
                // Kong 3.0+ takes the close as "instance lost" and starts a new one.
                tracing::info!(
                    "closing a ProtoBuf:1 connection: no plugin instance {id} (Kong starts a new \
                     instance)"
                );
                return After::Close;
            }
            Err(e) => {
                // Logged where the handler ended; Kong goes on with the request, as over
                // MsgPack:1 (see the module's docs).
                tracing::debug!("a ProtoBuf:1 event failed: {e}");
                return end_event(session, sequence).await;
            }
        };
        // The events refuse any other call (see `Events::advance`).
        let Some(method) = methods::find(&method) else {
            abandon(local, id, GONE).await;
            return end_event(session, sequence).await;
        };
        session.scratch.clear();
        if let Err(e) = args::encode(method, &call_args, &mut session.scratch) {
            let refused = Err(BridgeError::new(BridgeErrorKind::HOST, e));
            outcome = run(
                local,
                Request::Step {
                    event_id: id,
                    answer: refused,
                },
            )
            .await;
            continue;
        }
        frame::push(&mut session.out, method.name.as_bytes());
        frame::push(&mut session.out, &session.scratch);
        let sent = session.flush().await;
        if crate::bridge::is_terminal(method.name) {
            // The event is over (see `Events::advance`). Kong ends the request, or, where
            // exit does not end it, answers, and then wants the event's end.
            return match sent.then_some(()).and(session.frame().await) {
                Some(payload) => {
                    session.consume(payload.end);
                    end_event(session, sequence).await
                }
                None => After::Close,
            };
        }
        let answer = match sent.then_some(()).and(session.frame().await) {
            Some(payload) => {
                count_rpc(RpcMethod::of("pdk_answer"), false);
                let answer = answers::decode(method, &session.buf.bytes[payload.clone()]);
                session.consume(payload.end);
                answer
            }
            None => {
                abandon(local, id, GONE).await;
                return After::Close;
            }
        };
        outcome = run(
            local,
            Request::Step {
                event_id: id,
                answer,
            },
        )
        .await;
    }
}

/// Why an event whose connection is gone ends.
const GONE: &str = "Kong closed the event's ProtoBuf:1 connection";

/// Ends the event for Kong: the empty frame, then the `RpcReturn` with the call's sequence.
async fn end_event(session: &mut Session, sequence: i64) -> After {
    frame::push(&mut session.out, &[]);
    let ret = RpcReturn {
        sequence,
        r#return: None,
    };
    frame::push_with(&mut session.out, |out| ret.encode_raw(out));
    if session.flush().await {
        After::Open
    } else {
        After::Close
    }
}
