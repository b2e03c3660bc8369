//! `plugin.HandleEvent` and the `plugin.Step*` family.

use plugin_abi::{
    Phase,
    ffi::{BridgeError, BridgeErrorKind},
};
use rmpv::Value;

use super::instances::no_instance;
use crate::{
    host::Serving,
    rpc::{
        message::Reply,
        params::{field, text, uint},
    },
};

/// `plugin.HandleEvent {InstanceId, EventName}` → `{EventId, Data}`.
pub fn handle_event(serving: &Serving, param: &Value) -> Result<Reply, String> {
    let instance_id = field(param, "InstanceId")
        .and_then(uint)
        .ok_or("plugin.HandleEvent: InstanceId must be a non-negative integer")?;
    let event = field(param, "EventName")
        .and_then(text)
        .ok_or("plugin.HandleEvent: EventName must be a phase name")?;
    let running = serving
        .host
        .instances
        .enter(instance_id)
        .ok_or_else(|| no_instance(instance_id))?;
    let plugin = &running.instance().plugin;
    let handled = event
        .parse::<Phase>()
        .is_ok_and(|phase| plugin.info.phases.contains(&phase));
    if !handled {
        return Err(format!(
            "undefined method {event} on plugin {}",
            plugin.name()
        ));
    }
    serving.events.start(running, &event)
}

/// `plugin.Step {EventId, Data}` (and the typed variants) → `{EventId, Data}`. A missing `Data`
/// is `nil`, which is what the handler receives.
pub fn step(serving: &Serving, param: &Value) -> Result<Reply, String> {
    let id = event_id(param)?;
    let mut data = Vec::new();
    let value = field(param, "Data").unwrap_or(&Value::Nil);
    // Writes into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut data, value);
    serving.events.step(id, Ok(data))
}

/// `plugin.StepError {EventId, Data: message}`: the PDK call failed in Kong (Kong 2.x).
pub fn step_error(serving: &Serving, param: &Value) -> Result<Reply, String> {
    let id = event_id(param)?;
    let message = field(param, "Data")
        .map(|v| text(v).unwrap_or_else(|| v.to_string()))
        .unwrap_or_else(|| "unknown error".into());
    serving
        .events
        .step(id, Err(BridgeError::new(BridgeErrorKind::KONG, message)))
}

fn event_id(param: &Value) -> Result<u64, String> {
    field(param, "EventId")
        .and_then(uint)
        .ok_or_else(|| "plugin.Step: EventId must be a non-negative integer".to_owned())
}
