//! What pluginhost counts for operators, served in Prometheus' formats by [`endpoint`].
//!
//! Nothing is recorded unless `-metrics-listen` is given: [`get`] is `None` then, and every
//! recording site is one branch. When it is on, the hot path touches only handles taken once
//! per plugin and phase ([`plugin`]): an atomic per counter, a short lock per histogram,
//! never a registry lock nor a label lookup. Figures the server already
//! keeps (instances, generations, buffered bytes, dropped log lines) are read at scrape time
//! by [`live`], the process's own by [`process`].
//!
//! Label values are bounded: plugin names, phases, fixed outcome, method and reason names
//! ([`labels`]).
//! A plugin's PDK methods are its own strings, so each plugin gets at most
//! [`MAX_PDK_METHODS`] of them; the rest count as `other`.

pub mod endpoint;
pub mod labels;
pub mod live;
pub mod plugin;
pub mod process;

pub use labels::{Outcome, RPC_METHODS, Refusal, RpcMethod};
pub use plugin::{MAX_PDK_METHODS, PhaseMetrics, PluginMetrics};

use std::sync::{Arc, OnceLock};

use plugin_abi::Phase;
use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

use labels::{
    CrashLabels, EndLabels, MethodLabels, PdkLabels, PhaseLabels, ReasonLabels, RefusedLabels,
};

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

/// Counts one request of `method`, and its error answer if `failed`, when metrics are on.
pub fn count_rpc(method: RpcMethod, failed: bool) {
    if let Some(metrics) = get() {
        metrics.rpc(method);
        if failed {
            metrics.rpc_error(method);
        }
    }
}

/// Turns recording on for this process and returns the metrics.
pub fn install() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
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
    event_seconds: Histograms,
    handler_seconds: Histograms,
    pdk_calls: Family<PdkLabels, Counter>,
    rpcs: Vec<Counter>,
    rpc_errors: Vec<Counter>,
    refusals: Family<ReasonLabels, Counter>,
    events_refused: Family<RefusedLabels, Counter>,
    connections: Gauge,
    connections_accepted: Counter,
    engine_crashes: Family<CrashLabels, Counter>,
    plugins: plugin::Plugins,
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
        let plugins = plugin::Plugins::default();
        registry.register_collector(Box::new(plugin::InFlight(Arc::clone(&plugins))));
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
        let events_refused = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "events_refused",
            "Events refused a worker thread of their own, by plugin and reason: instance_share \
             or plugin_share (the instance's or the plugin's handlers hold all the threads its \
             share allows), max_threads (every worker thread runs)",
            events_refused.clone(),
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
        let engine_crashes = Family::<CrashLabels, Counter>::default();
        registry.register(
            "engine_crashes",
            "Engines of this server that crashed, by the plugin whose code ran on the thread \
             that crashed (empty: none did); counted by the supervisor since it started",
            engine_crashes.clone(),
        );
        let live = Arc::new(live::Live::default());
        registry.register_collector(Box::new(Arc::clone(&live)));
        Metrics {
            rpcs: by_method(&rpc_family),
            rpc_errors: by_method(&error_family),
            registry: root,
            started,
            ended,
            event_seconds,
            handler_seconds,
            pdk_calls,
            refusals,
            events_refused,
            connections,
            connections_accepted,
            engine_crashes,
            plugins,
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
        // Every reason from zero, so that `increase()` sees the first refusal.
        for reason in labels::EVENT_REFUSED_REASONS {
            let _ = self.events_refused.get_or_create(&RefusedLabels {
                plugin: name.to_owned(),
                reason,
            });
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

    /// Sets the engine crashes the supervisor counted, by plugin.
    pub fn count_engine_crashes(&self, crashes: &std::collections::BTreeMap<String, u64>) {
        for (plugin, &count) in crashes {
            let counter = self.engine_crashes.get_or_create(&CrashLabels {
                plugin: plugin.clone(),
            });
            counter.inc_by(count.saturating_sub(counter.get()));
        }
    }

    /// Counts one event of `plugin` refused a thread of its own, for `reason`.
    pub fn event_refused(&self, plugin: &str, reason: &'static str) {
        self.events_refused
            .get_or_create(&RefusedLabels {
                plugin: plugin.to_owned(),
                reason,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
    fn events_in_flight_are_the_started_not_ended() {
        let metrics = Metrics::new();
        let access = metrics.plugin("hello", &[Phase::Access]);
        let access = access.phase(&metrics, Phase::Access);
        access.started();
        access.started();
        access.ended(Outcome::Ok, Duration::from_millis(1));
        assert_eq!(access.in_flight_count(), 1);
        let text = metrics.encode(false);
        assert!(
            text.contains("pluginhost_events_in_flight{plugin=\"hello\",phase=\"access\"} 1\n"),
            "{text}"
        );
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
