//! Routes each request to the function of its method. Every method Kong or its tools send is
//! here by name; anything else gets go-pluginserver's `rpc: can't find method` error.

use tokio::sync::oneshot;

use super::{
    message::{Reply, Request},
    methods::{events, instances, status},
};
use crate::host::Serving;

/// What answering a request gave: the answer, or the promise of one from the worker thread
/// the request's event lives on.
pub enum Dispatched {
    /// The answer.
    Now(Result<Reply, String>),
    /// Another worker answers.
    Later(oneshot::Receiver<Result<Reply, String>>),
}

impl From<Result<Reply, String>> for Dispatched {
    fn from(outcome: Result<Reply, String>) -> Self {
        Dispatched::Now(outcome)
    }
}

/// Answers one request.
pub fn dispatch(serving: &Serving, request: Request) -> Dispatched {
    let host = &serving.host;
    let Request { method, param, .. } = request;
    let name = method.strip_prefix("plugin.").unwrap_or("");
    match name {
        "SetPluginDir" => status::set_plugin_dir(host, &param).into(),
        "GetStatus" => status::get_status(host).into(),
        "GetPluginInfo" => status::get_plugin_info(host, &param).into(),
        "StartInstance" => instances::start_instance(host, &param).into(),
        "InstanceStatus" => instances::instance_status(host, &param).into(),
        "CloseInstance" => instances::close_instance(host, &param).into(),
        "HandleEvent" => events::handle_event(serving, &param),
        "Step" | "StepMultiMap" | "StepCredential" | "StepConsumer" | "StepRoute"
        | "StepService" | "StepMemoryStats" => events::step(serving, &param),
        "StepError" => events::step_error(serving, &param),
        // Kong honours a `_method` field in PDK results, so other Step variants can appear.
        other if other.starts_with("Step") => events::step(serving, &param),
        _ => Dispatched::Now(Err(format!("rpc: can't find method {method}"))),
    }
}
