//! The handles one plugin's events count with, taken once per plugin name and phase so
//! that the hot path never looks a label set up.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock, RwLock},
    time::Duration,
};

use plugin_abi::Phase;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::Counter, gauge::ConstGauge, histogram::Histogram},
};

use super::{
    Metrics,
    labels::{EndLabels, Outcome, PdkLabels, PhaseLabels},
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

/// What one plugin name counts, whatever its generation.
pub struct PluginMetrics {
    /// Unique in the process, for the threads' caches of PDK counters.
    id: u64,
    name: String,
    phases: [OnceLock<PhaseMetrics>; Phase::ALL.len()],
    pdk: RwLock<HashMap<Box<str>, Counter>>,
}

impl PluginMetrics {
    pub(super) fn new(name: &str) -> Self {
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

/// Every plugin name's handles, shared by [`Metrics`] and the scrape of [`InFlight`].
pub(super) type Plugins = Arc<RwLock<HashMap<String, Arc<PluginMetrics>>>>;

/// `events_in_flight`, derived at scrape time from each phase's counters.
#[derive(Debug, Default)]
pub(super) struct InFlight(pub(super) Plugins);

impl std::fmt::Debug for PluginMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginMetrics")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Collector for InFlight {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut plugins: Vec<Arc<PluginMetrics>> = self
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        plugins.sort_by(|a, b| a.name.cmp(&b.name));
        let mut family = encoder.encode_descriptor(
            "events_in_flight",
            "Events started and not yet ended, by plugin and phase",
            None,
            MetricType::Gauge,
        )?;
        for plugin in &plugins {
            for phase in Phase::ALL {
                if let Some(counts) = plugin.phase_if_any(phase) {
                    let labels = [("plugin", plugin.name.as_str()), ("phase", phase.as_str())];
                    let value = i64::try_from(counts.in_flight_count()).unwrap_or(i64::MAX);
                    ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
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
            event_seconds: metrics.event_seconds.get_or_create_owned(&labels),
            handler_seconds: metrics.handler_seconds.get_or_create_owned(&labels),
        }
    }

    /// An event started.
    #[inline]
    pub fn started(&self) {
        self.started.inc();
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

    /// Events in flight now: started and not ended, derived rather than counted on every
    /// event. The ends are read first, so that an event starting and ending meanwhile can
    /// make it one too many for a moment, never less than none.
    pub fn in_flight_count(&self) -> u64 {
        let ended: u64 = self.ended.iter().map(Counter::get).sum();
        self.started.get().saturating_sub(ended)
    }
}
