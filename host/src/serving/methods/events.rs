//! `plugin.HandleEvent` and the `plugin.Step*` family.

use plugin_abi::{
    Phase,
    ffi::{BridgeError, BridgeErrorKind},
};
use rmpv::Value;

use super::instances::no_instance;
use crate::{
    events::Answer,
    fail_closed,
    ids::home_of,
    loader::LoadedPlugin,
    pace::Where,
    wire::msgpack::message::Reply,
    wire::msgpack::params::{field, text, uint},
    serving::{
        local::{Local, here},
        reply::{Answering, Dispatched},
    },
    workers::Apart,
};

/// `plugin.HandleEvent {InstanceId, EventName}` → `{EventId, Data}`. The event lives on this
/// worker, or apart on a worker of its own, as its phase's pace says (see [`crate::pace`]).
pub fn handle_event(local: &Local, param: &Value, answering: Answering<'_>) -> Dispatched {
    match start(local, param, answering) {
        Ok(dispatched) => dispatched,
        Err(e) => Dispatched::Now(Err(e)),
    }
}

fn start(local: &Local, param: &Value, answering: Answering<'_>) -> Result<Dispatched, String> {
    let instance_id = field(param, "InstanceId")
        .and_then(uint)
        .ok_or("plugin.HandleEvent: InstanceId must be a non-negative integer")?;
    let event = field(param, "EventName")
        .and_then(text)
        .ok_or("plugin.HandleEvent: EventName must be a phase name")?;
    let host = local.host();
    let running = host
        .instances
        .enter(instance_id)
        .ok_or_else(|| no_instance(instance_id))?;
    let plugin = &running.instance().plugin;
    let phase = event
        .parse::<Phase>()
        .ok()
        .filter(|phase| plugin.info.phases.contains(phase))
        .ok_or_else(|| format!("undefined method {event} on plugin {}", plugin.name()))?;
    // The plugin itself, not copies of its name and response: this runs for every event.
    let owner = std::sync::Arc::clone(plugin);
    let answer = move |started| fail_closed::answer(started, &owner, phase);
    let instance_id = running.instance().id;
    match elsewhere(local, plugin, instance_id, phase) {
        Ok(Some(apart)) => start_on(apart, running, phase, answering, answer),
        Ok(None) => {
            local.worker.add_event();
            Ok(Dispatched::Now(answer(
                local.events.start(running, phase, None),
            )))
        }
        Err(refused) => Ok(Dispatched::Now(answer(Err(refused)))),
    }
}

/// The worker an event of `plugin`'s `instance` in `phase` starts on when it is not this one
/// (the event is then counted there, holding a thread of its share), as its phase's pace
/// says (see [`crate::pace`]); an error when its share is spent. Both dialects place events
/// by it.
pub fn elsewhere(
    local: &Local,
    plugin: &LoadedPlugin,
    instance: u64,
    phase: Phase,
) -> Result<Option<Apart>, String> {
    let host = local.host();
    let pool = &local.server.pool;
    // At the stacks' ceiling the event starts where most events wait: that worker reaps its
    // longest-waiting ones to make room (see `Events::start`).
    if host.stacks.count() >= host.stacks.max() {
        return Ok(pool
            .fullest()
            .filter(|w| w.index != local.worker.index)
            .inspect(|w| w.add_event())
            .map(|worker| Apart {
                worker,
                share: None,
            }));
    }
    let probation = match plugin.pace.phase(phase).placement() {
        Where::Inline => return Ok(None),
        Where::Apart => false,
        Where::Probation => true,
    };
    pool.pick_apart(probation, plugin.name(), instance)
        .map_err(|refused| refused.to_string())
}

/// Starts the event on the worker picked for it, which answers (through `answer`).
fn start_on(
    apart: Apart,
    running: crate::instances::Running,
    phase: Phase,
    answering: Answering<'_>,
    answer: impl FnOnce(Result<Reply, String>) -> Result<Reply, String> + Send + 'static,
) -> Result<Dispatched, String> {
    let (reply, dispatched) = answering.reply();
    let Apart { worker, share } = apart;
    let sent = worker.send(Box::new(move || {
        reply.send(answer(here().events.start(running, phase, share)));
    }));
    if sent {
        return Ok(dispatched);
    }
    worker.remove_event();
    Err("pluginhost is stopping".into())
}

/// `plugin.Step {EventId, Data}` (and the typed variants) → `{EventId, Data}`. A missing `Data`
/// is `nil`, which is what the handler receives.
pub fn step(local: &Local, param: &Value, answering: Answering<'_>) -> Dispatched {
    let id = match event_id(param) {
        Ok(id) => id,
        Err(e) => return Dispatched::Now(Err(e)),
    };
    let mut data = Vec::new();
    let value = field(param, "Data").unwrap_or(&Value::Nil);
    // Writes into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut data, value);
    resume(local, id, Ok(data), answering)
}

/// `plugin.StepError {EventId, Data: message}`: the PDK call failed in Kong (Kong 2.x).
pub fn step_error(local: &Local, param: &Value, answering: Answering<'_>) -> Dispatched {
    let id = match event_id(param) {
        Ok(id) => id,
        Err(e) => return Dispatched::Now(Err(e)),
    };
    let message = field(param, "Data")
        .map(|v| text(v).unwrap_or_else(|| v.to_string()))
        .unwrap_or_else(|| "unknown error".into());
    let answer = Err(BridgeError::new(BridgeErrorKind::KONG, message));
    resume(local, id, answer, answering)
}

/// Hands Kong's answer to event `id`, here or on the worker it lives on (or, for an event of
/// the engine this one replaces, there: see [`crate::serving::handover`]).
fn resume(local: &Local, id: u64, answer: Answer, answering: Answering<'_>) -> Dispatched {
    let home = home_of(id);
    let handover = &local.server.handover;
    let here_now = home == local.worker.index;
    if here_now && (!handover.forwards() || local.events.has(id)) {
        return Dispatched::Now(local.events.step(id, answer));
    }
    let (reply, dispatched) = answering.reply();
    // Not an event of this engine's (its home is here, or no worker of this engine): the
    // engine this one replaces may run it.
    let Some(worker) = local.server.pool.handle(home).filter(|_| !here_now) else {
        if let Err((_, reply)) = handover.forward(id, answer, reply) {
            reply.send(Err(no_event(id)));
        }
        return dispatched;
    };
    let sent = worker.send(Box::new(move || {
        let local = here();
        let handover = &local.server.handover;
        if !handover.forwards() || local.events.has(id) {
            return reply.send(local.events.step(id, answer));
        }
        if let Err((answer, reply)) = handover.forward(id, answer, reply) {
            reply.send(local.events.step(id, answer));
        }
    }));
    if sent {
        dispatched
    } else {
        Dispatched::Now(Err(no_event(id)))
    }
}

fn no_event(id: u64) -> String {
    format!("No running event {id}")
}

fn event_id(param: &Value) -> Result<u64, String> {
    field(param, "EventId")
        .and_then(uint)
        .ok_or_else(|| "plugin.Step: EventId must be a non-negative integer".to_owned())
}
