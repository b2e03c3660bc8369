//! [`ScriptedKong`]: a Kong whose every answer a test writes, to pin exact wire shapes.

use std::cell::RefCell;

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice, RStr, RVec},
};

use super::{Answer, Call};
use crate::{
    Kong,
    ffi::{BridgeError, HostBridge, HostBridge_TO},
};

/// What answers the calls of a [`ScriptedKong`].
type Script = Box<dyn FnMut(&Call) -> Answer>;

/// A Kong that answers PDK calls from a script and records them.
///
/// ```
/// use plugin_abi::testkit::{Answer, ScriptedKong};
/// let kong = ScriptedKong::new(|call| match call.method.as_str() {
///     "kong.request.get_header" => Answer::from("example.com"),
///     _ => Answer::Nil,
/// });
/// let host = kong.run(|k| k.request().get_header("host")).unwrap();
/// assert_eq!(host.as_deref(), Some("example.com"));
/// assert_eq!(kong.calls()[0].method, "kong.request.get_header");
/// ```
pub struct ScriptedKong {
    script: RefCell<Script>,
    calls: RefCell<Vec<Call>>,
}

impl ScriptedKong {
    /// A Kong answering every call with `script`.
    ///
    /// ```
    /// let kong = plugin_abi::testkit::ScriptedKong::new(|_| plugin_abi::testkit::Answer::Nil);
    /// assert!(kong.calls().is_empty());
    /// ```
    pub fn new(script: impl FnMut(&Call) -> Answer + 'static) -> Self {
        ScriptedKong {
            script: RefCell::new(Box::new(script)),
            calls: RefCell::default(),
        }
    }

    /// A Kong answering every call with `answer`.
    ///
    /// ```
    /// use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::from(8000));
    /// assert_eq!(kong.run(|k| k.request().get_port()).unwrap(), 8000);
    /// ```
    pub fn answering(answer: Answer) -> Self {
        ScriptedKong::new(move |_| answer.clone())
    }

    /// Runs `f` with a [`Kong`] handle whose calls this Kong answers.
    ///
    /// ```
    /// use plugin_abi::testkit::{Answer, ScriptedKong};
    /// let kong = ScriptedKong::answering(Answer::Nil);
    /// kong.run(|k| k.response().set_header("x", "y")).unwrap();
    /// ```
    pub fn run<R>(&self, f: impl FnOnce(&Kong<'_>) -> R) -> R {
        let kong = Kong::new(HostBridge_TO::from_ptr(self, TD_Opaque));
        f(&kong)
    }

    /// Every call made so far.
    ///
    /// ```
    /// let kong = plugin_abi::testkit::ScriptedKong::answering(plugin_abi::testkit::Answer::Nil);
    /// kong.run(|k| k.log().info("hi")).unwrap();
    /// assert_eq!(kong.calls()[0].args, vec!["hi".into()]);
    /// ```
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }
}

impl HostBridge for ScriptedKong {
    fn call(&self, method: RStr<'_>, args: RSlice<'_, u8>) -> RResult<RVec<u8>, BridgeError> {
        let call = match Call::decode(method.as_str(), args.as_slice()) {
            Ok(call) => call,
            Err(e) => return RResult::RErr(e),
        };
        let answer = (self.script.borrow_mut())(&call);
        self.calls.borrow_mut().push(call);
        answer.encode()
    }
}
