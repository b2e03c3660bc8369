//! Starting an event and resuming it with Kong's answer: here, or on the worker it lives on.

use std::sync::Arc;

use plugin_abi::Phase;
use tokio::sync::oneshot;

use crate::{
    events::{Answer, Progress},
    fail_closed,
    ids::home_of,
    instances::Running,
    loader::LoadedPlugin,
    op::{Done, Failure, Outcome},
    pace::Where,
    serving::{
        local::{Local, here},
        reply::{Dispatched, Via},
    },
    workers::Apart,
};

/// Starts the `event` handler of instance `instance_id`. The event lives on this worker, or
/// apart on a worker of its own, as its phase's pace says (see [`crate::pace`]).
pub fn handle_event(local: &Local, instance_id: u64, event: &str, via: Via<'_>) -> Dispatched {
    let host = local.host();
    let Some(running) = host.instances.enter(instance_id) else {
        return Dispatched::Now(Err(Failure::NoInstance(instance_id)));
    };
    let plugin = &running.instance().plugin;
    let Some(phase) = event
        .parse::<Phase>()
        .ok()
        .filter(|phase| plugin.info.phases.contains(phase))
    else {
        let undefined = format!("undefined method {event} on plugin {}", plugin.name());
        return Dispatched::Now(Err(undefined.into()));
    };
    // The plugin itself, not copies of its name and response: this runs for every event.
    let owner = Arc::clone(plugin);
    let answer = move |started| outcome(fail_closed::answer(started, &owner, phase));
    let instance_id = running.instance().id;
    match elsewhere(local, plugin, instance_id, phase) {
        Ok(Some(apart)) => start_on(apart, running, phase, via, answer),
        Ok(None) => {
            local.worker.add_event();
            Dispatched::Now(answer(local.events.start(running, phase, None)))
        }
        Err(refused) => Dispatched::Now(answer(Err(refused))),
    }
}

/// An event's progress as an operation's outcome.
fn outcome(progress: Result<Progress, String>) -> Outcome {
    progress.map(Done::Event).map_err(Failure::Refused)
}

/// The worker an event of `plugin`'s `instance` in `phase` starts on when it is not this one
/// (the event is then counted there, holding a thread of its share), as its phase's pace
/// says (see [`crate::pace`]); an error when its share is spent.
fn elsewhere(
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
    running: Running,
    phase: Phase,
    via: Via<'_>,
    answer: impl FnOnce(Result<Progress, String>) -> Outcome + Send + 'static,
) -> Dispatched {
    let (reply, dispatched) = via.reply();
    let Apart { worker, share } = apart;
    let sent = worker.send(Box::new(move || {
        reply.send(answer(here().events.start(running, phase, share)));
    }));
    if sent {
        return dispatched;
    }
    worker.remove_event();
    Dispatched::Now(Err("pluginhost is stopping".into()))
}

/// Hands Kong's answer to event `id`, here or on the worker it lives on (or, for an event of
/// the engine this one replaces, there: see [`crate::serving::handover`]).
pub fn step(local: &Local, id: u64, answer: Answer, via: Via<'_>) -> Dispatched {
    let home = home_of(id);
    let handover = &local.server.handover;
    let here_now = home == local.worker.index;
    if here_now && (!handover.forwards() || local.events.has(id)) {
        return Dispatched::Now(outcome(local.events.step(id, answer)));
    }
    let (reply, dispatched) = via.reply();
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
            return reply.send(outcome(local.events.step(id, answer)));
        }
        if let Err((answer, reply)) = handover.forward(id, answer, reply) {
            reply.send(outcome(local.events.step(id, answer)));
        }
    }));
    if sent {
        dispatched
    } else {
        Dispatched::Now(Err(no_event(id)))
    }
}

/// Ends event `id` at once, here or on the worker it lives on: its connection is gone, and
/// with it Kong's interest (`why`).
pub async fn abandon(local: &Local, id: u64, why: &'static str) {
    let home = home_of(id);
    if home == local.worker.index {
        local.events.abandon(id, why);
        return;
    }
    let (tx, rx) = oneshot::channel();
    let sent = local.server.pool.handle(home).is_some_and(|worker| {
        worker.send(Box::new(move || {
            let _ = tx.send(here().events.abandon(id, why));
        }))
    });
    if sent {
        let _ = rx.await;
    }
}

fn no_event(id: u64) -> Failure {
    Failure::Refused(format!("No running event {id}"))
}
