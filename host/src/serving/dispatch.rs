//! Routes each request to the function of its method. Every method Kong or its tools send is
//! here by name; anything else gets go-pluginserver's `rpc: can't find method` error.

use super::{
    local::Local,
    methods::{events, instances, status},
    reply::{Answering, Dispatched},
};
use crate::wire::msgpack::message::Request;

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
        "StepError" => events::step_error(local, &param, answering),
        // `Step` and its typed variants (the ones Kong picks by PDK method are named in
        // `metrics::RPC_METHODS`); Kong honours a `_method` field in PDK results, so others
        // can appear: all carry the answer in `Data`.
        other if other.starts_with("Step") => events::step(local, &param, answering),
        _ => Dispatched::Now(Err(format!("rpc: can't find method {method}"))),
    }
}
