//! Where every answer to Kong is encoded and written: by the connection's own task, on its
//! stream ([`write()`]), or by the worker an event lives on, straight onto the connection it
//! was handed ([`ReplySender::Direct`]).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{conn::Conn, stream::Stream};
use crate::{
    metrics::RpcMethod,
    wire::msgpack::message::{Reply, encode_response},
};

/// What answering a request gave.
pub type Outcome = Result<Reply, String>;

/// Encodes the response to request `msgid` into `out` (cleared first), counting an error
/// answer of method `rpc` when metrics are on.
pub fn encode(msgid: &rmpv::Value, outcome: &Outcome, rpc: Option<RpcMethod>, out: &mut Vec<u8>) {
    if outcome.is_err()
        && let (Some(metrics), Some(rpc)) = (crate::metrics::get(), rpc)
    {
        metrics.rpc_error(rpc);
    }
    out.clear();
    encode_response(msgid, outcome, out);
}

/// Writes encoded responses on the connection's stream, waiting while Kong does not read.
pub async fn write(stream: &Stream, out: &[u8]) -> std::io::Result<()> {
    stream.write_all(out).await
}

/// Where the answer to a request another worker answers goes.
pub enum ReplySender {
    /// Back to the connection's task, which writes it.
    Channel(oneshot::Sender<Outcome>),
    /// Straight to the connection, whose claim the answering worker was handed with the
    /// request and gives back once it has written.
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

/// What answering a request gave: the answer, or the promise of one from the worker thread
/// the request's event lives on.
pub enum Dispatched {
    /// The answer.
    Now(Outcome),
    /// Another worker answers, through this channel.
    Later(oneshot::Receiver<Outcome>),
    /// Another worker answers on the connection itself, and gives its claim back.
    Handed,
}

/// How a request that another worker answers gets its answer back.
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
    pub rpc: Option<crate::metrics::RpcMethod>,
}

impl Answering<'_> {
    /// Where the answer goes, and what the reader then waits for. The answering worker writes
    /// on the connection itself when nothing else waits behind the request: a read finds
    /// nothing more, which also clears the readiness, so the reader then sleeps until the
    /// client's next request.
    pub fn reply(self) -> (ReplySender, Dispatched) {
        let alone =
            self.end == self.buf.len() && matches!(self.stream.try_read(self.buf), Ok(None));
        if alone {
            return (
                ReplySender::Direct {
                    conn: Arc::clone(self.conn),
                    msgid: self.msgid.clone(),
                    rpc: self.rpc,
                },
                Dispatched::Handed,
            );
        }
        let (sender, receiver) = oneshot::channel();
        (ReplySender::Channel(sender), Dispatched::Later(receiver))
    }
}

impl From<Outcome> for Dispatched {
    fn from(outcome: Outcome) -> Self {
        Dispatched::Now(outcome)
    }
}
