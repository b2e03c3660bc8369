//! `plugin.HandleEvent` and the `plugin.Step*` family.

use plugin_abi::{
    Phase,
    ffi::{BridgeError, BridgeErrorKind},
};
use rmpv::Value;

use super::instances::no_instance;
use crate::{
    events::Answer,
    host::Serving,
    rpc::{
        dispatch::{Answering, Dispatched},
        params::{field, text, uint},
    },
    workers::{Job, home_of},
};

/// `plugin.HandleEvent {InstanceId, EventName}` → `{EventId, Data}`. The event lives on this
/// worker, unless its phase runs on worker threads of its own (see [`crate::pace`]).
pub fn handle_event(serving: &Serving, param: &Value, answering: Answering<'_>) -> Dispatched {
    match start(serving, param, answering) {
        Ok(dispatched) => dispatched,
        Err(e) => Dispatched::Now(Err(e)),
    }
}

fn start(serving: &Serving, param: &Value, answering: Answering<'_>) -> Result<Dispatched, String> {
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
    let phase = event
        .parse::<Phase>()
        .ok()
        .filter(|phase| plugin.info.phases.contains(phase))
        .ok_or_else(|| format!("undefined method {event} on plugin {}", plugin.name()))?;
    // At the stacks' ceiling the event starts where most events wait: that worker reaps its
    // longest-waiting ones to make room (see `Events::start`).
    let elsewhere = if serving.host.stacks.count() >= serving.host.stacks.max() {
        serving
            .workers
            .fullest()
            .filter(|w| w.index != serving.worker.index)
            .inspect(|w| w.add_event())
    } else if plugin.pace.phase(phase).offloaded() {
        serving.workers.pick(serving.worker.index)
    } else {
        None
    };
    if let Some(worker) = elsewhere {
        let (reply, dispatched) = answering.reply();
        if worker.send(Job::Start {
            running,
            phase,
            reply,
        }) {
            return Ok(dispatched);
        }
        worker.remove_event();
        return Err("pluginhost is stopping".into());
    }
    serving.worker.add_event();
    Ok(Dispatched::Now(serving.events.start(running, phase)))
}

/// `plugin.Step {EventId, Data}` (and the typed variants) → `{EventId, Data}`. A missing `Data`
/// is `nil`, which is what the handler receives.
pub fn step(serving: &Serving, param: &Value, answering: Answering<'_>) -> Dispatched {
    let id = match event_id(param) {
        Ok(id) => id,
        Err(e) => return Dispatched::Now(Err(e)),
    };
    let mut data = Vec::new();
    let value = field(param, "Data").unwrap_or(&Value::Nil);
    // Writes into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut data, value);
    resume(serving, id, Ok(data), answering)
}

/// `plugin.StepError {EventId, Data: message}`: the PDK call failed in Kong (Kong 2.x).
pub fn step_error(serving: &Serving, param: &Value, answering: Answering<'_>) -> Dispatched {
    let id = match event_id(param) {
        Ok(id) => id,
        Err(e) => return Dispatched::Now(Err(e)),
    };
    let message = field(param, "Data")
        .map(|v| text(v).unwrap_or_else(|| v.to_string()))
        .unwrap_or_else(|| "unknown error".into());
    let answer = Err(BridgeError::new(BridgeErrorKind::KONG, message));
    resume(serving, id, answer, answering)
}

/// Hands Kong's answer to event `id`, here or on the worker it lives on.
fn resume(serving: &Serving, id: u64, answer: Answer, answering: Answering<'_>) -> Dispatched {
    let home = home_of(id);
    if home == serving.worker.index {
        return Dispatched::Now(serving.events.step(id, answer));
    }
    let Some(worker) = serving.workers.handle(home) else {
        return Dispatched::Now(Err(format!("No running event {id}")));
    };
    let (reply, dispatched) = answering.reply();
    if worker.send(Job::Step { id, answer, reply }) {
        dispatched
    } else {
        Dispatched::Now(Err(format!("No running event {id}")))
    }
}

fn event_id(param: &Value) -> Result<u64, String> {
    field(param, "EventId")
        .and_then(uint)
        .ok_or_else(|| "plugin.Step: EventId must be a non-negative integer".to_owned())
}
