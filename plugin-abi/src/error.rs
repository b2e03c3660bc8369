//! The error every PDK call can return.

use crate::ffi::{BridgeError, BridgeErrorKind};

/// Why a PDK call produced no value.
///
/// ```
/// use plugin_abi::PdkError;
/// // Kong's message, as Kong wrote it: a plugin that reports it adds nothing.
/// let e = PdkError::Kong("header name must be a string".into());
/// assert_eq!(e.to_string(), "header name must be a string");
/// let e = PdkError::NoValue { method: "kong.request.get_path".into() };
/// assert!(e.to_string().starts_with("kong.request.get_path answered nil"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PdkError {
    /// Kong answered with an error (`plugin.StepError`, Kong 2.x); the message is Kong's.
    #[error("{0}")]
    Kong(String),
    /// Kong answered nil from a function that always returns a value when it succeeds: the
    /// call failed. Kong 3.x reports a failed PDK call this way, and logs the reason in its
    /// own error log. See the table in [`pdk`](crate::pdk).
    #[error(
        "{method} answered nil: the call failed in Kong (Kong 3.x answers a failed PDK call \
         with nil and logs why in its error log)"
    )]
    NoValue {
        /// The PDK method called.
        method: String,
    },
    /// The event is over: `kong.response.exit` was called, or Kong abandoned the event.
    #[error("the event has ended: {0}")]
    EventEnded(String),
    /// The host refused the call.
    #[error("pluginhost: {0}")]
    Host(String),
    /// Kong's answer does not have the shape the PDK function returns.
    #[error("unexpected answer to {method}: {message}")]
    Decode {
        /// The PDK method called.
        method: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// The arguments could not be encoded as MessagePack.
    #[error("cannot encode the arguments of {method}: {message}")]
    Encode {
        /// The PDK method called.
        method: String,
        /// The encoder's message.
        message: String,
    },
}

impl From<BridgeError> for PdkError {
    fn from(e: BridgeError) -> Self {
        let message = e.message.into_string();
        match e.kind {
            BridgeErrorKind::KONG => PdkError::Kong(message),
            BridgeErrorKind::EVENT_ENDED => PdkError::EventEnded(message),
            _ => PdkError::Host(message),
        }
    }
}

/// The result of a PDK call.
///
/// ```
/// fn none() -> plugin_abi::PdkResult<Option<String>> { Ok(None) }
/// assert_eq!(none(), Ok(None));
/// ```
pub type PdkResult<T> = Result<T, PdkError>;
