//! Routes each request to the function of its method. Every method Kong or its tools send is
//! here by name; anything else gets go-pluginserver's `rpc: can't find method` error.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{
    conn::Conn,
    local::Local,
    methods::{events, instances, status},
    reply::{Outcome, ReplySender},
    stream::Stream,
};
use crate::rpc::message::Request;

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

/// Answers one request; `answering` says how, if another worker answers it.
pub fn dispatch(local: &Local, request: Request, answering: Answering<'_>) -> Dispatched {
    let host = local.host();
    let Request { method, param, .. } = request;
    let name = method.strip_prefix("plugin.").unwrap_or("");
    match name {
        "SetPluginDir" => status::set_plugin_dir(host, &param).into(),
        "GetStatus" => status::get_status(host).into(),
        "GetPluginInfo" => status::get_plugin_info(host, &param).into(),
        "StartInstance" => instances::start_instance(host, &param).into(),
        "InstanceStatus" => instances::instance_status(host, &param).into(),
        "CloseInstance" => instances::close_instance(host, &param).into(),
        "HandleEvent" => events::handle_event(local, &param, answering),
        "Step" | "StepMultiMap" | "StepCredential" | "StepConsumer" | "StepRoute"
        | "StepService" | "StepMemoryStats" => events::step(local, &param, answering),
        "StepError" => events::step_error(local, &param, answering),
        // Kong honours a `_method` field in PDK results, so other Step variants can appear.
        other if other.starts_with("Step") => events::step(local, &param, answering),
        _ => Dispatched::Now(Err(format!("rpc: can't find method {method}"))),
    }
}
