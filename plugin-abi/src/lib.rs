//! # plugin-abi — write Kong plugins in Rust for pluginhost
//!
//! The one crate a plugin depends on. It holds:
//!
//! * [`ffi`] — the small, frozen stable-ABI surface (abi_stable) between pluginhost and plugins;
//! * [`Plugin`] and [`export_plugin!`] — what an author implements and how it is exported;
//! * [`Kong`] and [`pdk`] — the typed Kong PDK, every call built on one generic bridge call;
//! * [`value`] — decoding of Kong's loose MessagePack answers;
//! * [`schema`] — Kong config schemas derived from the config type;
//! * [`fingerprint`] — the build facts every plugin carries, checked before it is loaded;
//! * `testkit` (feature `testkit`) — an in-process Kong to unit-test plugins without Kong.
//!
//! A plugin is a `cdylib` crate:
//!
//! ```standalone_crate
//! use plugin_abi::{HandlerResult, Kong, Plugin};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! pub struct Config {
//!     /// The greeting.
//!     #[serde(default)]
//!     message: String,
//! }
//!
//! pub struct Hello(Config);
//!
//! impl Plugin for Hello {
//!     type Config = Config;
//!     fn new(config: Config) -> Result<Self, String> { Ok(Hello(config)) }
//!     fn access(&self, kong: &Kong) -> HandlerResult {
//!         let host = kong.request().get_header("host")?.unwrap_or_default();
//!         kong.response().set_header("x-hello", &format!("{} {host}", self.0.message))?;
//!         Ok(())
//!     }
//! }
//!
//! plugin_abi::export_plugin! { plugin: Hello, name: "hello", priority: 1, phases: [access] }
//! ```

mod error;
mod export;
pub mod ffi;
pub mod fingerprint;
pub mod pdk;
mod plugin;
pub mod schema;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod value;

pub use error::{PdkError, PdkResult};
#[doc(hidden)]
pub use export::__private;
pub use ffi::ABI_REVISION;
pub use pdk::Kong;
pub use plugin::{HandlerResult, Phase, Plugin, PluginInfo, UnknownPhase};
pub use schemars::{self, JsonSchema};
pub use serde::{self, Deserialize};
