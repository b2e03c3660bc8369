//! What one simulated request holds: the state the PDK answers of [`super::answers`] read and
//! change, and [`super::SimulatedKong`] drives.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;

use super::{
    Answer, Call,
    http::{ClientResponse, Headers, LogLine, ServiceRequest, TestRequest, UpstreamResponse},
};
use crate::{
    Phase,
    pdk::{AuthenticatedCredential, Consumer, Route, Service},
};

/// Everything a simulated request holds.
pub(super) struct State {
    pub request: TestRequest,
    pub service_request: ServiceRequest,
    pub upstream: UpstreamResponse,
    /// The service's answer, once the request has been proxied.
    pub service_response: Option<UpstreamResponse>,
    pub response: ClientResponse,
    /// The phase running now, `None` outside handlers (direct [`super::SimulatedKong::run`] calls).
    pub phase: Option<Phase>,
    /// Set by `kong.response.exit`/`error`: the request ends there.
    pub exited: bool,
    /// Consumers `kong.client.load_consumer` finds.
    pub consumers: Vec<Consumer>,
    pub consumer: Option<Consumer>,
    pub credential: Option<AuthenticatedCredential>,
    pub route: Option<Route>,
    pub service: Option<Service>,
    pub shared: BTreeMap<String, Json>,
    pub nginx_ctx: BTreeMap<String, Json>,
    pub serialize_values: BTreeMap<String, Json>,
    pub logs: Vec<LogLine>,
    pub calls: Vec<Call>,
    /// What each of `calls` was answered, in the same order.
    pub answers: Vec<Answer>,
    /// Fixed answers a test gave for some methods.
    pub overrides: HashMap<String, Answer>,
}

impl State {
    /// Ends the request with this response (`kong.response.exit`, `error`, a failed handler).
    pub(super) fn end(
        &mut self,
        source: &'static str,
        status: u16,
        headers: &Headers,
        body: Vec<u8>,
    ) {
        self.exited = true;
        self.response.status = status;
        self.response.source = source;
        for (name, _) in headers.iter() {
            self.response.headers.remove(name);
        }
        for (name, value) in headers.iter() {
            self.response.headers.add(name, value);
        }
        self.response.body = body;
    }
}
