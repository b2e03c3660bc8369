//! The engine's state: its plugins and instances, which the reload thread reaches too, and its
//! settings. Serving Kong adds its own shared state on top ([`crate::serving::Server`]: the
//! pool, the connections, the listening socket), and each worker thread its own
//! ([`crate::serving::local::Local`]).

use std::{path::PathBuf, sync::Arc};

use crate::{
    budget::Budget,
    instances::Instances,
    metrics::live::{self, Gauge},
    registry::Registry,
    stacks,
};

/// Settings that shape the server's behaviour.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The plugins directory given on the command line.
    pub plugins_dir: PathBuf,
    /// How long an event may wait for a Step.
    pub event_timeout: std::time::Duration,
    /// How long an unused instance lives.
    pub instance_ttl: std::time::Duration,
    /// How plugin builds are checked.
    pub policy: crate::fingerprint::Policy,
    /// The Kong release schemas are served to (`-kong-version`).
    pub kong: plugin_abi::schema::KongVersion,
    /// How many versions of one plugin may be loaded (`-max-generations`, 0: no limit).
    pub max_generations: u32,
    /// Bytes of stack per running handler.
    pub handler_stack: usize,
    /// Serving threads (`-threads`).
    pub threads: usize,
    /// Worker threads there may be at most (`-max-threads`).
    pub max_threads: u16,
    /// How long a worker started for events apart stays idle before it retires.
    pub thread_idle: std::time::Duration,
    /// What one request may be (`-max-request-bytes`).
    pub limits: crate::wire::msgpack::frame::Limits,
    /// Bytes all connections may hold unprocessed (`-max-buffered-bytes`).
    pub max_buffered: usize,
    /// Events suspended at once at most (`-max-events`).
    pub max_events: usize,
    /// Which files may be loaded (`-allow-insecure-files`).
    pub trust: crate::loader::trust::Trust,
    /// The dialect Kong speaks to this server (`-protocol`).
    pub dialect: crate::dialect::Dialect,
}

/// The engine's state: plugins, instances, settings (see the module's docs).
pub struct Host {
    /// Loaded plugins.
    pub registry: Registry,
    /// Started instances.
    pub instances: Instances,
    /// Settings.
    pub settings: Settings,
    /// This process's id, sent as `serverPid`.
    pub pid: u32,
    /// The bytes all connections may hold unprocessed.
    pub buffers: Arc<Budget>,
    /// The handler stacks all workers have mapped.
    pub stacks: Arc<stacks::Mapped>,
}

impl Host {
    /// A host with no plugin loaded yet, loading plugins from copies in `cache` (none: the
    /// one plugin built in, see [`crate::embedded`]).
    pub fn new(settings: Settings, cache: Option<crate::cache::Cache>) -> Self {
        let registry = Registry::new(settings.policy)
            .for_kong(settings.kong)
            .with_trust(settings.trust);
        let registry = match cache {
            Some(cache) => registry.with_cache(cache, settings.max_generations),
            None => registry,
        };
        Host {
            registry,
            // ProtoBuf:1 carries instance ids as int32.
            instances: Instances::with_id_bits(match settings.dialect {
                crate::dialect::Dialect::MsgPack => 53,
                crate::dialect::Dialect::ProtoBuf => 31,
            }),
            buffers: Budget::new(settings.max_buffered),
            stacks: stacks::Mapped::new(settings.max_events),
            settings,
            pid: std::process::id(),
        }
    }

    /// Loads every plugin of `dir`, logging what was refused and why.
    pub fn load_plugins(&self, dir: &std::path::Path) -> Result<usize, crate::loader::LoadError> {
        let report = self.registry.load_dir(dir)?;
        report.log(&self.registry);
        Ok(report.loaded.len())
    }
}

impl crate::metrics::live::Source for Host {
    fn gauges(&self) -> Vec<Gauge> {
        let plugins = self.registry.all();
        // A removed plugin's instances serve until Kong closes them: they count too.
        let mut instances = self.instances.per_plugin();
        for plugin in &plugins {
            instances.entry(plugin.name().to_owned()).or_insert(0);
        }
        vec![
            Gauge::single(
                "buffered_bytes",
                "Bytes read from Kong and not yet processed, all connections together",
                self.buffers.used(),
            ),
            Gauge::single(
                "buffered_bytes_limit",
                "The budget of buffered bytes (-max-buffered-bytes)",
                self.settings.max_buffered,
            ),
            Gauge::single(
                "suspended_events",
                "Events whose handler waits for Kong's answer, all plugins together",
                self.stacks.count(),
            ),
            Gauge::single(
                "suspended_events_limit",
                "Events that may be suspended at once (-max-events)",
                self.stacks.max(),
            ),
            Gauge {
                name: "instances",
                help: "Plugin instances alive, by plugin",
                series: instances
                    .into_iter()
                    .map(|(plugin, n)| (Some(plugin), live::count(n)))
                    .collect(),
            },
            Gauge {
                name: "plugin_generation",
                help: "The generation of each plugin that serves new instances (1: the file \
                       loaded at start; one more per new version loaded while serving)",
                series: plugins
                    .iter()
                    .map(|p| (Some(p.name().to_owned()), i64::from(p.generation)))
                    .collect(),
            },
        ]
    }
}
