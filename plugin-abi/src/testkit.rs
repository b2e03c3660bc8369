//! An in-process Kong for unit tests (feature `testkit`): run PDK calls and plugin handlers
//! without Kong or pluginhost.
//!
//! [`ScriptedKong`] answers every PDK call with what a closure returns and records the calls:
//! the exact method string and the arguments as Kong would receive them (decoded from the
//! MessagePack the PDK sent). Answers are MessagePack values, so a test can send every shape
//! Kong sends: str or bin, floats for integers, `[]` for an empty map, integer keys, nothing.

use std::cell::RefCell;

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice, RStr, RVec},
};
pub use rmpv::Value;

use crate::{
    Kong,
    ffi::{BridgeError, BridgeErrorKind, HostBridge, HostBridge_TO},
};

/// A PDK call as Kong received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The dotted method name.
    pub method: String,
    /// The arguments, as the MessagePack array Kong unpacks.
    pub args: Vec<Value>,
}

/// How the scripted Kong answers a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The PDK function returned this value.
    Value(Value),
    /// It returned nothing (Kong leaves `Data` out of the Step).
    Nil,
    /// It returned `nil, err` (Kong 2.x sends `plugin.StepError`).
    Error(String),
}

impl<T: Into<Value>> From<T> for Answer {
    fn from(v: T) -> Self {
        Answer::Value(v.into())
    }
}

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
        let host_error = |m: String| RResult::RErr(BridgeError::new(BridgeErrorKind::HOST, m));
        let args = match rmpv::decode::read_value(&mut args.as_slice()) {
            Ok(Value::Array(items)) => items,
            Ok(other) => return host_error(format!("arguments must be an array, got {other}")),
            Err(e) => return host_error(format!("undecodable arguments: {e}")),
        };
        let call = Call {
            method: method.as_str().to_owned(),
            args,
        };
        let answer = (self.script.borrow_mut())(&call);
        self.calls.borrow_mut().push(call);
        match answer {
            Answer::Error(e) => RResult::RErr(BridgeError::new(BridgeErrorKind::KONG, e)),
            Answer::Nil => RResult::ROk(RVec::from(vec![0xc0])),
            Answer::Value(v) => {
                let mut out = Vec::new();
                // Writes into a Vec cannot fail.
                let _ = rmpv::encode::write_value(&mut out, &v);
                RResult::ROk(RVec::from(out))
            }
        }
    }
}
