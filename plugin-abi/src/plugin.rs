//! What a plugin author implements: [`Plugin`], and the [`Phase`]s it handles.

use std::{fmt, str::FromStr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::Kong;

/// What a phase handler returns: `?` works on PDK calls and on any other error.
///
/// ```
/// fn handler() -> plugin_abi::HandlerResult {
///     let n: u32 = "42".parse()?;
///     assert_eq!(n, 42);
///     Ok(())
/// }
/// # handler().unwrap();
/// ```
pub type HandlerResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The phases Kong can run an external plugin in, in the order dumps list them.
///
/// ```
/// use plugin_abi::Phase;
/// assert_eq!("access".parse::<Phase>(), Ok(Phase::Access));
/// assert_eq!(Phase::Log.as_str(), "log");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// TLS handshake (`ssl_certificate_by_lua`).
    Certificate,
    /// Before routing.
    Rewrite,
    /// After routing, before proxying: where most plugins work.
    Access,
    /// After the whole upstream response is received (makes Kong buffer it).
    Response,
    /// Stream (TCP/UDP) routes, before proxying.
    Preread,
    /// After the response was sent, with a snapshot of the request.
    Log,
}

impl Phase {
    /// Every phase, in the fixed order dumps use.
    ///
    /// ```
    /// assert_eq!(plugin_abi::Phase::ALL.len(), 6);
    /// ```
    pub const ALL: [Phase; 6] = [
        Phase::Certificate,
        Phase::Rewrite,
        Phase::Access,
        Phase::Response,
        Phase::Preread,
        Phase::Log,
    ];

    /// The name Kong uses for the phase (`EventName` of `plugin.HandleEvent`).
    ///
    /// ```
    /// assert_eq!(plugin_abi::Phase::Certificate.as_str(), "certificate");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Certificate => "certificate",
            Phase::Rewrite => "rewrite",
            Phase::Access => "access",
            Phase::Response => "response",
            Phase::Preread => "preread",
            Phase::Log => "log",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown phase name.
///
/// ```
/// assert!("header_filter".parse::<plugin_abi::Phase>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown phase `{0}` (phases are certificate, rewrite, access, response, preread, log)")]
pub struct UnknownPhase(pub String);

impl FromStr for Phase {
    type Err = UnknownPhase;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPhase(s.to_owned()))
    }
}

/// A Kong plugin written in Rust.
///
/// `Config` is what operators set on the plugin entity; its schema is derived from the type (doc
/// comments become descriptions, `#[serde(default)]` fields are optional). Implement the
/// handlers of the phases the plugin works in; [`plugin`](crate::plugin) on the `impl` block
/// exports exactly those, and Kong never calls the others.
///
/// Handlers take `&self` and run concurrently: state shared between requests needs a lock or
/// an atomic. A handler may block (a call to Redis or an HTTP service) or compute between two
/// PDK calls: pluginhost then runs its events on threads of their own, and a handler never
/// changes thread while it runs, so thread-locals and non-`Send` values are sound.
///
/// ```standalone_crate
/// use plugin_abi::{HandlerResult, Kong, Plugin};
///
/// #[plugin_abi::config]
/// pub struct Config {
///     /// The greeting to send back.
///     #[serde(default)]
///     message: String,
/// }
///
/// pub struct Hello { message: String }
///
/// #[plugin_abi::plugin(name = "hello", priority = 1)]
/// impl Plugin for Hello {
///     type Config = Config;
///     fn new(config: Config) -> Result<Self, String> {
///         Ok(Hello { message: config.message })
///     }
///     fn access(&self, kong: &Kong) -> HandlerResult {
///         kong.response().set_header("x-hello", &self.message)?;
///         Ok(())
///     }
/// }
/// ```
pub trait Plugin: Sized + Send + Sync + 'static {
    /// The plugin's configuration, decoded from the JSON Kong sends with `StartInstance`.
    type Config: DeserializeOwned + JsonSchema;

    /// Builds an instance from its configuration. An `Err` is reported to Kong as the
    /// `StartInstance` error.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// The `certificate` phase.
    fn certificate(&self, _kong: &Kong) -> HandlerResult {
        Ok(())
    }
    /// The `rewrite` phase.
    fn rewrite(&self, _kong: &Kong) -> HandlerResult {
        Ok(())
    }
    /// The `access` phase.
    fn access(&self, _kong: &Kong) -> HandlerResult {
        Ok(())
    }
    /// The `response` phase.
    fn response(&self, _kong: &Kong) -> HandlerResult {
        Ok(())
    }
    /// The `preread` phase.
    fn preread(&self, _kong: &Kong) -> HandlerResult {
        Ok(())
    }
    /// The `log` phase.
    fn log(&self, _kong: &Kong) -> HandlerResult {
        Ok(())
    }
}

/// Runs `plugin`'s handler of `phase`: the one place a phase picks its handler.
pub(crate) fn run_handler<P: Plugin>(plugin: &P, phase: Phase, kong: &Kong) -> HandlerResult {
    match phase {
        Phase::Certificate => plugin.certificate(kong),
        Phase::Rewrite => plugin.rewrite(kong),
        Phase::Access => plugin.access(kong),
        Phase::Response => plugin.response(kong),
        Phase::Preread => plugin.preread(kong),
        Phase::Log => plugin.log(kong),
    }
}

/// What a plugin declares about itself: the fields of Kong's plugin info.
///
/// It crosses the boundary as JSON (see [`PluginMod::info`](crate::ffi::PluginMod)).
///
/// ```
/// let info: plugin_abi::PluginInfo = plugin_abi::serde_json::from_str(
///     r#"{"name":"hello","version":"0.1.0","priority":1,"phases":["access"],"schema":{}}"#,
/// ).unwrap();
/// assert_eq!(info.phases, vec![plugin_abi::Phase::Access]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The plugin name Kong knows it by.
    pub name: String,
    /// The plugin version, `x.y.z`.
    pub version: String,
    /// Kong's execution priority (higher runs first).
    pub priority: i64,
    /// The phases the plugin handles.
    pub phases: Vec<Phase>,
    /// The config schema in Kong's format.
    pub schema: serde_json::Value,
    /// What Kong answers when a handler fails in a phase that can still answer (see
    /// [`FailClosed`]); `None`: Kong goes on with the request without the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_closed: Option<FailClosed>,
    /// The phases whose handlers call services: their events run on threads of their own
    /// from the first one (`calls_services = [...]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls_services: Vec<Phase>,
}

/// The response that ends a request whose handler failed, for a plugin that guards the door.
///
/// Kong lets a request go on without an external plugin whose handler failed (over MsgPack:1 in
/// every release, over ProtoBuf:1 before 3.8). A plugin declared with `fail_closed = STATUS`
/// (and optionally `fail_closed_message = "..."`) instead ends the request with `STATUS` and
/// `{"message": ...}` when, in the `rewrite` or `access` phase (the phases that can still
/// answer), its handler returns an error (a PDK call's error passed on with `?` included) or
/// panics, and when pluginhost cannot run the event at all. The failure is logged in Kong's
/// error log first (`kong.log.err`).
///
/// ```
/// let closed = plugin_abi::FailClosed::new(503, None);
/// assert_eq!(closed.status, 503);
/// assert_eq!(closed.message, "Service Unavailable");
/// assert_eq!(closed.body(), plugin_abi::serde_json::json!({"message": "Service Unavailable"}));
/// assert!(closed.applies_to(plugin_abi::Phase::Access));
/// assert!(!closed.applies_to(plugin_abi::Phase::Log));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailClosed {
    /// The HTTP status.
    pub status: u16,
    /// The `message` of the JSON body.
    pub message: String,
}

impl FailClosed {
    /// `status` with `message`, or the status's reason phrase (Kong's wording for its own
    /// errors where it has one).
    pub fn new(status: u16, message: Option<&str>) -> Self {
        let message = message.map_or_else(|| Self::reason(status).to_owned(), str::to_owned);
        FailClosed { status, message }
    }

    /// The body Kong sends, as JSON.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "message": self.message })
    }

    /// Whether a handler failing in `phase` can still end the request: `rewrite` and
    /// `access`. In the others the response is under way or sent.
    pub fn applies_to(&self, phase: Phase) -> bool {
        matches!(phase, Phase::Rewrite | Phase::Access)
    }

    fn reason(status: u16) -> &'static str {
        match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            429 => "API rate limit exceeded",
            500 => "An unexpected error occurred",
            502 => "An invalid response was received from the upstream server",
            503 => "Service Unavailable",
            504 => "The upstream server is timing out",
            _ => "The request was refused",
        }
    }
}
