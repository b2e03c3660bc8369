//! # plugin-abi — write Kong plugins in Rust for pluginhost
//!
//! The one crate a plugin depends on. It holds:
//!
//! * [`ffi`] — the small, frozen stable-ABI surface (abi_stable) between pluginhost and plugins;
//! * [`Plugin`], [`macro@config`] and [`macro@plugin`] — what an author writes, and how it is
//!   exported;
//! * [`Kong`] and [`pdk`] — the typed Kong PDK, every call built on one generic bridge call;
//! * [`value`] — decoding of Kong's loose MessagePack answers;
//! * [`schema`] — Kong config schemas derived from the config type, and Kong's rules for them;
//! * [`fingerprint`] — the build facts every plugin carries, checked before it is loaded;
//! * `testkit` (feature `testkit`) — an in-process Kong to unit-test plugins without Kong.
//!
//! A plugin is a `cdylib` crate whose only dependency is plugin-abi:
//!
//! ```standalone_crate
//! use plugin_abi::{HandlerResult, Kong, Plugin};
//!
//! #[plugin_abi::config]
//! pub struct Config {
//!     /// Who says hello.
//!     #[serde(default)]
//!     message: String,
//! }
//!
//! pub struct Hello(Config);
//!
//! #[plugin_abi::plugin(name = "hello", priority = 1)]
//! impl Plugin for Hello {
//!     type Config = Config;
//!     fn new(config: Config) -> Result<Self, String> { Ok(Hello(config)) }
//!     fn access(&self, kong: &Kong) -> HandlerResult {
//!         let host = kong.request().get_header("host")?.unwrap_or_default();
//!         kong.response().set_header("x-hello", &format!("{} {host}", self.0.message))?;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! Its phases are the handlers it implements (here `access`), its version the crate's, and
//! everything Kong checks at `kong start` is checked when the crate compiles or when pluginhost
//! loads it.

// The attributes name this crate `::plugin_abi`, also in its own tests.
extern crate self as plugin_abi;

mod error;
mod export;
pub mod ffi;
pub mod fingerprint;
pub mod pdk;
mod plugin;
pub mod schema;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
mod ttl_cache;
pub mod value;

pub use error::{PdkError, PdkResult};
#[doc(hidden)]
pub use export::__private;
pub use ffi::ABI_REVISION;
pub use pdk::Kong;
pub use plugin::{FailClosed, HandlerResult, Phase, Plugin, PluginInfo, UnknownPhase};
pub use schemars::{self, JsonSchema};
pub use serde::{self, Deserialize};
/// Kong's configs, entities' `extra` fields and the test kit's configs are JSON values.
pub use serde_json;
pub use ttl_cache::TtlCache;

/// Makes a struct or an enum a plugin config type: it derives `Deserialize` and `JsonSchema`
/// through plugin-abi's own copies of serde and schemars, so the plugin depends on neither.
/// serde's and schemars' field attributes work as usual.
///
/// ```
/// #[plugin_abi::config]
/// #[serde(rename_all = "lowercase")]
/// pub enum Mode { Fast, Safe }
///
/// #[plugin_abi::config]
/// pub struct Config {
///     /// How hard to try.
///     #[serde(default = "default_mode")]
///     mode: Mode,
///     #[schemars(range(min = 1, max = 10))]
///     retries: u8,
/// }
/// fn default_mode() -> Mode { Mode::Fast }
///
/// let schema = plugin_abi::schema::kong_schema::<Config>("p").unwrap();
/// let fields = &schema["fields"][0]["config"]["fields"];
/// assert_eq!(fields[0]["mode"]["one_of"], plugin_abi::serde_json::json!(["fast", "safe"]));
/// assert_eq!(fields[1]["retries"]["between"], plugin_abi::serde_json::json!([1, 10]));
/// ```
#[doc(inline)]
pub use plugin_abi_macros::config;

/// Exports the plugin whose `impl Plugin for T` block it is put on, so that pluginhost can load
/// the `cdylib`. One per crate.
///
/// The arguments, in any order:
///
/// * `name = "..."` — the name Kong knows the plugin by (`plugins = bundled,NAME`); it must not
///   be one Kong already has (`key-auth`...);
/// * `priority = N` — Kong runs plugins with higher priorities first, an integer;
/// * `version = "x.y.z"` — optional, the crate's version by default; anything but three
///   numbers is a compile error, since Kong 3.0 and later refuse it;
/// * `fail_closed = STATUS` — optional: when a `rewrite` or `access` handler fails (an error,
///   a PDK call's error passed on with `?`, a panic) or cannot run, Kong ends the request with
///   `STATUS` instead of going on without the plugin ([`FailClosed`]); with
///   `fail_closed_message = "..."` for the body's `message`. Plugins that guard the door
///   (authentication, authorization) want it; plugins whose failure must not stop traffic
///   (logging, enrichment) leave it out;
/// * `calls_services = [phase, ...]` — optional: these phases' handlers call services (HTTP,
///   Redis, a database), so their events run on threads of their own from the first one,
///   rather than starting on probation. A phase listed must have a handler.
///
/// The phases Kong calls are the handlers the block defines: `certificate`, `rewrite`,
/// `access`, `response`, `preread`, `log`. A block that defines none is a compile error.
///
/// ```standalone_crate
/// use plugin_abi::{HandlerResult, Kong, Plugin};
///
/// #[plugin_abi::config]
/// pub struct Config {}
///
/// pub struct Audit;
///
/// #[plugin_abi::plugin(priority = 5, version = "1.2.0", name = "audit")]
/// impl Plugin for Audit {
///     type Config = Config;
///     fn new(_: Config) -> Result<Self, String> { Ok(Audit) }
///     fn rewrite(&self, kong: &Kong) -> HandlerResult {
///         kong.service().request().set_header("x-audited", "yes")?;
///         Ok(())
///     }
///     fn log(&self, kong: &Kong) -> HandlerResult {
///         kong.log().notice("request done")?;
///         Ok(())
///     }
/// }
/// ```
///
/// An authentication plugin that calls a service in `access`, and fails closed:
///
/// ```standalone_crate
/// use plugin_abi::{HandlerResult, Kong, Plugin};
///
/// #[plugin_abi::config]
/// pub struct Config {}
///
/// pub struct Guard;
///
/// #[plugin_abi::plugin(name = "guard", priority = 1000, fail_closed = 503, calls_services = [access])]
/// impl Plugin for Guard {
///     type Config = Config;
///     fn new(_: Config) -> Result<Self, String> { Ok(Guard) }
///     fn access(&self, kong: &Kong) -> HandlerResult {
///         let Some(token) = kong.request().get_header("authorization")? else {
///             return Ok(kong.response().exit(401, Some("no token"), None)?);
///         };
///         // A failure from here on, or a panic, ends the request with 503: the request is
///         // never proxied unchecked.
///         kong.service().request().set_header("x-token-seen", &token)?;
///         Ok(())
///     }
/// }
/// ```
///
/// A version Kong would refuse does not compile (E0080: the check is a `const` assertion):
///
/// ```compile_fail,E0080
/// use plugin_abi::{HandlerResult, Kong, Plugin};
/// #[plugin_abi::config]
/// pub struct Config {}
/// pub struct P;
/// #[plugin_abi::plugin(name = "p", priority = 1, version = "1.0")]
/// impl Plugin for P {
///     type Config = Config;
///     fn new(_: Config) -> Result<Self, String> { Ok(P) }
///     fn access(&self, _: &Kong) -> HandlerResult { Ok(()) }
/// }
/// fn main() {}
/// ```
///
/// Nor does a plugin without a handler, which Kong would never call:
///
/// ```compile_fail
/// use plugin_abi::Plugin;
/// #[plugin_abi::config]
/// pub struct Config {}
/// pub struct P;
/// #[plugin_abi::plugin(name = "p", priority = 1)]
/// impl Plugin for P {
///     type Config = Config;
///     fn new(_: Config) -> Result<Self, String> { Ok(P) }
/// }
/// fn main() {}
/// ```
#[doc(inline)]
pub use plugin_abi_macros::plugin;

/// A plugin type that [`plugin`] exported: its root module, the same one pluginhost finds in the
/// `cdylib`. A server linked with the plugin itself (one plugin per process, pluginhost's
/// `embedded` mode) serves it from here, with no file to load and no build to check.
///
/// `#[plugin_abi::plugin]` implements it; a plugin author never does.
///
/// ```standalone_crate
/// use plugin_abi::{Exported, HandlerResult, Kong, Plugin};
///
/// #[plugin_abi::config]
/// pub struct Config {}
///
/// pub struct Stamp;
///
/// #[plugin_abi::plugin(name = "stamp", priority = 7, version = "1.0.0")]
/// impl Plugin for Stamp {
///     type Config = Config;
///     fn new(_: Config) -> Result<Self, String> { Ok(Stamp) }
///     fn access(&self, kong: &Kong) -> HandlerResult {
///         kong.response().set_header("x-stamp", "1")?;
///         Ok(())
///     }
/// }
///
/// fn main() {
///     let module = Stamp::root_module();
///     assert_eq!(module.abi_revision(), plugin_abi::ABI_REVISION);
/// }
/// ```
pub trait Exported {
    /// The plugin's root module.
    fn root_module() -> ffi::PluginModRef;
}
