//! Events: one phase handler running, suspended at its PDK calls.
//!
//! A handler runs on a blocking thread until its next PDK call. The call travels to the RPC
//! side as a [`HandlerMessage`] and becomes the reply to the current `HandleEvent` or `Step`;
//! the handler waits until Kong's next `Step` brings the answer. Between RPCs the event sits in
//! a process-global table keyed by id, because Kong sends an event's RPCs over whichever pooled
//! connection is free. An RPC takes the event *out* of the table while it waits for the
//! handler, so no lock is ever held across a PDK round trip, and a second Step for the same
//! event cannot race the first.
//!
//! Kong abandons events without a word (a PDK call that raised in Lua, a client gone). Events
//! with no Step for `-event-timeout` are reaped: dropping an event closes its answer channel,
//! the handler's pending PDK call fails with "event ended", and the thread is freed.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use abi_stable::{sabi_trait::TD_Opaque, std_types::RResult};
use plugin_abi::ffi::{BridgeError, HostBridge_TO};
use tokio::sync::mpsc as tokio_mpsc;

use crate::{
    bridge::EventBridge,
    ids::IdGen,
    instances::Running,
    rpc::message::{Reply, StepData},
};

/// What a handler thread tells the RPC side.
#[derive(Debug)]
pub enum HandlerMessage {
    /// The handler calls a PDK function: `args` is its MessagePack argument array.
    Call {
        /// Dotted PDK method name.
        method: String,
        /// Encoded argument array.
        args: Vec<u8>,
    },
    /// The handler returned (`Err`: it failed or panicked; the text says which).
    Done(Result<(), String>),
}

/// Kong's answer to a PDK call: the `Data` of its Step (MessagePack), or a `StepError`.
pub type Answer = Result<Vec<u8>, BridgeError>;

/// A suspended event, between two RPCs.
pub struct Event {
    running: Running,
    _live: Live,
    answers: mpsc::Sender<Answer>,
    calls: tokio_mpsc::Receiver<HandlerMessage>,
    suspended_at: Instant,
}

/// The methods after which Kong never sends another Step for the event.
pub fn is_terminal(method: &str) -> bool {
    plugin_abi::pdk::TERMINAL_METHODS.contains(&method)
}

/// Counts an event as live until it is dropped, whether it is suspended in the table or being
/// advanced by an RPC.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Live(Arc::clone(count))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every suspended event.
pub struct Events {
    map: Mutex<HashMap<u64, Event>>,
    live: Arc<AtomicUsize>,
    ids: IdGen,
    timeout: Duration,
}

impl Events {
    /// An empty table whose events are abandoned after `timeout` without a Step.
    pub fn new(timeout: Duration) -> Self {
        Events {
            map: Mutex::default(),
            live: Arc::default(),
            ids: IdGen::random(),
            timeout,
        }
    }

    /// Starts the `phase` handler of the running instance, and returns its first step.
    pub async fn start(&self, running: Running, phase: String) -> Result<Reply, String> {
        let id = self.ids.next();
        let (answers_tx, answers_rx) = mpsc::channel();
        let (calls_tx, calls_rx) = tokio_mpsc::channel(1);
        let instance = Arc::clone(running.instance());
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || {
            let bridge = EventBridge::new(id, calls_tx.clone(), answers_rx, timeout);
            let result = instance.object.handle(
                phase.as_str().into(),
                HostBridge_TO::from_ptr(&bridge, TD_Opaque),
            );
            let result = match result {
                RResult::ROk(()) => Ok(()),
                RResult::RErr(e) => Err(e.into_string()),
            };
            // The RPC side may be gone (a terminal call, or the event was reaped): nothing to do.
            let _ = calls_tx.blocking_send(HandlerMessage::Done(result));
        });
        let event = Event {
            running,
            _live: Live::new(&self.live),
            answers: answers_tx,
            calls: calls_rx,
            suspended_at: Instant::now(),
        };
        self.advance(id, event).await
    }

    /// Hands Kong's answer to the event's pending PDK call and returns its next step.
    pub async fn step(&self, id: u64, answer: Answer) -> Result<Reply, String> {
        let event = self
            .lock()
            .remove(&id)
            .ok_or_else(|| format!("No running event {id}"))?;
        if event.answers.send(answer).is_err() {
            tracing::warn!(event = id, "the handler is gone: answer not delivered");
            return Err(format!("No running event {id}"));
        }
        self.advance(id, event).await
    }

    /// Waits for the handler's next message and turns it into the reply to Kong.
    async fn advance(&self, id: u64, mut event: Event) -> Result<Reply, String> {
        let plugin = event.running.instance().plugin.name().to_owned();
        let message = tokio::time::timeout(self.timeout, event.calls.recv()).await;
        match message {
            Ok(Some(HandlerMessage::Call { method, args })) => {
                if !is_terminal(&method) {
                    event.suspended_at = Instant::now();
                    self.lock().insert(id, event);
                }
                Ok(Reply::Step {
                    event_id: id,
                    data: StepData::Call { method, args },
                })
            }
            Ok(Some(HandlerMessage::Done(Ok(())))) => Ok(Reply::Step {
                event_id: id,
                data: StepData::Ret,
            }),
            Ok(Some(HandlerMessage::Done(Err(e)))) => {
                tracing::warn!(plugin, event = id, "{e}");
                Err(e)
            }
            Ok(None) => Err(format!(
                "event {id} of plugin {plugin}: the handler ended without a result"
            )),
            Err(_) => {
                let e = format!(
                    "plugin {plugin} did not make its next PDK call or return within {:?} (event {id})",
                    self.timeout
                );
                tracing::warn!("{e}");
                Err(e)
            }
        }
    }

    /// Drops events that have waited longer than the timeout for a Step; returns how many.
    pub fn reap(&self) -> usize {
        let timeout = self.timeout;
        let mut map = self.lock();
        let before = map.len();
        map.retain(|id, e| {
            let keep = e.suspended_at.elapsed() < timeout;
            if !keep {
                tracing::info!(
                    event = id,
                    plugin = e.running.instance().plugin.name(),
                    "reaped an event Kong abandoned"
                );
            }
            keep
        });
        before - map.len()
    }

    /// How many events wait for a Step.
    pub fn suspended(&self) -> usize {
        self.lock().len()
    }

    /// How many events have not ended: suspended, or being advanced by an RPC.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// The reaping timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Event>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}
