//! Where the answer to an operation goes when another worker gives it: back to the connection's
//! task, which awaits it, or, over MsgPack:1, straight onto the connection the answering
//! worker was handed ([`ReplySender::Direct`]).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{conn::Conn, stream::Stream};
use crate::{
    metrics::RpcMethod,
    op::{Outcome, msgpack as response},
};

/// Encodes the MsgPack:1 response to request `msgid` into `out` (cleared first), counting an
/// error answer of method `rpc` when metrics are on.
pub fn encode(msgid: &rmpv::Value, outcome: &Outcome, rpc: Option<RpcMethod>, out: &mut Vec<u8>) {
    if outcome.is_err()
        && let (Some(metrics), Some(rpc)) = (crate::metrics::get(), rpc)
    {
        metrics.rpc_error(rpc);
    }
    out.clear();
    response::encode(msgid, outcome, out);
}

/// Where the answer to a request another worker answers goes.
pub enum ReplySender {
    /// Back to the connection's task, which writes it.
    Channel(oneshot::Sender<Outcome>),
    /// Straight to a MsgPack:1 connection, whose claim the answering worker was handed with
    /// the request and gives back once it has written.
    Direct {
        /// The connection.
        conn: Arc<Conn>,
        /// The request's msgid.
        msgid: rmpv::Value,
        /// Its method, when metrics count errors.
        rpc: Option<RpcMethod>,
    },
}

impl ReplySender {
    /// Sends the answer.
    pub fn send(self, outcome: Outcome) {
        match self {
            ReplySender::Channel(sender) => {
                // The connection's task gave up only if its connection is gone.
                let _ = sender.send(outcome);
            }
            ReplySender::Direct { conn, msgid, rpc } => {
                let mut out = Vec::with_capacity(256);
                encode(&msgid, &outcome, rpc, &mut out);
                if let Err(e) = conn.write_all(&out) {
                    tracing::debug!("cannot answer on a connection: {e}");
                }
                conn.release();
            }
        }
    }
}

/// What doing an operation gave: the outcome, or the promise of one from the worker thread
/// the request's event lives on.
pub enum Dispatched {
    /// The outcome.
    Now(Outcome),
    /// Another worker answers, through this channel.
    Later(oneshot::Receiver<Outcome>),
    /// Another worker answers on the connection itself, and gives its claim back.
    Handed,
}

impl Dispatched {
    /// The outcome, once it is there; `None` when another worker answered on the connection.
    pub async fn outcome(self) -> Option<Outcome> {
        match self {
            Dispatched::Now(outcome) => Some(outcome),
            Dispatched::Later(answer) => Some(
                answer
                    .await
                    .unwrap_or_else(|_| Err("pluginhost is stopping".into())),
            ),
            Dispatched::Handed => None,
        }
    }
}

impl From<Outcome> for Dispatched {
    fn from(outcome: Outcome) -> Self {
        Dispatched::Now(outcome)
    }
}

/// How an operation another worker finishes gets its answer back.
pub enum Via<'c> {
    /// Through a channel the connection's task awaits (every ProtoBuf:1 call: its task holds
    /// the connection for the whole event).
    Channel,
    /// Written on the MsgPack:1 connection by the answering worker when nothing else waits.
    Connection(Answering<'c>),
}

/// A MsgPack:1 request another worker may answer on its connection.
pub struct Answering<'c> {
    /// The connection the request came on.
    pub conn: &'c Arc<Conn>,
    /// Its stream on this worker.
    pub stream: &'c mut Stream,
    /// Its buffer, holding the request.
    pub buf: &'c mut Vec<u8>,
    /// Where the request ends in `buf`.
    pub end: usize,
    /// The request's msgid.
    pub msgid: &'c rmpv::Value,
    /// Its method, when metrics count errors.
    pub rpc: Option<RpcMethod>,
}

impl Via<'_> {
    /// Where the answer goes, and what the reader then waits for. The answering worker writes
    /// on a MsgPack:1 connection itself when nothing else waits behind the request: a read
    /// finds nothing more, which also clears the readiness, so the reader then sleeps until
    /// the client's next request.
    pub fn reply(self) -> (ReplySender, Dispatched) {
        if let Via::Connection(answering) = self {
            let alone = answering.end == answering.buf.len()
                && matches!(answering.stream.try_read(answering.buf), Ok(None));
            if alone {
                return (
                    ReplySender::Direct {
                        conn: Arc::clone(answering.conn),
                        msgid: answering.msgid.clone(),
                        rpc: answering.rpc,
                    },
                    Dispatched::Handed,
                );
            }
        }
        let (sender, receiver) = oneshot::channel();
        (ReplySender::Channel(sender), Dispatched::Later(receiver))
    }
}

/// Writes encoded responses on the connection's stream, waiting while Kong does not read.
pub async fn write(stream: &Stream, out: &[u8]) -> std::io::Result<()> {
    stream.write_all(out).await
}
