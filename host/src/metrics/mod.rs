//! What pluginhost counts for operators, served in Prometheus' formats by [`endpoint`].
//!
//! Nothing is recorded unless `-metrics-listen` is given: [`get`] is `None` then, and every
//! recording site is one branch. When it is on, the hot path touches only handles taken once
//! per plugin and phase ([`PluginMetrics`], [`PhaseMetrics`]): an atomic per counter, a short
//! lock per histogram, never a registry lock nor a label lookup. Figures the server already
//! keeps (instances, generations, buffered bytes, dropped log lines) are read at scrape time
//! by [`live`], the process's own by [`process`].
//!
//! Label values are bounded: plugin names, phases, fixed outcome, method and reason names.
//! A plugin's PDK methods are its own strings, so each plugin gets at most
//! [`MAX_PDK_METHODS`] of them; the rest count as `other`.

pub mod endpoint;
pub mod live;
pub mod process;

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock, RwLock},
    time::Duration,
};

use plugin_abi::Phase;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

/// Distinct PDK method labels one plugin may have; further methods count as `other`.
pub const MAX_PDK_METHODS: usize = 128;

/// PDK counters a thread keeps at hand, for all plugins together; past them, calls are counted
/// through the shared map.
const CACHED_PDK_COUNTERS: usize = 64;

thread_local! {
    /// `(plugin, method, counter)`: the PDK counters this thread used; `plugin` is the id of
    /// its [`PluginMetrics`].
    static PDK_COUNTERS: std::cell::RefCell<Vec<(u64, Box<str>, Counter)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Bucket bounds in seconds, from a microsecond (a handler stretch of hello) to a minute (the
/// default event timeout).
const BUCKETS: [f64; 24] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
    5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The metrics, when they are on.
#[inline]
pub fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Turns recording on for this process and returns the metrics.
pub fn install() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler returned `Ok`.
    Ok,
    /// The handler returned an error.
    HandlerError,
    /// The handler panicked (caught by plugin-abi).
    Panic,
    /// It called `kong.response.exit` or `kong.response.error`.
    Exit,
    /// Kong abandoned it: no Step within `-event-timeout`, or reaped to make room.
    Reaped,
    /// Still suspended when the server stopped.
    Shutdown,
}

impl Outcome {
    /// Every outcome, in the order their counters are kept.
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::HandlerError,
        Outcome::Panic,
        Outcome::Exit,
        Outcome::Reaped,
        Outcome::Shutdown,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::HandlerError => "handler_error",
            Outcome::Panic => "panic",
            Outcome::Exit => "exit",
            Outcome::Reaped => "reaped",
            Outcome::Shutdown => "shutdown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The protocol methods, as RPC labels.
pub const RPC_METHODS: [&str; 17] = [
    "plugin.SetPluginDir",
    "plugin.GetStatus",
    "plugin.GetPluginInfo",
    "plugin.StartInstance",
    "plugin.InstanceStatus",
    "plugin.CloseInstance",
    "plugin.HandleEvent",
    "plugin.Step",
    "plugin.StepError",
    "plugin.StepMultiMap",
    "plugin.StepCredential",
    "plugin.StepConsumer",
    "plugin.StepRoute",
    "plugin.StepService",
    "plugin.StepMemoryStats",
    // Any other method, and a frame that is not a request but has a msgid to answer.
    "other",
    "invalid",
];

/// An RPC method, as an index into [`RPC_METHODS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcMethod(usize);

impl RpcMethod {
    /// A frame that is not a request.
    pub const INVALID: RpcMethod = RpcMethod(RPC_METHODS.len() - 1);
    const OTHER: RpcMethod = RpcMethod(RPC_METHODS.len() - 2);

    /// The label of `method`; unknown methods are `other`.
    pub fn of(method: &str) -> RpcMethod {
        RPC_METHODS[..RPC_METHODS.len() - 2]
            .iter()
            .position(|m| *m == method)
            .map_or(RpcMethod::OTHER, RpcMethod)
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        RPC_METHODS[self.0]
    }
}

/// Why a plugin file was not loaded, in a word: the `reason` of `pluginhost_load_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a readable regular ELF file of a plugin's size.
    File,
    /// Writable by someone else, or a symlink out of the directory (the trust rules).
    Untrusted,
    /// Its build fingerprint does not match this pluginhost (`have:`/`want:`).
    Build,
    /// The dynamic loader or abi_stable refused it.
    Load,
    /// What the plugin declares is not valid (name, phases, schema).
    Invalid,
    /// The plugin has as many generations loaded as `-max-generations` allows.
    Generations,
    /// Another file already serves a plugin of that name.
    Duplicate,
    /// It could not be copied into the cache.
    Cache,
}

impl Refusal {
    /// Every reason.
    pub const ALL: [Refusal; 8] = [
        Refusal::File,
        Refusal::Untrusted,
        Refusal::Build,
        Refusal::Load,
        Refusal::Invalid,
        Refusal::Generations,
        Refusal::Duplicate,
        Refusal::Cache,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::File => "file",
            Refusal::Untrusted => "untrusted",
            Refusal::Build => "build",
            Refusal::Load => "load",
            Refusal::Invalid => "invalid",
            Refusal::Generations => "generations",
            Refusal::Duplicate => "duplicate",
            Refusal::Cache => "cache",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    plugin: String,
    phase: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    plugin: String,
    phase: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PdkLabels {
    plugin: String,
    method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

type Histograms = Family<PhaseLabels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    started: Family<PhaseLabels, Counter>,
    ended: Family<EndLabels, Counter>,
    in_flight: Family<PhaseLabels, Gauge>,
    event_seconds: Histograms,
    handler_seconds: Histograms,
    pdk_calls: Family<PdkLabels, Counter>,
    rpcs: Vec<Counter>,
    rpc_errors: Vec<Counter>,
    refusals: Family<ReasonLabels, Counter>,
    connections: Gauge,
    connections_accepted: Counter,
    plugins: RwLock<HashMap<String, Arc<PluginMetrics>>>,
    /// The server's own figures, read at scrape time, once it serves.
    pub live: Arc<live::Live>,
}

impl Metrics {
    fn new() -> Self {
        let mut root = Registry::default();
        // Named as every Prometheus client names them, without the prefix.
        root.register_collector(Box::new(process::Process));
        let registry = root.sub_registry_with_prefix("pluginhost");
        let started = Family::<PhaseLabels, Counter>::default();
        registry.register(
            "events_started",
            "Events started (plugin.HandleEvent), by plugin and phase",
            started.clone(),
        );
        let ended = Family::<EndLabels, Counter>::default();
        registry.register(
            "events_ended",
            "Events ended, by plugin, phase and outcome: ok, handler_error, panic, exit \
             (kong.response.exit or .error), reaped (abandoned by Kong), shutdown",
            ended.clone(),
        );
        let in_flight = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "events_in_flight",
            "Events started and not yet ended, by plugin and phase",
            in_flight.clone(),
        );
        let event_seconds = Histograms::new_with_constructor(histogram);
        registry.register_with_unit(
            "event_duration",
            "Time from plugin.HandleEvent to the event's end, Kong's round trips included",
            Unit::Seconds,
            event_seconds.clone(),
        );
        let handler_seconds = Histograms::new_with_constructor(histogram);
        registry.register_with_unit(
            "handler_run",
            "Time a handler runs between two PDK calls (one observation per stretch)",
            Unit::Seconds,
            handler_seconds.clone(),
        );
        let pdk_calls = Family::<PdkLabels, Counter>::default();
        registry.register(
            "pdk_calls",
            "PDK calls sent to Kong, by plugin and method",
            pdk_calls.clone(),
        );
        let rpc_family = Family::<MethodLabels, Counter>::default();
        registry.register(
            "rpcs",
            "Requests from Kong answered, by method",
            rpc_family.clone(),
        );
        let error_family = Family::<MethodLabels, Counter>::default();
        registry.register(
            "rpc_errors",
            "Requests from Kong answered with an error, by method",
            error_family.clone(),
        );
        let by_method = |family: &Family<MethodLabels, Counter>| {
            RPC_METHODS
                .iter()
                .map(|&method| family.get_or_create_owned(&MethodLabels { method }))
                .collect::<Vec<_>>()
        };
        let refusals = Family::<ReasonLabels, Counter>::default();
        // Every reason from zero, so that `increase()` sees the first refusal.
        for reason in Refusal::ALL {
            refusals.get_or_create_owned(&ReasonLabels {
                reason: reason.as_str(),
            });
        }
        registry.register(
            "load_refusals",
            "Plugin files refused, at start or on reload, by reason",
            refusals.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "connections",
            "Connections from Kong open now",
            connections.clone(),
        );
        let connections_accepted = Counter::default();
        registry.register(
            "connections_accepted",
            "Connections from Kong accepted",
            connections_accepted.clone(),
        );
        let live = Arc::new(live::Live::default());
        registry.register_collector(Box::new(Arc::clone(&live)));
        Metrics {
            rpcs: by_method(&rpc_family),
            rpc_errors: by_method(&error_family),
            registry: root,
            started,
            ended,
            in_flight,
            event_seconds,
            handler_seconds,
            pdk_calls,
            refusals,
            connections,
            connections_accepted,
            plugins: RwLock::default(),
            live,
        }
    }

    /// Every metric in the Prometheus text format (0.0.4), or in OpenMetrics.
    pub fn encode(&self, openmetrics: bool) -> String {
        let mut text = String::with_capacity(16 * 1024);
        let encoded = if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        };
        // Writing into a String fails only if a collector does, and ours do not.
        if let Err(e) = encoded {
            tracing::warn!("cannot encode the metrics: {e}");
        }
        text
    }

    /// The handles of plugin `name`, shared by all its generations; `phases` are created now
    /// so that their series exist before the first event.
    pub fn plugin(&self, name: &str, phases: &[Phase]) -> Arc<PluginMetrics> {
        let existing = self
            .plugins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        let plugin = existing.unwrap_or_else(|| {
            let mut plugins = self.plugins.write().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                plugins
                    .entry(name.to_owned())
                    .or_insert_with(|| Arc::new(PluginMetrics::new(name))),
            )
        });
        for &phase in phases {
            plugin.phase(self, phase);
        }
        plugin
    }

    /// Counts one request of `method`.
    #[inline]
    pub fn rpc(&self, method: RpcMethod) {
        self.rpcs[method.0].inc();
    }

    /// Counts one error answer to a request of `method`.
    #[inline]
    pub fn rpc_error(&self, method: RpcMethod) {
        self.rpc_errors[method.0].inc();
    }

    /// Counts one refused plugin file.
    pub fn refused(&self, reason: Refusal) {
        self.refusals
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// A connection from Kong was accepted.
    pub fn connection_opened(&self) {
        self.connections_accepted.inc();
        self.connections.inc();
    }

    /// A connection from Kong was closed.
    pub fn connection_closed(&self) {
        self.connections.dec();
    }
}

/// What one plugin name counts, whatever its generation.
pub struct PluginMetrics {
    /// Unique in the process, for the threads' caches of PDK counters.
    id: u64,
    name: String,
    phases: [OnceLock<PhaseMetrics>; Phase::ALL.len()],
    pdk: RwLock<HashMap<Box<str>, Counter>>,
}

impl PluginMetrics {
    fn new(name: &str) -> Self {
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        PluginMetrics {
            id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name: name.to_owned(),
            phases: Default::default(),
            pdk: RwLock::default(),
        }
    }

    /// The handles of `phase`.
    pub fn phase(&self, metrics: &Metrics, phase: Phase) -> &PhaseMetrics {
        self.phases[phase_index(phase)]
            .get_or_init(|| PhaseMetrics::new(metrics, &self.name, phase))
    }

    /// The handles of `phase`, if any event of it was counted or it was declared.
    pub fn phase_if_any(&self, phase: Phase) -> Option<&PhaseMetrics> {
        self.phases[phase_index(phase)].get()
    }

    /// Counts one PDK call sent to Kong.
    #[inline]
    pub fn pdk_call(&self, metrics: &Metrics, method: &str) {
        // A call is counted on the thread that runs the handler; each thread keeps the
        // counters it used, so that the shared map (a hash and a lock) is read once per
        // thread, plugin and method.
        let me = self.id;
        let hit = PDK_COUNTERS.with_borrow(|cache| {
            cache
                .iter()
                .find(|(plugin, m, _)| *plugin == me && **m == *method)
                .map(|(_, _, counter)| counter.inc())
                .is_some()
        });
        if !hit {
            let counter = self.pdk_counter(metrics, method);
            counter.inc();
            PDK_COUNTERS.with_borrow_mut(|cache| {
                if cache.len() < CACHED_PDK_COUNTERS {
                    cache.push((me, method.into(), counter));
                }
            });
        }
    }

    /// The shared counter of `method`, created if need be.
    fn pdk_counter(&self, metrics: &Metrics, method: &str) -> Counter {
        if let Some(counter) = self.read_pdk().get(method) {
            return counter.clone();
        }
        let mut map = self.pdk.write().unwrap_or_else(|p| p.into_inner());
        let label = if map.len() < MAX_PDK_METHODS {
            method
        } else {
            "other"
        };
        map.entry(label.into())
            .or_insert_with(|| {
                metrics.pdk_calls.get_or_create_owned(&PdkLabels {
                    plugin: self.name.clone(),
                    method: label.to_owned(),
                })
            })
            .clone()
    }

    /// PDK calls by method so far.
    pub fn pdk_calls(&self) -> Vec<(String, u64)> {
        let mut calls: Vec<_> = self
            .read_pdk()
            .iter()
            .map(|(method, counter)| (method.to_string(), counter.get()))
            .collect();
        calls.sort();
        calls
    }

    fn read_pdk(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, Counter>> {
        self.pdk.read().unwrap_or_else(|p| p.into_inner())
    }
}

fn phase_index(phase: Phase) -> usize {
    Phase::ALL
        .iter()
        .position(|p| *p == phase)
        .expect("Phase::ALL holds every phase")
}

/// What one plugin's phase counts.
pub struct PhaseMetrics {
    started: Counter,
    ended: [Counter; Outcome::ALL.len()],
    in_flight: Gauge,
    event_seconds: Histogram,
    handler_seconds: Histogram,
}

impl PhaseMetrics {
    fn new(metrics: &Metrics, plugin: &str, phase: Phase) -> Self {
        let labels = PhaseLabels {
            plugin: plugin.to_owned(),
            phase: phase.as_str(),
        };
        let ended = Outcome::ALL.map(|outcome| {
            metrics.ended.get_or_create_owned(&EndLabels {
                plugin: plugin.to_owned(),
                phase: phase.as_str(),
                outcome: outcome.as_str(),
            })
        });
        PhaseMetrics {
            started: metrics.started.get_or_create_owned(&labels),
            ended,
            in_flight: metrics.in_flight.get_or_create_owned(&labels),
            event_seconds: metrics.event_seconds.get_or_create_owned(&labels),
            handler_seconds: metrics.handler_seconds.get_or_create_owned(&labels),
        }
    }

    /// An event started.
    #[inline]
    pub fn started(&self) {
        self.started.inc();
        self.in_flight.inc();
    }

    /// A handler ran for `took` before its next PDK call or its end.
    #[inline]
    pub fn ran(&self, took: Duration) {
        self.handler_seconds.observe(took.as_secs_f64());
    }

    /// An event ended `lasted` after it started.
    #[inline]
    pub fn ended(&self, outcome: Outcome, lasted: Duration) {
        self.ended[outcome.index()].inc();
        self.in_flight.dec();
        self.event_seconds.observe(lasted.as_secs_f64());
    }

    /// Events started so far.
    pub fn started_count(&self) -> u64 {
        self.started.get()
    }

    /// Events ended with `outcome` so far.
    pub fn ended_count(&self, outcome: Outcome) -> u64 {
        self.ended[outcome.index()].get()
    }

    /// Events in flight now.
    pub fn in_flight_count(&self) -> i64 {
        self.in_flight.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_keeps_its_counters_across_generations() {
        let metrics = Metrics::new();
        let first = metrics.plugin("hello", &[Phase::Access]);
        first
            .phase(&metrics, Phase::Access)
            .ended(Outcome::Panic, Duration::from_millis(1));
        let second = metrics.plugin("hello", &[Phase::Access, Phase::Log]);
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(
            second
                .phase_if_any(Phase::Access)
                .unwrap()
                .ended_count(Outcome::Panic),
            1
        );
        assert!(second.phase_if_any(Phase::Log).is_some());
        assert!(second.phase_if_any(Phase::Rewrite).is_none());
    }

    #[test]
    fn pdk_method_labels_are_bounded() {
        let metrics = Metrics::new();
        let plugin = metrics.plugin("p", &[]);
        for i in 0..MAX_PDK_METHODS + 10 {
            plugin.pdk_call(&metrics, &format!("kong.m{i}"));
        }
        plugin.pdk_call(&metrics, "kong.m0");
        let calls = plugin.pdk_calls();
        assert_eq!(calls.len(), MAX_PDK_METHODS + 1);
        assert_eq!(calls.iter().find(|(m, _)| m == "other").unwrap().1, 10);
        assert_eq!(calls.iter().find(|(m, _)| m == "kong.m0").unwrap().1, 2);
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(RpcMethod::of("plugin.Step").as_str(), "plugin.Step");
        assert_eq!(RpcMethod::of("plugin.Nope").as_str(), "other");
        assert_eq!(RpcMethod::of("other").as_str(), "other");
        assert_eq!(RpcMethod::INVALID.as_str(), "invalid");
    }

    #[test]
    fn both_formats_carry_the_same_counters() {
        let metrics = Metrics::new();
        metrics.rpc(RpcMethod::of("plugin.GetStatus"));
        let text = metrics.encode(false);
        assert!(text.contains("pluginhost_rpcs_total{method=\"plugin.GetStatus\"} 1\n"));
        assert!(!text.contains("# EOF"));
        let open = metrics.encode(true);
        assert!(open.contains("pluginhost_rpcs_total{method=\"plugin.GetStatus\"} 1\n"));
        assert!(open.ends_with("# EOF\n"));
    }
}
