//! The typed Kong PDK, built on the one generic [`HostBridge::call`](crate::ffi::HostBridge).
//!
//! Each PDK function encodes its arguments as a MessagePack array, sends the exact method
//! string Kong resolves (`kong.request.get_header`...), and decodes Kong's answer with
//! [`crate::value`] module. One file per Kong module.
//!
//! # What a nil answer means
//!
//! Kong answers nil for two reasons: the thing asked for is not there (no such header, no
//! consumer yet), or the call failed. Kong 2.x reports a failure as a `StepError` with a
//! message; Kong 3.x sends nil and writes the reason into its own error log. Each function
//! says which nil it can get, by its type:
//!
//! | Kong answers | the function returns | functions |
//! |---|---|---|
//! | nil | `Ok(None)`: not there, a normal answer | `kong.client.get_credential`, `kong.client.load_consumer`, `kong.client.get_consumer`, `kong.ctx.shared.get`, `kong.nginx.get_var`, `kong.nginx.get_tls1_version_str`, `kong.nginx.get_ctx`, `kong.request.get_query_arg`, `kong.request.get_header`, `kong.response.get_header`, `kong.service.response.get_status`, `kong.service.response.get_header` |
//! | nil | `Err(PdkError::NoValue)`: these always have a value, so the call failed | `kong.client.get_ip`, `kong.client.get_forwarded_ip`, `kong.client.get_port`, `kong.client.get_forwarded_port`, `kong.client.get_protocol`, `kong.ip.is_trusted`, `kong.log.serialize`, `kong.nginx.req_start_time`, `kong.nginx.get_subsystem`, `kong.node.get_id`, `kong.node.get_memory_stats`, `kong.request.get_scheme`, `kong.request.get_host`, `kong.request.get_port`, `kong.request.get_forwarded_scheme`, `kong.request.get_forwarded_host`, `kong.request.get_forwarded_port`, `kong.request.get_http_version`, `kong.request.get_method`, `kong.request.get_path`, `kong.request.get_path_with_query`, `kong.request.get_raw_query`, `kong.request.get_query`, `kong.request.get_headers`, `kong.request.get_raw_body`, `kong.request.get_uri_captures`, `kong.response.get_status`, `kong.response.get_headers`, `kong.response.get_source`, `kong.router.get_route`, `kong.router.get_service`, `kong.service.response.get_headers`, `kong.service.response.get_raw_body` |
//! | nil | `Ok(())`: nothing to answer, the normal answer | `kong.client.authenticate`, `kong.ctx.shared.set`, `kong.log.alert`, `kong.log.crit`, `kong.log.err`, `kong.log.warn`, `kong.log.notice`, `kong.log.info`, `kong.log.debug`, `kong.log.set_serialize_value`, `kong.nginx.set_ctx`, `kong.response.set_status`, `kong.response.set_header`, `kong.response.add_header`, `kong.response.clear_header`, `kong.response.set_headers`, `kong.response.exit`, `kong.response.error`, `kong.service.set_upstream`, `kong.service.set_target`, `kong.service.request.set_scheme`, `kong.service.request.set_path`, `kong.service.request.set_raw_query`, `kong.service.request.set_method`, `kong.service.request.set_query`, `kong.service.request.set_header`, `kong.service.request.add_header`, `kong.service.request.clear_header`, `kong.service.request.set_headers`, `kong.service.request.set_raw_body` |
//! | `StepError` (Kong 2.x) | `Err(PdkError::Kong(message))`, Kong's message as it wrote it | every function |
//! | nothing: the event ended | `Err(PdkError::EventEnded)` | every call after `kong.response.exit` or `error`, or once Kong abandoned the event |
//!
//! ## Over ProtoBuf:1
//!
//! A server started with `-protocol ProtoBuf:1` gets Kong's answers as protobuf messages, which
//! the server turns into the same values; the PDK, and a plugin, stay the same. Two things
//! differ. Only the 74 methods of Kong's `service Kong` exist: any other call fails with
//! [`PdkError::Host`] naming the dialect, and nothing is sent. And proto3 cannot tell a zero
//! from nothing: Kong's nil for a text, number or table answer arrives as `""`, `0` or empty, so
//! a missing header is `Ok(Some(""))` where MsgPack:1 gives `Ok(None)`; an entity's fields that
//! are zero, empty or `false` read as absent; a Kong 2.x error is a nil answer, never
//! [`PdkError::Kong`].
//!
//! | Kong answers | the function returns | functions |
//! |---|---|---|
//! | nil, ProtoBuf:1 | `Ok(None)` | `kong.client.get_consumer`, `kong.client.get_credential`, `kong.client.load_consumer`, `kong.ctx.shared.get`, `kong.nginx.get_ctx` |
//! | nil, ProtoBuf:1 | the zero of the answer's message: `""`, `0`, `false`, empty | `kong.client.get_forwarded_ip`, `kong.client.get_forwarded_port`, `kong.client.get_ip`, `kong.client.get_port`, `kong.client.get_protocol`, `kong.ip.is_trusted`, `kong.log.serialize`, `kong.nginx.get_subsystem`, `kong.nginx.get_tls1_version_str`, `kong.nginx.get_var`, `kong.nginx.req_start_time`, `kong.node.get_id`, `kong.node.get_memory_stats`, `kong.request.get_forwarded_host`, `kong.request.get_forwarded_port`, `kong.request.get_forwarded_scheme`, `kong.request.get_header`, `kong.request.get_headers`, `kong.request.get_host`, `kong.request.get_http_version`, `kong.request.get_method`, `kong.request.get_path`, `kong.request.get_path_with_query`, `kong.request.get_port`, `kong.request.get_query`, `kong.request.get_query_arg`, `kong.request.get_raw_body`, `kong.request.get_raw_query`, `kong.request.get_scheme`, `kong.request.get_uri_captures`, `kong.response.get_header`, `kong.response.get_headers`, `kong.response.get_source`, `kong.response.get_status`, `kong.router.get_route`, `kong.router.get_service`, `kong.service.response.get_header`, `kong.service.response.get_headers`, `kong.service.response.get_raw_body`, `kong.service.response.get_status` |
//! | nil, ProtoBuf:1 | `Ok(())` | `kong.client.authenticate`, `kong.ctx.shared.set`, `kong.log.alert`, `kong.log.crit`, `kong.log.debug`, `kong.log.err`, `kong.log.info`, `kong.log.notice`, `kong.log.set_serialize_value`, `kong.log.warn`, `kong.nginx.set_ctx`, `kong.response.add_header`, `kong.response.clear_header`, `kong.response.exit`, `kong.response.set_header`, `kong.response.set_headers`, `kong.response.set_status`, `kong.service.request.add_header`, `kong.service.request.clear_header`, `kong.service.request.set_header`, `kong.service.request.set_headers`, `kong.service.request.set_method`, `kong.service.request.set_path`, `kong.service.request.set_query`, `kong.service.request.set_raw_body`, `kong.service.request.set_raw_query`, `kong.service.request.set_scheme`, `kong.service.set_target`, `kong.service.set_upstream` |
//! | nil, ProtoBuf:1 | `Err(PdkError::Host)`: not a method of Kong's `service Kong` | `kong.response.error` |
//!
//! [`Kong::call`] follows the same rule for any type: nil is `None` where the type is an
//! `Option` (or `()`, or a JSON value), and [`PdkError::NoValue`] where it has no place for it.
//!
//! ```
//! use plugin_abi::{PdkError, testkit::{Answer, ScriptedKong}};
//! let kong = ScriptedKong::answering(Answer::Nil);
//! assert_eq!(kong.run(|k| k.request().get_header("x-missing")), Ok(None));
//! assert!(matches!(kong.run(|k| k.request().get_path()), Err(PdkError::NoValue { .. })));
//! assert_eq!(kong.run(|k| k.response().set_header("x-a", "1")), Ok(()));
//! ```

mod client;
mod ctx;
mod entities;
mod log;
mod nginx;
mod request;
mod response;
mod router;
mod service;

use std::cell::Cell;

use abi_stable::std_types::RResult;
use serde::{Serialize, de::DeserializeOwned};

pub use client::{Client, Ip};
pub use ctx::{Ctx, Shared};
pub use entities::{
    AuthenticatedCredential, Consumer, DictStats, EntityRef, MemoryStats, MultiMap, Route, Service,
    UriCaptures, WorkerStats,
};
pub use log::{Log, LogLevel};
pub use nginx::{Nginx, Node};
pub use request::Request;
pub use response::Response;
pub use router::Router;
pub use service::{ServiceRequest, ServiceResponse, UpstreamService};

use crate::{PdkError, PdkResult, ffi::HostBridgeRef, value};

/// The PDK methods after which Kong never answers: the event ends with them.
///
/// ```
/// assert!(plugin_abi::pdk::TERMINAL_METHODS.contains(&"kong.response.exit"));
/// ```
pub const TERMINAL_METHODS: [&str; 2] = ["kong.response.exit", "kong.response.error"];

/// The handle a phase handler gets: every Kong PDK module hangs off it.
///
/// ```no_run
/// # fn handler(kong: &plugin_abi::Kong) -> plugin_abi::HandlerResult {
/// let host = kong.request().get_header("host")?;
/// kong.response().set_header("x-host-was", host.as_deref().unwrap_or("?"))?;
/// # Ok(()) }
/// ```
pub struct Kong<'a> {
    bridge: HostBridgeRef<'a>,
    ended: Cell<bool>,
}

impl<'a> Kong<'a> {
    /// Wraps the host's bridge for one event. Called by the code
    /// [`plugin`](macro@crate::plugin) generates, and by test kits.
    ///
    /// ```no_run
    /// # fn wrap(bridge: plugin_abi::ffi::HostBridgeRef<'_>) {
    /// let kong = plugin_abi::Kong::new(bridge);
    /// # }
    /// ```
    pub fn new(bridge: HostBridgeRef<'a>) -> Self {
        Kong {
            bridge,
            ended: Cell::new(false),
        }
    }

    /// `kong.request.*`: the client's request.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let agent = kong.request().get_header("user-agent")?;
    /// # Ok(()) }
    /// ```
    pub fn request(&self) -> Request<'_, 'a> {
        Request { kong: self }
    }

    /// `kong.response.*`: the response sent to the client.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.response().set_header("x-served-by", "rust")?;
    /// # Ok(()) }
    /// ```
    pub fn response(&self) -> Response<'_, 'a> {
        Response { kong: self }
    }

    /// `kong.log.*`: Kong's error log, and the serialized request for log plugins.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.log().info("processing")?;
    /// # Ok(()) }
    /// ```
    pub fn log(&self) -> Log<'_, 'a> {
        Log { kong: self }
    }

    /// `kong.ctx.*`: per-request storage.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.ctx().shared().set("user", "alice")?;
    /// # Ok(()) }
    /// ```
    pub fn ctx(&self) -> Ctx<'_, 'a> {
        Ctx { kong: self }
    }

    /// `kong.client.*`: who sent the request.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let ip = kong.client().get_forwarded_ip()?;
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> Client<'_, 'a> {
        Client { kong: self }
    }

    /// `kong.ip.*`: Kong's trusted addresses.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let trusted = kong.ip().is_trusted("10.0.0.1")?;
    /// # Ok(()) }
    /// ```
    pub fn ip(&self) -> Ip<'_, 'a> {
        Ip { kong: self }
    }

    /// `kong.nginx.*`: nginx variables and context.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let id = kong.nginx().get_var("request_id")?;
    /// # Ok(()) }
    /// ```
    pub fn nginx(&self) -> Nginx<'_, 'a> {
        Nginx { kong: self }
    }

    /// `kong.node.*`: this Kong node.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let node = kong.node().get_id()?;
    /// # Ok(()) }
    /// ```
    pub fn node(&self) -> Node<'_, 'a> {
        Node { kong: self }
    }

    /// `kong.router.*`: the matched route and service.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let route = kong.router().get_route()?;
    /// # Ok(()) }
    /// ```
    pub fn router(&self) -> Router<'_, 'a> {
        Router { kong: self }
    }

    /// `kong.service.*`: the upstream, and the request sent to it.
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.service().request().set_header("x-user", "alice")?;
    /// # Ok(()) }
    /// ```
    pub fn service(&self) -> UpstreamService<'_, 'a> {
        UpstreamService { kong: self }
    }

    /// Calls any Kong function by its dotted name and decodes the answer into `T`. Kong resolves
    /// every plain function reachable from its `kong` global; `args` must serialize as a
    /// sequence (a tuple, an array, a `Vec`).
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let path: String = kong.call("kong.request.get_path", ())?;
    /// let id: Option<String> = kong.call("kong.node.get_id", ())?;
    /// # Ok(()) }
    /// ```
    pub fn call<T: DeserializeOwned>(&self, method: &str, args: impl Serialize) -> PdkResult<T> {
        let answer = self.call_raw(method, &encode_args(method, &args)?)?;
        value::decode_as(method, &answer)
    }

    /// Like [`call`](Self::call) for functions that always return a value: a missing answer is
    /// an error, since Kong ≥ 3.0 reports a failed PDK call by sending nothing.
    pub(crate) fn call_value<T: DeserializeOwned>(
        &self,
        method: &str,
        args: impl Serialize,
    ) -> PdkResult<T> {
        self.call::<Option<T>>(method, args)?
            .ok_or_else(|| PdkError::NoValue {
                method: method.to_owned(),
            })
    }

    /// Calls a function answering with a header or query multimap.
    pub(crate) fn call_multimap(&self, method: &str, args: impl Serialize) -> PdkResult<MultiMap> {
        let value: serde_json::Value = self.call_value(method, args)?;
        entities::to_multimap(value).map_err(|message| PdkError::Decode {
            method: method.to_owned(),
            message,
        })
    }

    /// Calls a function answering with raw bytes (bin, or str).
    pub(crate) fn call_bytes(&self, method: &str) -> PdkResult<Vec<u8>> {
        let answer = self.call_raw(method, &[0x90])?;
        value::decode_bytes(method, &answer)?.ok_or_else(|| PdkError::NoValue {
            method: method.to_owned(),
        })
    }

    /// Calls a Kong function whose answer is ignored (setters, logging).
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// kong.call_unit("kong.service.request.set_path", ("/v2",))?;
    /// # Ok(()) }
    /// ```
    pub fn call_unit(&self, method: &str, args: impl Serialize) -> PdkResult<()> {
        self.call_raw(method, &encode_args(method, &args)?)
            .map(drop)
    }

    /// Whether a terminal call (`kong.response.exit`) has ended the event.
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.get()
    }

    /// Sends an already encoded MessagePack argument array and returns Kong's raw answer.
    /// After a terminal call (`kong.response.exit`) every call fails with
    /// [`PdkError::EventEnded`].
    ///
    /// ```no_run
    /// # fn f(kong: &plugin_abi::Kong) -> plugin_abi::PdkResult<()> {
    /// let answer = kong.call_raw("kong.request.get_method", &[0x90])?; // no arguments
    /// # Ok(()) }
    /// ```
    pub fn call_raw(&self, method: &str, args: &[u8]) -> PdkResult<Vec<u8>> {
        if self.ended.get() {
            return Err(PdkError::EventEnded(format!(
                "{method} called after kong.response.exit"
            )));
        }
        if TERMINAL_METHODS.contains(&method) {
            self.ended.set(true);
        }
        match self.bridge.call(method.into(), args.into()) {
            RResult::ROk(answer) => Ok(answer.into_vec()),
            RResult::RErr(e) => Err(e.into()),
        }
    }
}

/// The arguments of the `get_headers`/`get_query` family: `[max]`, or none for Kong's default.
pub(crate) fn max_args(max: Option<u32>) -> Vec<u32> {
    max.into_iter().collect()
}

/// Encodes PDK arguments as the MessagePack array Kong unpacks into positional arguments.
pub(crate) fn encode_args(method: &str, args: &impl Serialize) -> PdkResult<Vec<u8>> {
    let bytes = rmp_serde::to_vec_named(args).map_err(|e| PdkError::Encode {
        method: method.to_owned(),
        message: e.to_string(),
    })?;
    // `()` encodes as nil; Kong wants an array.
    if bytes == [0xc0] {
        return Ok(vec![0x90]);
    }
    match bytes.first() {
        Some(0x90..=0x9f | 0xdc | 0xdd) => Ok(bytes),
        _ => Err(PdkError::Encode {
            method: method.to_owned(),
            message: "arguments must be a sequence (a tuple, an array or a Vec)".into(),
        }),
    }
}

#[cfg(test)]
mod nil_table;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod encoding_tests {
    use super::*;

    #[test]
    fn args_are_arrays() {
        assert_eq!(encode_args("m", &()).unwrap(), vec![0x90]);
        assert_eq!(encode_args("m", &("a",)).unwrap(), vec![0x91, 0xa1, b'a']);
        assert!(encode_args("m", &"a").is_err());
    }
}
