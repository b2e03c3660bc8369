//! The one vocabulary over MsgPack:1: each `plugin.*` request read into a [`Request`] by its
//! method's name ([`decode`], its parameter checked here; any other method gets
//! go-pluginserver's `rpc: can't find method` error), and each outcome written as the response
//! `[1, msgid, error, result]` ([`encode`]) in go-pluginserver's shapes: an instance is `{Name,
//! Id, Config, StartTime}`, a plugin's info `{Name, Phases, Version, Priority, Schema}`, an
//! event's progress `{EventId, Data}`; instances and the status are [`super::status`]'s.

use plugin_abi::ffi::{BridgeError, BridgeErrorKind};
use rmpv::Value;

use super::{
    Done, Outcome, Request,
    status::{self, instance_value},
};
use crate::{
    events::Progress,
    wire::msgpack::params::{bytes, field, text, uint},
};

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

/// Appends the response to request `msgid` to `out`. A step's PDK arguments are spliced in as
/// the plugin encoded them: re-encoding them would only cost time.
pub fn encode(msgid: &Value, outcome: &Outcome, out: &mut Vec<u8>) {
    // Writes into a Vec cannot fail.
    let _ = rmp::encode::write_array_len(out, 4);
    let _ = rmp::encode::write_uint(out, 1);
    let _ = rmpv::encode::write_value(out, msgid);
    let done = match outcome {
        Err(failure) => {
            let message = failure.to_string();
            let _ = rmp::encode::write_str(out, &crate::cap::cap(&message, crate::cap::MAX_TEXT));
            let _ = rmp::encode::write_nil(out);
            return;
        }
        Ok(done) => done,
    };
    let _ = rmp::encode::write_nil(out);
    let value = match done {
        Done::Event(progress) => return progress_value(progress, out),
        Done::Instance(instance) => instance_value(instance),
        Done::Plugin(plugin) => crate::dump::info_value(&plugin.info),
        Done::Plugins(plugins) => Value::Array(
            plugins
                .iter()
                .map(|plugin| Value::from(plugin.name()))
                .collect(),
        ),
        Done::Status(host) => status::value(host),
        Done::Ok => Value::from("ok"),
    };
    let _ = rmpv::encode::write_value(out, &value);
}

/// `{EventId, Data}`: `Data` is `{Method, Args}` for a PDK call, `"ret"` at the end.
fn progress_value(progress: &Progress, out: &mut Vec<u8>) {
    let _ = rmp::encode::write_map_len(out, 2);
    let _ = rmp::encode::write_str(out, "EventId");
    match progress {
        Progress::Ret { event_id } => {
            let _ = rmp::encode::write_uint(out, *event_id);
            let _ = rmp::encode::write_str(out, "Data");
            let _ = rmp::encode::write_str(out, "ret");
        }
        Progress::Call {
            event_id,
            method,
            args,
        } => {
            let _ = rmp::encode::write_uint(out, *event_id);
            let _ = rmp::encode::write_str(out, "Data");
            let _ = rmp::encode::write_map_len(out, 2);
            let _ = rmp::encode::write_str(out, "Method");
            let _ = rmp::encode::write_str(out, method);
            let _ = rmp::encode::write_str(out, "Args");
            out.extend_from_slice(args);
        }
    }
}

/// An event's progress read back from a response's `{EventId, Data}` (the engine this one
/// replaces answers a forwarded Step so).
pub fn progress_of(value: &Value) -> Result<Progress, String> {
    let event_id = field(value, "EventId")
        .and_then(uint)
        .ok_or_else(|| format!("a step's answer without an EventId: {value}"))?;
    let data = field(value, "Data").unwrap_or(&Value::Nil);
    if text(data).as_deref() == Some("ret") {
        return Ok(Progress::Ret { event_id });
    }
    let method = field(data, "Method")
        .and_then(text)
        .ok_or_else(|| format!("a step's answer that is neither \"ret\" nor a call: {value}"))?;
    let mut args = Vec::new();
    let _ = rmpv::encode::write_value(&mut args, field(data, "Args").unwrap_or(&Value::Nil));
    Ok(Progress::Call {
        event_id,
        method,
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        op::Failure,
        wire::msgpack::message::{map, tests::enc},
    };

    #[test]
    fn step_results_splice_the_plugin_args_and_read_back_whole() {
        let mut out = Vec::new();
        let progress = Progress::Call {
            event_id: 9,
            method: "kong.request.get_header".into(),
            args: enc(Value::Array(vec![Value::from("host")])),
        };
        encode(
            &Value::from(3),
            &Ok(Done::Event(progress.clone())),
            &mut out,
        );
        let decoded = rmpv::decode::read_value(&mut out.as_slice()).unwrap();
        let result = map([
            ("EventId", Value::from(9)),
            (
                "Data",
                map([
                    ("Method", Value::from("kong.request.get_header")),
                    ("Args", Value::Array(vec![Value::from("host")])),
                ]),
            ),
        ]);
        let expected = Value::Array(vec![
            Value::from(1),
            Value::from(3),
            Value::Nil,
            result.clone(),
        ]);
        assert_eq!(decoded, expected);
        assert_eq!(progress_of(&result), Ok(progress));
        let ret = map([("EventId", Value::from(4)), ("Data", Value::from("ret"))]);
        assert_eq!(progress_of(&ret), Ok(Progress::Ret { event_id: 4 }));
    }

    #[test]
    fn a_failure_is_the_error_slot_and_no_instance_says_what_kong_matches() {
        let mut out = Vec::new();
        encode(&Value::from(5), &Err(Failure::NoInstance(7)), &mut out);
        let decoded = rmpv::decode::read_value(&mut out.as_slice()).unwrap();
        assert_eq!(
            decoded,
            Value::Array(vec![
                Value::from(1),
                Value::from(5),
                Value::from("No plugin instance 7"),
                Value::Nil,
            ])
        );
    }
}
