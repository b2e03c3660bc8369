//! The host's side of a PDK call, running on the handler's thread.

use std::{
    cell::Cell,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::mpsc,
    time::Duration,
};

use abi_stable::std_types::{RResult, RSlice, RStr, RVec};
use plugin_abi::ffi::{BridgeError, BridgeErrorKind, HostBridge};
use tokio::sync::mpsc as tokio_mpsc;

use crate::{
    events::{Answer, HandlerMessage, is_terminal},
    rpc::frame,
};

/// MessagePack `nil`: the answer to a call Kong never answers.
const NIL: u8 = 0xc0;

/// One event's bridge: sends the handler's PDK calls to the RPC side and blocks for Kong's
/// answer.
pub struct EventBridge {
    id: u64,
    calls: tokio_mpsc::Sender<HandlerMessage>,
    answers: mpsc::Receiver<Answer>,
    timeout: Duration,
    ended: Cell<Option<&'static str>>,
}

impl EventBridge {
    /// The bridge of event `id`.
    pub fn new(
        id: u64,
        calls: tokio_mpsc::Sender<HandlerMessage>,
        answers: mpsc::Receiver<Answer>,
        timeout: Duration,
    ) -> Self {
        EventBridge {
            id,
            calls,
            answers,
            timeout,
            ended: Cell::new(None),
        }
    }

    fn ended(&self, why: &str) -> BridgeError {
        BridgeError::new(
            BridgeErrorKind::EVENT_ENDED,
            format!("event {}: {why}", self.id),
        )
    }

    fn forward(&self, method: &str, args: &[u8]) -> Result<Vec<u8>, BridgeError> {
        if let Some(why) = self.ended.get() {
            return Err(self.ended(why));
        }
        let is_array = matches!(args.first(), Some(0x90..=0x9f | 0xdc | 0xdd));
        if !is_array || frame::object_len(args) != Ok(Some(args.len())) {
            return Err(BridgeError::new(
                BridgeErrorKind::HOST,
                format!("the arguments of {method} are not one MessagePack array"),
            ));
        }
        let message = HandlerMessage::Call {
            method: method.to_owned(),
            args: args.to_vec(),
        };
        if self.calls.blocking_send(message).is_err() {
            self.ended.set(Some("the event is no longer running"));
            return Err(self.ended("the event is no longer running"));
        }
        if is_terminal(method) {
            self.ended.set(Some(
                "kong.response.exit was called, Kong sends no more Steps",
            ));
            return Ok(vec![NIL]);
        }
        self.answers.recv().unwrap_or_else(|_| {
            let why = "Kong abandoned the event (no Step within the event timeout)";
            self.ended.set(Some(why));
            tracing::debug!(event = self.id, timeout = ?self.timeout, "{why}");
            Err(self.ended(why))
        })
    }
}

impl HostBridge for EventBridge {
    fn call(&self, method: RStr<'_>, args: RSlice<'_, u8>) -> RResult<RVec<u8>, BridgeError> {
        // A panic here would reach abi_stable's shim, which exits the process: contain it.
        catch_unwind(AssertUnwindSafe(|| {
            self.forward(method.as_str(), args.as_slice())
        }))
        .unwrap_or_else(|_| {
            Err(BridgeError::new(
                BridgeErrorKind::HOST,
                "pluginhost failed while forwarding the call (a bug: please report it)",
            ))
        })
        .map(RVec::from)
        .into()
    }
}
