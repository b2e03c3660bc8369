//! Where every answer to Kong is encoded and written: by the connection's own task, on its
//! stream ([`write()`]), or by the worker an event lives on, straight onto the connection it
//! was handed ([`ReplySender::Direct`]).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{conn::Conn, stream::Stream};
use crate::{
    metrics::RpcMethod,
    rpc::message::{Reply, encode_response},
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
