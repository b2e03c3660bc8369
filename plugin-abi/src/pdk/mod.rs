//! The typed Kong PDK, built on the one generic [`HostBridge::call`](crate::ffi::HostBridge).
//!
//! Each PDK function encodes its arguments as a MessagePack array, sends the exact method
//! string Kong resolves (`kong.request.get_header`...), and decodes Kong's answer with
//! [`crate::value`] module. One file per Kong module.

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
    /// [`export_plugin!`](crate::export_plugin) generates, and by test kits.
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
        match self.call::<Option<T>>(method, args)? {
            Some(value) => Ok(value),
            None => Err(PdkError::Decode {
                method: method.to_owned(),
                message: "Kong returned no value (Kong 3.x answers a failed PDK call this way)"
                    .into(),
            }),
        }
    }

    /// Calls a function answering with a header or query multimap.
    pub(crate) fn call_multimap(&self, method: &str, args: impl Serialize) -> PdkResult<MultiMap> {
        let value: serde_json::Value = self.call(method, args)?;
        entities::to_multimap(value).map_err(|message| PdkError::Decode {
            method: method.to_owned(),
            message,
        })
    }

    /// Calls a function answering with raw bytes (bin, or str).
    pub(crate) fn call_bytes(&self, method: &str) -> PdkResult<Vec<u8>> {
        let answer = self.call_raw(method, &[0x90])?;
        value::decode_bytes(method, &answer)?.ok_or_else(|| PdkError::Decode {
            method: method.to_owned(),
            message: "Kong returned no body".into(),
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
