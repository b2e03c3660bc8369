//! The operations Kong asks for, written once for both dialects against the engine: each
//! [`Request`] a dialect read is done here, by name, and its [`crate::op::Outcome`] goes back to
//! the dialect that writes it. One file per group.

pub mod events;
pub mod instances;
pub mod plugins;

use super::{
    local::Local,
    reply::{Dispatched, Via},
};
use crate::op::Request;

/// Does `request`; `via` says where the answer goes when another worker gives it.
pub fn operate(local: &Local, request: Request, via: Via<'_>) -> Dispatched {
    let host = local.host();
    match request {
        Request::PluginNames => plugins::plugin_names(host).into(),
        Request::PluginInfo { name } => plugins::plugin_info(host, &name).into(),
        Request::GetStatus => plugins::get_status(host).into(),
        Request::SetPluginDir { dir } => plugins::set_plugin_dir(host, &dir).into(),
        Request::StartInstance { name, config } => {
            instances::start_instance(host, &name, &config).into()
        }
        Request::InstanceStatus { id } => instances::instance_status(host, id).into(),
        Request::CloseInstance { id } => instances::close_instance(host, id).into(),
        Request::HandleEvent { instance_id, event } => {
            events::handle_event(local, instance_id, &event, via)
        }
        Request::Step { event_id, answer } => events::step(local, event_id, answer, via),
    }
}
