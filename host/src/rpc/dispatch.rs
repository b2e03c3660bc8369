//! Routes each request to the function of its method. Every method Kong or its tools send is
//! here by name; anything else gets go-pluginserver's `rpc: can't find method` error.

use super::{
    message::{Reply, Request},
    methods::{events, instances, status},
};
use crate::host::Serving;

/// Answers one request.
pub fn dispatch(serving: &Serving, request: Request) -> Result<Reply, String> {
    let host = &serving.host;
    let Request { method, param, .. } = request;
    let name = method.strip_prefix("plugin.").unwrap_or("");
    match name {
        "SetPluginDir" => status::set_plugin_dir(host, &param),
        "GetStatus" => status::get_status(host),
        "GetPluginInfo" => status::get_plugin_info(host, &param),
        "StartInstance" => instances::start_instance(host, &param),
        "InstanceStatus" => instances::instance_status(host, &param),
        "CloseInstance" => instances::close_instance(host, &param),
        "HandleEvent" => events::handle_event(serving, &param),
        "Step" | "StepMultiMap" | "StepCredential" | "StepConsumer" | "StepRoute"
        | "StepService" | "StepMemoryStats" => events::step(serving, &param),
        "StepError" => events::step_error(serving, &param),
        // Kong honours a `_method` field in PDK results, so other Step variants can appear.
        other if other.starts_with("Step") => events::step(serving, &param),
        _ => Err(format!("rpc: can't find method {method}")),
    }
}
