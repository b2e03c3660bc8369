//! Events: one phase handler running on a coroutine of its own, suspended at its PDK calls.
//!
//! A handler runs on its own stack (a stackful coroutine) on the worker thread it lives on,
//! until its next PDK call. The call suspends the coroutine and becomes the reply to the
//! current `HandleEvent` or `Step`; Kong's next `Step` resumes it with the answer. Between RPCs
//! the event sits in its worker's table keyed by id, because Kong sends an event's RPCs over
//! whichever pooled connection is free; the id names the worker (see [`crate::workers`]).
//!
//! Why coroutines: every PDK call is a round trip to Kong, so what a handler costs is mostly
//! how it waits. A thread per handler made each call two cross-thread wake-ups; resuming a
//! coroutine is a stack switch. A coroutine stays on the thread that created it, so a plugin's
//! thread-locals and `!Send` values stay on their thread, as in safe Rust. How long each
//! stretch between PDK calls runs is recorded ([`crate::pace`]): it decides where the phase's
//! next events live, and the watchdog sees a stretch that holds its thread.
//!
//! Kong abandons events without a word (a PDK call that raised in Lua, a client gone). Events
//! with no Step for `-event-timeout` are reaped: the pending PDK call fails with "event
//! ended", the handler returns, and its stack is freed. A coroutine is never dropped while
//! suspended: unwinding it would cross the plugin's `extern "C"` frames.

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use abi_stable::sabi_trait::TD_Opaque;
use corosensei::{Coroutine, CoroutineResult, stack::DefaultStack};
use plugin_abi::ffi::{BridgeError, BridgeErrorKind, HandlerError, HostBridge_TO};

use plugin_abi::Phase;

pub use crate::bridge::{Answer, PdkCall};
use crate::{
    bridge::{EventBridge, HandlerYielder, is_terminal},
    dialect::Dialect,
    ids::EventIds,
    instances::Running,
    metrics::{Outcome, PhaseMetrics},
    pace::{Change, PhasePace},
    sched::OwnClock,
    stacks::{NoStack, Stacks},
    workers::{Share, WorkerHandle},
};

/// Where an event stands after a stretch of its handler: the engine's answer to a
/// `HandleEvent` or a `Step`, which each dialect writes in its own way.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The handler calls a PDK function and waits for Kong's answer.
    Call {
        /// The event.
        event_id: u64,
        /// The dotted PDK method name.
        method: String,
        /// Its arguments, a MessagePack array as the plugin encoded it.
        args: Vec<u8>,
    },
    /// The handler returned.
    Ret {
        /// The event.
        event_id: u64,
    },
}

type Handler = Coroutine<Answer, PdkCall, Result<(), HandlerError>, DefaultStack>;

/// MessagePack `nil`: the answer to a call Kong never answers.
const NIL: u8 = 0xc0;

/// A handler between two RPCs.
struct Event {
    running: Running,
    phase: Phase,
    handler: Option<Handler>,
    /// When its handler last stopped running: at its last PDK call, or at its end.
    suspended_at: Instant,
    /// When `plugin.HandleEvent` started it.
    started: Instant,
    /// How long its handler has run so far, all stretches together.
    ran: Duration,
    /// The thread of its plugin's and instance's share it holds, when it runs apart.
    share: Option<Share>,
}

impl Event {
    fn plugin(&self) -> &str {
        self.running.instance().plugin.name()
    }

    fn pace(&self) -> &PhasePace {
        self.running.instance().plugin.pace.phase(self.phase)
    }

    fn metrics(&self) -> Option<&PhaseMetrics> {
        self.running.instance().plugin.phase_metrics(self.phase)
    }

    /// How a handler that returned `result` ended.
    fn outcome(result: &Result<(), HandlerError>) -> Outcome {
        match result {
            Ok(()) => Outcome::Ok,
            Err(e) if e.panicked() => Outcome::Panic,
            Err(_) => Outcome::HandlerError,
        }
    }
}

/// Every event living on one worker thread.
pub struct Events {
    map: RefCell<HashMap<u64, Event>>,
    ids: EventIds,
    clock: OwnClock,
    timeout: Duration,
    stacks: Stacks,
    worker: Arc<WorkerHandle>,
    /// The plugin (by address) and phase of the last stretch, to tell the worker's handle only
    /// when it changes.
    last: std::cell::Cell<(usize, Phase)>,
    /// Told when an event is suspended in an empty table: the reaper sleeps until then.
    suspended: tokio::sync::Notify,
    /// The dialect Kong speaks, which decides what a handler may call.
    dialect: Dialect,
}

impl Events {
    /// An empty table of worker `worker`, made on its thread, whose events are abandoned after
    /// `timeout` without a Step; handlers run on `stacks`, calling Kong in `dialect`.
    pub fn new(
        timeout: Duration,
        stacks: Stacks,
        worker: Arc<WorkerHandle>,
        dialect: Dialect,
    ) -> Self {
        Events {
            map: RefCell::default(),
            ids: EventIds::for_worker(worker.index),
            // A thread started for events apart measures each stretch: see `always_precise`.
            clock: if worker.born_serving {
                OwnClock::this_thread()
            } else {
                OwnClock::always_precise()
            },
            timeout,
            stacks,
            worker,
            last: std::cell::Cell::new((0, Phase::Access)),
            suspended: tokio::sync::Notify::new(),
            dialect,
        }
    }

    /// Starts the `phase` handler of the running instance, and returns its first step. The
    /// event was counted on this worker by whoever sent it here; when it runs apart, it holds
    /// `share` until its handler returns.
    pub fn start(
        &self,
        running: Running,
        phase: Phase,
        share: Option<Share>,
    ) -> Result<Progress, String> {
        let id = self.ids.next();
        let mut stack = self.stacks.take();
        if matches!(stack, Err(NoStack::Ceiling(_))) && self.make_room() {
            stack = self.stacks.take();
        }
        let stack = match stack {
            Ok(stack) => stack,
            Err(e) => {
                self.worker.remove_event();
                return Err(format!(
                    "cannot start event {id} of plugin {}: {e}",
                    running.instance().plugin.name()
                ));
            }
        };
        if let Some(metrics) = running.instance().plugin.phase_metrics(phase) {
            metrics.started();
        }
        let instance = Arc::clone(running.instance());
        let handler = Coroutine::with_stack(stack, move |yielder: &HandlerYielder, _: Answer| {
            let bridge = EventBridge::new(id, yielder);
            let bridge = HostBridge_TO::from_ptr(&bridge, TD_Opaque);
            instance.object.handle(phase.as_str().into(), bridge).into()
        });
        let now = Instant::now();
        let event = Event {
            running,
            phase,
            handler: Some(handler),
            suspended_at: now,
            started: now,
            ran: Duration::ZERO,
            share,
        };
        // The first resume's input is never read: the handler has made no call yet.
        self.advance(id, event, Ok(Vec::new()))
    }

    /// Whether event `id` lives here.
    pub fn has(&self, id: u64) -> bool {
        self.map.borrow().contains_key(&id)
    }

    /// Hands Kong's answer to the event's pending PDK call and returns its next step.
    pub fn step(&self, id: u64, answer: Answer) -> Result<Progress, String> {
        let event = self
            .map
            .borrow_mut()
            .remove(&id)
            .ok_or_else(|| format!("No running event {id}"))?;
        self.advance(id, event, answer)
    }

    /// Runs the handler until its next PDK call or its end, and turns that into the reply.
    /// A call the dialect has no method for is refused here, before anything is sent.
    fn advance(&self, id: u64, mut event: Event, answer: Answer) -> Result<Progress, String> {
        let mut outcome = self.resume(&mut event, answer);
        while let CoroutineResult::Yield(PdkCall { method, .. }) = &outcome
            && let Some(why) = self.dialect.refuses(method)
        {
            outcome = self.resume(
                &mut event,
                Err(BridgeError::new(BridgeErrorKind::HOST, why)),
            );
        }
        match outcome {
            CoroutineResult::Yield(PdkCall { method, args }) => {
                if let Some((metrics, plugin)) = event.running.instance().plugin.counters() {
                    plugin.pdk_call(metrics, &method);
                }
                if is_terminal(&method) {
                    // Kong sends no more Steps: the handler finishes now, and any call it makes
                    // after this one fails with "event ended".
                    self.finish(id, event, Ok(vec![NIL]), Outcome::Exit);
                } else {
                    let mut map = self.map.borrow_mut();
                    if map.is_empty() {
                        self.suspended.notify_one();
                    }
                    map.insert(id, event);
                }
                Ok(Progress::Call {
                    event_id: id,
                    method,
                    args,
                })
            }
            CoroutineResult::Return(result) => {
                self.recycle(&mut event, Event::outcome(&result));
                match result {
                    Ok(()) => Ok(Progress::Ret { event_id: id }),
                    Err(e) => {
                        let e = e.message.into_string();
                        tracing::warn!(plugin = event.plugin(), event = id, "{e}");
                        Err(e)
                    }
                }
            }
        }
    }

    /// Resumes the handler with `answer` for one stretch, which the worker's handle shows
    /// while it runs and whose own time (not the time it was preempted) the event adds up.
    fn resume(
        &self,
        event: &mut Event,
        answer: Answer,
    ) -> CoroutineResult<PdkCall, Result<(), HandlerError>> {
        let plugin = &event.running.instance().plugin;
        let key = (Arc::as_ptr(plugin) as usize, event.phase);
        let same = self.last.get() == key;
        self.last.set(key);
        let handler = event
            .handler
            .as_mut()
            .expect("a handler is taken out only once it has returned");
        self.worker.enter(plugin, event.phase, same);
        let started = Instant::now();
        self.clock.before();
        let running = crate::supervisor::crash::running(plugin.name());
        let outcome = handler.resume(answer);
        drop(running);
        let now = Instant::now();
        let took = self.clock.own(started, now);
        event.suspended_at = now;
        event.ran += took;
        self.worker.leave();
        if let Some(metrics) = event.metrics() {
            metrics.ran(took);
        }
        outcome
    }

    /// Lets a handler whose event is over (with `outcome`) run to its end: each PDK call it
    /// still makes gets `answer` once, then "event ended".
    fn finish(&self, id: u64, mut event: Event, answer: Answer, outcome: Outcome) {
        let mut answer = Some(answer);
        loop {
            let next = answer
                .take()
                .unwrap_or_else(|| Err(ended(id, "the event is over")));
            match self.resume(&mut event, next) {
                CoroutineResult::Yield(_) => {}
                CoroutineResult::Return(result) => {
                    if let Err(e) = result {
                        let e = &e.message;
                        tracing::debug!(plugin = event.plugin(), event = id, "after its end: {e}");
                    }
                    self.recycle(&mut event, outcome);
                    return;
                }
            }
        }
    }

    /// Frees a returned handler's stack, and records how long it ran and how it ended.
    fn recycle(&self, event: &mut Event, outcome: Outcome) {
        if let Some(handler) = event.handler.take() {
            self.stacks.give_back(handler.into_stack());
            self.worker.remove_event();
            event.share = None;
            if let Some(metrics) = event.metrics() {
                metrics.ended(outcome, event.suspended_at - event.started);
            }
            match event.pace().record(event.ran) {
                Some(Change::WentApart) => tracing::info!(
                    plugin = event.plugin(),
                    phase = %event.phase,
                    "its {} handlers run ~{:?} per event: this phase now runs apart, each \
                     event on a worker thread of its own",
                    event.phase,
                    event.ran
                ),
                Some(Change::ProvenSlow) => tracing::info!(
                    plugin = event.plugin(),
                    phase = %event.phase,
                    "its {} handlers run ~{:?} per event: this phase runs apart, each event \
                     on a worker thread of its own",
                    event.phase,
                    event.ran
                ),
                None => {}
            }
        }
    }

    /// Ends events that have waited longer than the timeout for a Step; returns how many.
    pub fn reap(&self) -> usize {
        let timeout = self.timeout;
        let expired: Vec<(u64, Event)> = self
            .map
            .borrow_mut()
            .extract_if(|_, e| e.suspended_at.elapsed() >= timeout)
            .collect();
        let reaped = expired.len();
        for (id, event) in expired {
            tracing::debug!(
                event = id,
                plugin = event.plugin(),
                "reaping an abandoned event"
            );
            let why = "Kong abandoned the event (no Step within the event timeout)";
            self.finish(id, event, Err(ended(id, why)), Outcome::Reaped);
        }
        if reaped > 0 {
            tracing::info!(events = reaped, "reaped events Kong abandoned");
        }
        reaped
    }

    /// At the stacks' ceiling: reaps the events of this worker that have waited longest for a
    /// Step, the ones Kong most likely abandoned: a 64th of them at once, so that the search
    /// is paid once per many new events. False if none is suspended here.
    fn make_room(&self) -> bool {
        let mut waiting: Vec<(Instant, u64)> = self
            .map
            .borrow()
            .iter()
            .map(|(&id, e)| (e.suspended_at, id))
            .collect();
        if waiting.is_empty() {
            return false;
        }
        let count = (waiting.len() / 64).max(1);
        waiting.select_nth_unstable(count - 1);
        let longest = waiting[..count].iter().map(|(at, _)| *at).min();
        tracing::warn!(
            events = count,
            waited = ?longest.map(|at| at.elapsed()),
            "reaping the events that waited longest for a Step, to make room: the server \
             holds as many events as -max-events allows"
        );
        for &(_, id) in &waiting[..count] {
            if let Some(event) = self.map.borrow_mut().remove(&id) {
                let why = "reaped to make room for new events (-max-events)";
                self.finish(id, event, Err(ended(id, why)), Outcome::Reaped);
            }
        }
        true
    }

    /// Ends event `id` now: Kong is gone from it (ProtoBuf:1's connection of the event closed).
    /// Its pending PDK call fails with "event ended". False if no such event waits here.
    pub fn abandon(&self, id: u64, why: &str) -> bool {
        let Some(event) = self.map.borrow_mut().remove(&id) else {
            return false;
        };
        tracing::debug!(event = id, plugin = event.plugin(), "{why}");
        self.finish(id, event, Err(ended(id, why)), Outcome::Reaped);
        true
    }

    /// Ends every suspended event now (at shutdown, once the grace time is over).
    pub fn end_all(&self) -> usize {
        let all: Vec<(u64, Event)> = self.map.borrow_mut().drain().collect();
        let ended_now = all.len();
        for (id, event) in all {
            self.finish(
                id,
                event,
                Err(ended(id, "pluginhost is stopping")),
                Outcome::Shutdown,
            );
        }
        ended_now
    }

    /// Events suspended here, waiting for a Step.
    pub fn suspended(&self) -> usize {
        self.map.borrow().len()
    }

    /// Returns once an event is suspended in the empty table (at once if one was meanwhile).
    pub async fn first_suspended(&self) {
        self.suspended.notified().await;
    }

    /// The reaping timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        // Dropping a suspended coroutine would unwind through the plugin's frames.
        self.end_all();
    }
}

/// The error a pending PDK call gets when its event is over.
fn ended(id: u64, why: &str) -> BridgeError {
    BridgeError::new(BridgeErrorKind::EVENT_ENDED, format!("event {id}: {why}"))
}
