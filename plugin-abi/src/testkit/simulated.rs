//! [`SimulatedKong`]: one simulated request that a plugin's handlers act on, as in Kong.

use std::{
    cell::RefCell,
    collections::{BTreeMap, HashMap},
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice, RStr, RVec},
};
use serde_json::Value as Json;

use super::{
    Answer, Call,
    http::{ClientResponse, Headers, LogLine, ServiceRequest, TestRequest, UpstreamResponse},
    state::State,
};
use crate::{
    HandlerResult, Kong, Phase, Plugin,
    ffi::{BridgeError, HostBridge, HostBridge_TO, HostBridgeRef},
    pdk::{AuthenticatedCredential, Consumer, LogLevel, Route, Service},
};

/// A Kong holding one simulated request. A plugin's handlers run in-process against it, and
/// every PDK call reads or changes the request the way Kong would: headers set on the service
/// request are what the service receives, `kong.response.exit` ends the request with that
/// response, `kong.log.*` lines are kept, `kong.ctx.shared` lives for the request.
///
/// ```
/// use plugin_abi::{HandlerResult, Kong, Plugin};
/// use plugin_abi::testkit::{SimulatedKong, TestRequest};
///
/// #[plugin_abi::config]
/// struct Config {}
/// struct Tagger;
/// impl Plugin for Tagger {
///     type Config = Config;
///     fn new(_: Config) -> Result<Self, String> { Ok(Tagger) }
///     fn access(&self, kong: &Kong) -> HandlerResult {
///         let ip = kong.client().get_ip()?;
///         kong.service().request().set_header("x-client", &ip)?;
///         Ok(())
///     }
/// }
///
/// let kong = SimulatedKong::new(TestRequest::get("http://example.com/").client_ip("10.0.0.9"));
/// kong.run_request(&Tagger).unwrap();
/// assert_eq!(kong.service_request().headers.get("x-client"), Some("10.0.0.9"));
/// assert_eq!(kong.response().status, 200);
/// ```
pub struct SimulatedKong {
    state: RefCell<State>,
}

impl SimulatedKong {
    /// A Kong that has just received `request`. Until a plugin changes it, the service request
    /// is the client's request, and the service will answer `200` with an empty body.
    ///
    /// ```
    /// use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::post("http://a/items", "{}"));
    /// assert_eq!(kong.service_request().method, "POST");
    /// ```
    pub fn new(request: TestRequest) -> Self {
        let service_request = ServiceRequest {
            method: request.method.clone(),
            scheme: request.scheme.clone(),
            path: request.path.clone(),
            raw_query: request.raw_query.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            upstream: None,
            target: None,
        };
        SimulatedKong {
            state: RefCell::new(State {
                request,
                service_request,
                upstream: UpstreamResponse::default(),
                service_response: None,
                response: ClientResponse {
                    status: 200,
                    headers: Headers::new(),
                    body: Vec::new(),
                    source: "service",
                },
                phase: None,
                exited: false,
                consumers: Vec::new(),
                consumer: None,
                credential: None,
                route: None,
                service: None,
                shared: BTreeMap::new(),
                nginx_ctx: BTreeMap::new(),
                serialize_values: BTreeMap::new(),
                logs: Vec::new(),
                calls: Vec::new(),
                answers: Vec::new(),
                overrides: HashMap::new(),
            }),
        }
    }

    /// Makes `consumer` known to `kong.client.load_consumer` (by id or username).
    ///
    /// ```
    /// use plugin_abi::{pdk::Consumer, testkit::{SimulatedKong, TestRequest}};
    /// let alice = Consumer { id: "c1".into(), username: Some("alice".into()), ..Default::default() };
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/")).with_consumer(alice);
    /// let found = kong.run(|k| k.client().load_consumer("alice", true)).unwrap();
    /// assert_eq!(found.unwrap().id, "c1");
    /// ```
    pub fn with_consumer(self, consumer: Consumer) -> Self {
        self.state.borrow_mut().consumers.push(consumer);
        self
    }

    /// Marks the request as already authenticated as `consumer` (by a plugin that ran before).
    ///
    /// ```
    /// use plugin_abi::{pdk::Consumer, testkit::{SimulatedKong, TestRequest}};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"))
    ///     .authenticated_as(Consumer { id: "c1".into(), ..Default::default() });
    /// assert_eq!(kong.run(|k| k.client().get_consumer()).unwrap().unwrap().id, "c1");
    /// ```
    pub fn authenticated_as(self, consumer: Consumer) -> Self {
        self.state.borrow_mut().consumer = Some(consumer);
        self
    }

    /// The route the request matched (`kong.router.get_route`).
    ///
    /// ```
    /// use plugin_abi::{pdk::Route, testkit::{SimulatedKong, TestRequest}};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"))
    ///     .with_route(Route { id: "r1".into(), ..Default::default() });
    /// assert_eq!(kong.run(|k| k.router().get_route()).unwrap().id, "r1");
    /// ```
    pub fn with_route(self, route: Route) -> Self {
        self.state.borrow_mut().route = Some(route);
        self
    }

    /// The service the route leads to (`kong.router.get_service`).
    ///
    /// ```
    /// use plugin_abi::{pdk::Service, testkit::{SimulatedKong, TestRequest}};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"))
    ///     .with_service(Service { id: "s1".into(), ..Default::default() });
    /// assert_eq!(kong.run(|k| k.router().get_service()).unwrap().id, "s1");
    /// ```
    pub fn with_service(self, service: Service) -> Self {
        self.state.borrow_mut().service = Some(service);
        self
    }

    /// What the service answers when the request is proxied.
    ///
    /// ```
    /// use plugin_abi::testkit::{SimulatedKong, TestRequest, UpstreamResponse};
    /// # struct P;
    /// # impl plugin_abi::Plugin for P { type Config = (); fn new(_: ()) -> Result<Self, String> { Ok(P) } }
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"))
    ///     .with_upstream_response(UpstreamResponse::new(404).body("no such item"));
    /// kong.run_request(&P).unwrap();
    /// assert_eq!(kong.response().status, 404);
    /// ```
    pub fn with_upstream_response(self, response: UpstreamResponse) -> Self {
        self.state.borrow_mut().upstream = response;
        self
    }

    /// Answers `method` with `answer` instead of simulating it: for Kong functions the
    /// simulation does not know (`kong.vault.get`...), or to make one fail.
    ///
    /// ```
    /// use plugin_abi::testkit::{Answer, SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"))
    ///     .answering("kong.node.get_hostname", Answer::from("gw-1"));
    /// let name: String = kong.run(|k| k.call("kong.node.get_hostname", ())).unwrap();
    /// assert_eq!(name, "gw-1");
    /// ```
    pub fn answering(self, method: &str, answer: Answer) -> Self {
        self.state
            .borrow_mut()
            .overrides
            .insert(method.to_owned(), answer);
        self
    }

    /// Runs one phase handler of `plugin`, as Kong does when the phase comes. Proxying happens
    /// in between on its own: running `response` or `log` first sends the service request
    /// (unless the request has ended).
    ///
    /// ```
    /// use plugin_abi::{Phase, testkit::{SimulatedKong, TestRequest}};
    /// # struct P;
    /// # impl plugin_abi::Plugin for P { type Config = (); fn new(_: ()) -> Result<Self, String> { Ok(P) } }
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// kong.run_phase(&P, Phase::Access).unwrap();
    /// ```
    pub fn run_phase<P: Plugin>(&self, plugin: &P, phase: Phase) -> HandlerResult {
        self.run_phase_over(phase, |bridge| {
            crate::plugin::run_handler(plugin, phase, &Kong::new(bridge))
        })
    }

    /// Runs one phase of a handler given as what it does with the bridge, as [`run_phase`]
    /// does a [`Plugin`]'s: for a plugin that is not a Rust value here (a loaded plugin file,
    /// another process), such as pluginhost's `event` command runs.
    ///
    /// [`run_phase`]: Self::run_phase
    ///
    /// ```
    /// use plugin_abi::{Kong, Phase, testkit::{SimulatedKong, TestRequest}};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// kong.run_phase_over(Phase::Access, |bridge| {
    ///     Kong::new(bridge).response().exit(403, None, None)?;
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(kong.response().status, 403);
    /// ```
    pub fn run_phase_over(
        &self,
        phase: Phase,
        handler: impl FnOnce(HostBridgeRef<'_>) -> HandlerResult,
    ) -> HandlerResult {
        if matches!(phase, Phase::Response | Phase::Log) {
            self.proxy();
        }
        let ended_before = self.state.borrow().exited;
        if ended_before && phase != Phase::Log {
            return Ok(());
        }
        self.state.borrow_mut().phase = Some(phase);
        let result = handler(HostBridge_TO::from_ptr(self, TD_Opaque));
        let mut state = self.state.borrow_mut();
        state.phase = None;
        if let Err(e) = &result {
            // Kong (MsgPack protocol) logs a failed handler and goes on without the plugin.
            state.logs.push(LogLine {
                level: LogLevel::Err,
                message: e.to_string(),
            });
        }
        result
    }

    /// Runs a whole request through `plugin`: `rewrite`, `access`, the service, `response` and
    /// `log`. After `kong.response.exit` only `log` runs, as in Kong. A failed handler is
    /// logged at `err` level and the request goes on without it, as Kong does with plugin
    /// servers; the first handler error is returned.
    ///
    /// ```
    /// use plugin_abi::testkit::{SimulatedKong, TestRequest, UpstreamResponse};
    /// # struct P;
    /// # impl plugin_abi::Plugin for P { type Config = (); fn new(_: ()) -> Result<Self, String> { Ok(P) } }
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"))
    ///     .with_upstream_response(UpstreamResponse::new(200).body("hi"));
    /// kong.run_request(&P).unwrap();
    /// assert_eq!(kong.response().text(), "hi");
    /// ```
    pub fn run_request<P: Plugin>(&self, plugin: &P) -> HandlerResult {
        self.run_phases(|phase, bridge| {
            crate::plugin::run_handler(plugin, phase, &Kong::new(bridge))
        })
    }

    /// The request's phases in Kong's order, each through `handler`; the first error.
    fn run_phases(
        &self,
        mut handler: impl FnMut(Phase, HostBridgeRef<'_>) -> HandlerResult,
    ) -> HandlerResult {
        let mut first_error = None;
        for phase in [Phase::Rewrite, Phase::Access, Phase::Response, Phase::Log] {
            if let Err(e) = self.run_phase_over(phase, |bridge| handler(phase, bridge)) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Runs a whole request through plugin `P` as pluginhost serves it: through the module
    /// `#[plugin_abi::plugin]` exported, with an instance made from Kong's config JSON. So
    /// what the attribute declares applies: a panic is caught and reported as the handler's
    /// error, and with `fail_closed` a failed `rewrite` or `access` ends the request with the
    /// declared response. Phases and the first error as in [`run_request`](Self::run_request);
    /// a config the plugin refuses is that error.
    ///
    /// ```standalone_crate
    /// use plugin_abi::{HandlerResult, Kong, Plugin, testkit::{SimulatedKong, TestRequest}};
    ///
    /// #[plugin_abi::config]
    /// pub struct Config {}
    ///
    /// pub struct Guard;
    ///
    /// #[plugin_abi::plugin(name = "guard", priority = 1000, fail_closed = 503)]
    /// impl Plugin for Guard {
    ///     type Config = Config;
    ///     fn new(_: Config) -> Result<Self, String> { Ok(Guard) }
    ///     fn access(&self, _: &Kong) -> HandlerResult {
    ///         Err("the service is down".into())
    ///     }
    /// }
    ///
    /// fn main() {
    ///     let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    ///     let error = kong.run_request_as_served::<Guard>(&plugin_abi::serde_json::json!({}));
    ///     assert!(error.unwrap_err().to_string().contains("the service is down"));
    ///     assert_eq!(kong.response().status, 503);
    ///     assert!(!kong.proxied());
    /// }
    /// ```
    pub fn run_request_as_served<P: crate::Exported>(&self, config: &Json) -> HandlerResult {
        let module = P::root_module();
        let info = match (module.info())() {
            RResult::ROk(json) => serde_json::from_str::<crate::PluginInfo>(&json)?,
            RResult::RErr(e) => return Err(e.into_string().into()),
        };
        let instance = match (module.new_instance())(config.to_string().as_str().into()) {
            RResult::ROk(instance) => instance,
            RResult::RErr(e) => return Err(e.into_string().into()),
        };
        self.run_phases(|phase, bridge| {
            if !info.phases.contains(&phase) {
                return Ok(());
            }
            match instance.handle(phase.as_str().into(), bridge) {
                RResult::ROk(()) => Ok(()),
                RResult::RErr(e) => Err(e.message.into_string().into()),
            }
        })
    }

    /// Runs `f` with a [`Kong`] handle on this request, outside any phase: to call PDK
    /// functions directly.
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/path"));
    /// assert_eq!(kong.run(|k| k.request().get_path()).unwrap(), "/path");
    /// ```
    pub fn run<R>(&self, f: impl FnOnce(&Kong<'_>) -> R) -> R {
        let kong = Kong::new(HostBridge_TO::from_ptr(self, TD_Opaque));
        f(&kong)
    }

    /// The response the client gets (so far, before the request has ended).
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// kong.run(|k| k.response().exit(403, Some("no"), None)).unwrap();
    /// assert_eq!((kong.response().status, kong.response().source), (403, "exit"));
    /// ```
    pub fn response(&self) -> ClientResponse {
        self.state.borrow().response.clone()
    }

    /// The request sent (or to be sent) to the service.
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/old"));
    /// kong.run(|k| k.service().request().set_path("/new")).unwrap();
    /// assert_eq!(kong.service_request().path, "/new");
    /// ```
    pub fn service_request(&self) -> ServiceRequest {
        self.state.borrow().service_request.clone()
    }

    /// Whether the request reached the service (no plugin ended it before).
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// # struct P;
    /// # impl plugin_abi::Plugin for P { type Config = (); fn new(_: ()) -> Result<Self, String> { Ok(P) } }
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// kong.run_request(&P).unwrap();
    /// assert!(kong.proxied());
    /// ```
    pub fn proxied(&self) -> bool {
        self.state.borrow().service_response.is_some()
    }

    /// The lines written with `kong.log.*`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// kong.run(|k| k.log().info("a")).unwrap();
    /// assert_eq!(kong.logs()[0].message, "a");
    /// ```
    pub fn logs(&self) -> Vec<LogLine> {
        self.state.borrow().logs.clone()
    }

    /// The value stored under `key` in `kong.ctx.shared`.
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// kong.run(|k| k.ctx().shared().set("user", "alice")).unwrap();
    /// assert_eq!(kong.shared("user"), Some(plugin_abi::serde_json::json!("alice")));
    /// ```
    pub fn shared(&self, key: &str) -> Option<Json> {
        self.state.borrow().shared.get(key).cloned()
    }

    /// The consumer the request is authenticated as.
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// assert!(SimulatedKong::new(TestRequest::get("http://a/")).consumer().is_none());
    /// ```
    pub fn consumer(&self) -> Option<Consumer> {
        self.state.borrow().consumer.clone()
    }

    /// The credential the request is authenticated with.
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// assert!(SimulatedKong::new(TestRequest::get("http://a/")).credential().is_none());
    /// ```
    pub fn credential(&self) -> Option<AuthenticatedCredential> {
        self.state.borrow().credential.clone()
    }

    /// Every PDK call made so far, as Kong received it.
    ///
    /// ```
    /// # use plugin_abi::testkit::{SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    /// kong.run(|k| k.request().get_method()).unwrap();
    /// assert_eq!(kong.calls()[0].method, "kong.request.get_method");
    /// ```
    pub fn calls(&self) -> Vec<Call> {
        self.state.borrow().calls.clone()
    }

    /// Every PDK call so far with what this Kong answered it, in order.
    ///
    /// ```
    /// # use plugin_abi::testkit::{Answer, SimulatedKong, TestRequest};
    /// let kong = SimulatedKong::new(TestRequest::get("http://a/path"));
    /// kong.run(|k| k.request().get_path()).unwrap();
    /// let (call, answer) = &kong.exchanges()[0];
    /// assert_eq!(call.method, "kong.request.get_path");
    /// assert_eq!(*answer, Answer::Value("/path".into()));
    /// ```
    pub fn exchanges(&self) -> Vec<(Call, Answer)> {
        let state = self.state.borrow();
        state
            .calls
            .iter()
            .cloned()
            .zip(state.answers.iter().cloned())
            .collect()
    }

    /// Sends the service request, once, unless the request has ended: the service's answer
    /// becomes the client's response, under the headers plugins set before.
    fn proxy(&self) {
        let mut state = self.state.borrow_mut();
        if state.exited || state.service_response.is_some() {
            return;
        }
        let upstream = state.upstream.clone();
        let mut headers = upstream.headers.clone();
        // Headers set with kong.response.* before proxying win over the service's.
        for (name, _) in state.response.headers.iter() {
            headers.remove(name);
        }
        for (name, value) in state.response.headers.iter() {
            headers.add(name, value);
        }
        state.response = ClientResponse {
            status: upstream.status,
            headers,
            body: upstream.body.clone(),
            source: "service",
        };
        state.service_response = Some(upstream);
    }
}

impl HostBridge for SimulatedKong {
    fn call(&self, method: RStr<'_>, args: RSlice<'_, u8>) -> RResult<RVec<u8>, BridgeError> {
        let call = match Call::decode(method.as_str(), args.as_slice()) {
            Ok(call) => call,
            Err(e) => return RResult::RErr(e),
        };
        let mut state = self.state.borrow_mut();
        let answer = match state.overrides.get(&call.method) {
            Some(answer) => answer.clone(),
            None => super::answers::answer(&mut state, &call),
        };
        state.calls.push(call);
        state.answers.push(answer.clone());
        answer.encode()
    }
}
