//! Kong's MsgPack:1 requests read into the one vocabulary of serving ([`crate::op::Request`]):
//! each `plugin.*` method by name, its parameter checked here. Any other method gets
//! go-pluginserver's `rpc: can't find method` error.

use plugin_abi::ffi::{BridgeError, BridgeErrorKind};
use rmpv::Value;

use super::params::{bytes, field, text, uint};
use crate::op::Request;

/// The operation `plugin.{method}` with parameter `param` asks for.
pub fn decode(method: &str, param: Value) -> Result<Request, String> {
    let name = method.strip_prefix("plugin.").unwrap_or("");
    match name {
        "SetPluginDir" => {
            let dir = text(&param).ok_or("plugin.SetPluginDir takes a directory path")?;
            Ok(Request::SetPluginDir { dir })
        }
        "GetStatus" => Ok(Request::GetStatus),
        "GetPluginInfo" => {
            let name = text(&param).ok_or("plugin.GetPluginInfo takes a plugin name")?;
            Ok(Request::PluginInfo { name })
        }
        "StartInstance" => start_instance(&param),
        "InstanceStatus" => Ok(Request::InstanceStatus {
            id: instance_id(&param)?,
        }),
        "CloseInstance" => Ok(Request::CloseInstance {
            id: instance_id(&param)?,
        }),
        "HandleEvent" => handle_event(&param),
        "StepError" => {
            let message = field(&param, "Data")
                .map(|v| text(v).unwrap_or_else(|| v.to_string()))
                .unwrap_or_else(|| "unknown error".into());
            Ok(Request::Step {
                event_id: event_id(&param)?,
                answer: Err(BridgeError::new(BridgeErrorKind::KONG, message)),
            })
        }
        // `Step` and its typed variants (the ones Kong picks by PDK method are named in
        // `metrics::RPC_METHODS`); Kong honours a `_method` field in PDK results, so others
        // can appear: all carry the answer in `Data`, whose absence is the `nil` the handler
        // receives.
        other if other.starts_with("Step") => {
            let mut data = Vec::new();
            let value = field(&param, "Data").unwrap_or(&Value::Nil);
            // Writes into a Vec cannot fail.
            let _ = rmpv::encode::write_value(&mut data, value);
            Ok(Request::Step {
                event_id: event_id(&param)?,
                answer: Ok(data),
            })
        }
        _ => Err(format!("rpc: can't find method {method}")),
    }
}

/// `plugin.StartInstance {Name, Config}`: Kong sends the JSON text as str or bin; an absent
/// config is an empty one.
fn start_instance(param: &Value) -> Result<Request, String> {
    let name = field(param, "Name")
        .and_then(text)
        .ok_or("plugin.StartInstance: Name must be the plugin name")?;
    let config = match field(param, "Config") {
        None => Vec::new(),
        Some(v) => bytes(v)
            .ok_or("Decoding config: Config must be JSON text")?
            .to_vec(),
    };
    Ok(Request::StartInstance { name, config })
}

/// `plugin.HandleEvent {InstanceId, EventName}`.
fn handle_event(param: &Value) -> Result<Request, String> {
    let instance_id = field(param, "InstanceId")
        .and_then(uint)
        .ok_or("plugin.HandleEvent: InstanceId must be a non-negative integer")?;
    let event = field(param, "EventName")
        .and_then(text)
        .ok_or("plugin.HandleEvent: EventName must be a phase name")?;
    Ok(Request::HandleEvent { instance_id, event })
}

fn instance_id(param: &Value) -> Result<u64, String> {
    uint(param).ok_or_else(|| format!("an instance id must be a non-negative integer, got {param}"))
}

fn event_id(param: &Value) -> Result<u64, String> {
    field(param, "EventId")
        .and_then(uint)
        .ok_or_else(|| "plugin.Step: EventId must be a non-negative integer".to_owned())
}
