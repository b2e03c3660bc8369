//! The one vocabulary over ProtoBuf:1: each `RpcCall`'s command read into a [`Request`]
//! ([`decode`]), and what an operation gave written as the `RpcReturn`'s return
//! ([`returned`]). Kong's answer to a PDK call is read by [`crate::wire::protobuf::answers`].

use super::{Done, Request};
use crate::wire::{
    msgpack::message::from_json,
    protobuf::{
        messages::{Call, InstanceStatus, PluginInfo, PluginNames, Return},
        structpb::to_value,
    },
};

/// The command's name, as Kong's `RpcCall` field names it (the metrics' label).
pub fn name(call: Option<&Call>) -> &'static str {
    match call {
        Some(Call::CmdGetPluginNames(_)) => "cmd_get_plugin_names",
        Some(Call::CmdGetPluginInfo(_)) => "cmd_get_plugin_info",
        Some(Call::CmdStartInstance(_)) => "cmd_start_instance",
        Some(Call::CmdGetInstanceStatus(_)) => "cmd_get_instance_status",
        Some(Call::CmdCloseInstance(_)) => "cmd_close_instance",
        Some(Call::CmdHandleEvent(_)) => "cmd_handle_event",
        None => "",
    }
}

/// The operation an `RpcCall`'s command asks for.
pub fn decode(call: Option<Call>) -> Result<Request, String> {
    Ok(match call {
        Some(Call::CmdGetPluginNames(_)) => Request::PluginNames,
        Some(Call::CmdGetPluginInfo(cmd)) => Request::PluginInfo { name: cmd.name },
        Some(Call::CmdStartInstance(cmd)) => Request::StartInstance {
            name: cmd.name,
            config: cmd.config,
        },
        Some(Call::CmdGetInstanceStatus(cmd)) => Request::InstanceStatus {
            id: instance_id(cmd.instance_id)?,
        },
        Some(Call::CmdCloseInstance(cmd)) => Request::CloseInstance {
            id: instance_id(cmd.instance_id)?,
        },
        Some(Call::CmdHandleEvent(cmd)) => Request::HandleEvent {
            instance_id: instance_id(cmd.instance_id)?,
            event: cmd.event_name,
        },
        None => return Err("an RpcCall with no command this server knows".into()),
    })
}

/// Ids are made below 2^31 in this dialect (see `Host::new`): a negative one names no
/// instance, which Kong learns of by the close.
fn instance_id(id: i32) -> Result<u64, String> {
    u64::try_from(id).map_err(|_| format!("no plugin instance {id}"))
}

/// What `done` returns to Kong; `None` for what no command of this dialect gives.
pub fn returned(done: &Done) -> Option<Return> {
    Some(match done {
        Done::Plugins(plugins) => Return::PluginNames(PluginNames {
            names: plugins.iter().map(|p| p.name().to_owned()).collect(),
        }),
        Done::Plugin(plugin) => {
            let info = &plugin.info;
            Return::PluginInfo(PluginInfo {
                name: info.name.clone(),
                phases: crate::dump::kong_phases(info)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                version: info.version.clone(),
                priority: i32::try_from(info.priority).unwrap_or(i32::MAX),
                schema: info.schema.to_string(),
                ..Default::default()
            })
        }
        Done::Instance(instance) => Return::InstanceStatus(InstanceStatus {
            name: instance.plugin.name().to_owned(),
            instance_id: i32::try_from(instance.id).unwrap_or(i32::MAX),
            config: Some(to_value(&from_json(&instance.config))),
            started_at: i64::try_from(instance.start_time).unwrap_or(0),
        }),
        Done::Event(_) | Done::Status(_) | Done::Ok => return None,
    })
}
