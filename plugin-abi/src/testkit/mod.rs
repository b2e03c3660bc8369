//! Unit tests of plugins without Kong or pluginhost (feature `testkit`).
//!
//! Two Kongs answer a plugin's PDK calls in-process, through the same bridge pluginhost
//! gives a plugin:
//!
//! * [`SimulatedKong`] keeps a whole simulated request: the client's request, the request sent
//!   to the service, the service's answer and the response to the client. Run one phase or a
//!   whole request through a plugin, then look at what it did — as go-pdk's `test` package does.
//! * [`ScriptedKong`] answers each call with what a closure returns, to pin the exact method
//!   strings and argument arrays, and to send every answer shape Kong can send.
//!
//! Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! plugin-abi = { version = "*", features = ["testkit"] }
//! ```

mod answers;
mod http;
mod scripted;
mod simulated;
mod state;

use abi_stable::std_types::{RResult, RVec};
pub use rmpv::Value;

pub use http::{ClientResponse, Headers, LogLine, ServiceRequest, TestRequest, UpstreamResponse};
pub use scripted::ScriptedKong;
pub use simulated::SimulatedKong;

use crate::{
    Plugin,
    ffi::{BridgeError, BridgeErrorKind},
};

/// A PDK call as Kong received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The dotted method name.
    pub method: String,
    /// The arguments, as the MessagePack array Kong unpacks.
    pub args: Vec<Value>,
}

impl Call {
    /// Decodes what a plugin sent over the bridge, as Kong unpacks it.
    fn decode(method: &str, args: &[u8]) -> Result<Call, BridgeError> {
        let host_error = |m: String| BridgeError::new(BridgeErrorKind::HOST, m);
        let args = match rmpv::decode::read_value(&mut &args[..]) {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                return Err(host_error(format!(
                    "arguments must be an array, got {other}"
                )));
            }
            Err(e) => return Err(host_error(format!("undecodable arguments: {e}"))),
        };
        Ok(Call {
            method: method.to_owned(),
            args,
        })
    }
}

/// How a test Kong answers a call.
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

impl Answer {
    /// The answer as a serde value, `Nil` for `None`.
    fn json(value: Option<serde_json::Value>) -> Answer {
        match value {
            None | Some(serde_json::Value::Null) => Answer::Nil,
            Some(v) => Answer::Value(to_msgpack(&v)),
        }
    }

    /// What the bridge hands back to the PDK.
    fn encode(self) -> RResult<RVec<u8>, BridgeError> {
        match self {
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

/// A serde value as the MessagePack value Kong would send for the same Lua table.
fn to_msgpack(value: &serde_json::Value) -> Value {
    rmp_serde::to_vec_named(value)
        .ok()
        .and_then(|bytes| rmpv::decode::read_value(&mut bytes.as_slice()).ok())
        .unwrap_or(Value::Nil)
}

/// A MessagePack value as serde JSON, smoothed as the PDK smooths Kong's answers.
fn to_json(value: &Value) -> serde_json::Value {
    crate::value::to_json(value.clone())
}

/// Builds a plugin instance from a config given as JSON, exactly as pluginhost does when Kong
/// sends `StartInstance`: `null` fields are absent (Kong sends every unset optional field as
/// `null`), the JSON is decoded into the config type, then [`Plugin::new`] runs.
///
/// ```
/// # use plugin_abi::{HandlerResult, Kong, Plugin};
/// #[plugin_abi::config]
/// struct Config { #[serde(default)] greeting: String }
/// struct Greeter(String);
/// impl Plugin for Greeter {
///     type Config = Config;
///     fn new(c: Config) -> Result<Self, String> { Ok(Greeter(c.greeting)) }
/// }
/// let plugin: Greeter =
///     plugin_abi::testkit::configure(plugin_abi::serde_json::json!({"greeting": null})).unwrap();
/// assert_eq!(plugin.0, "");
/// ```
pub fn configure<P: Plugin>(config: serde_json::Value) -> Result<P, String> {
    P::new(crate::export::decode_config(&config.to_string())?)
}

#[cfg(test)]
mod tests;
