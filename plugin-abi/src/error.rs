//! The error every PDK call can return.

use crate::ffi::{BridgeError, BridgeErrorKind};

/// Why a PDK call produced no value.
///
/// ```
/// use plugin_abi::PdkError;
/// let e = PdkError::Kong("header name must be a string".into());
/// assert_eq!(e.to_string(), "Kong: header name must be a string");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PdkError {
    /// Kong answered with an error (`plugin.StepError`, Kong 2.x).
    #[error("Kong: {0}")]
    Kong(String),
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
