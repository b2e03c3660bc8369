//! `plugin.HandleEvent` and the `plugin.Step*` family.

use std::sync::Arc;

use plugin_abi::{
    Phase,
    ffi::{BridgeError, BridgeErrorKind},
};
use rmpv::Value;

use super::instances::no_instance;
use crate::{
    host::Host,
    rpc::{
        message::Reply,
        params::{field, text, uint},
    },
};

/// `plugin.HandleEvent {InstanceId, EventName}` → `{EventId, Data}`.
pub async fn handle_event(host: &Arc<Host>, param: &Value) -> Result<Reply, String> {
    let instance_id = field(param, "InstanceId")
        .and_then(uint)
        .ok_or("plugin.HandleEvent: InstanceId must be a non-negative integer")?;
    let event = field(param, "EventName")
        .and_then(text)
        .ok_or("plugin.HandleEvent: EventName must be a phase name")?;
    let running = host
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
    host.events.start(running, event).await
}

/// `plugin.Step {EventId, Data}` (and the typed variants) → `{EventId, Data}`. A missing `Data`
/// is `nil`, which is what the handler receives.
pub async fn step(host: &Arc<Host>, param: &Value) -> Result<Reply, String> {
    let id = event_id(param)?;
    let mut data = Vec::new();
    let value = field(param, "Data").unwrap_or(&Value::Nil);
    // Writes into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut data, value);
    host.events.step(id, Ok(data)).await
}

/// `plugin.StepError {EventId, Data: message}`: the PDK call failed in Kong (Kong 2.x).
pub async fn step_error(host: &Arc<Host>, param: &Value) -> Result<Reply, String> {
    let id = event_id(param)?;
    let message = field(param, "Data")
        .map(|v| text(v).unwrap_or_else(|| v.to_string()))
        .unwrap_or_else(|| "unknown error".into());
    host.events
        .step(id, Err(BridgeError::new(BridgeErrorKind::KONG, message)))
        .await
}

fn event_id(param: &Value) -> Result<u64, String> {
    field(param, "EventId")
        .and_then(uint)
        .ok_or_else(|| "plugin.Step: EventId must be a non-negative integer".to_owned())
}
