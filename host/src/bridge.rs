//! The host's side of a PDK call: it runs on the handler's coroutine, and suspends it until
//! Kong's answer comes.

use std::{
    cell::RefCell,
    panic::{AssertUnwindSafe, catch_unwind},
};

use abi_stable::std_types::{RResult, RSlice, RStr, RVec};
use corosensei::Yielder;
use plugin_abi::ffi::{BridgeError, BridgeErrorKind, HostBridge};

use crate::wire::msgpack::frame;

/// A PDK call made by a handler: the dotted method name and its MessagePack argument array.
#[derive(Debug)]
pub struct PdkCall {
    /// Dotted PDK method name.
    pub method: String,
    /// Encoded argument array.
    pub args: Vec<u8>,
}

/// Kong's answer to a PDK call: the `Data` of its Step (MessagePack), or a `StepError`.
pub type Answer = Result<Vec<u8>, BridgeError>;

/// How a handler's coroutine suspends: it yields a call and is resumed with Kong's answer.
pub type HandlerYielder = Yielder<Answer, PdkCall>;

/// The methods after which Kong never sends another Step for the event.
pub fn is_terminal(method: &str) -> bool {
    plugin_abi::pdk::TERMINAL_METHODS.contains(&method)
}

/// One event's bridge: hands the handler's PDK calls to the RPC side by suspending the
/// handler's coroutine.
pub struct EventBridge<'y> {
    id: u64,
    yielder: &'y HandlerYielder,
    /// Set once Kong will send no more Steps; every later call fails at once.
    ended: RefCell<Option<String>>,
}

impl<'y> EventBridge<'y> {
    /// The bridge of event `id`, suspending through `yielder`.
    pub fn new(id: u64, yielder: &'y HandlerYielder) -> Self {
        EventBridge {
            id,
            yielder,
            ended: RefCell::new(None),
        }
    }

    fn forward(&self, method: &str, args: &[u8]) -> Result<Vec<u8>, BridgeError> {
        if let Some(why) = self.ended.borrow().as_ref() {
            return Err(BridgeError::new(BridgeErrorKind::EVENT_ENDED, why.as_str()));
        }
        let is_array = matches!(args.first(), Some(0x90..=0x9f | 0xdc | 0xdd));
        if !is_array || frame::object_len(args) != Ok(Some(args.len())) {
            return Err(BridgeError::new(
                BridgeErrorKind::HOST,
                format!("the arguments of {method} are not one MessagePack array"),
            ));
        }
        let answer = self.yielder.suspend(PdkCall {
            method: method.to_owned(),
            args: args.to_vec(),
        });
        if is_terminal(method) {
            *self.ended.borrow_mut() = Some(format!(
                "event {}: {method} was called, Kong sends no more Steps",
                self.id
            ));
        }
        if let Err(e) = &answer
            && e.kind == BridgeErrorKind::EVENT_ENDED
        {
            tracing::debug!(event = self.id, "{}", e.message);
            *self.ended.borrow_mut() = Some(e.message.to_string());
        }
        answer
    }
}

impl HostBridge for EventBridge<'_> {
    fn call(&self, method: RStr<'_>, args: RSlice<'_, u8>) -> RResult<RVec<u8>, BridgeError> {
        // A panic here would reach abi_stable's shim, which aborts the process: contain it.
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
