//! The state every connection shares: plugins, instances, events.

use std::{path::PathBuf, sync::Mutex};

use crate::{events::Events, instances::Instances, registry::Registry};

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
    /// Whether schemas keep their field descriptions (`-no-descriptions` drops them).
    pub schema_descriptions: bool,
    /// How many versions of one plugin may be loaded (`-max-generations`, 0: no limit).
    pub max_generations: u32,
}

/// The shared state of one pluginhost process.
pub struct Host {
    /// Loaded plugins.
    pub registry: Registry,
    /// Started instances.
    pub instances: Instances,
    /// Suspended events.
    pub events: Events,
    /// The directory plugins were last loaded from (`plugin.SetPluginDir` changes it).
    pub plugins_dir: Mutex<PathBuf>,
    /// Settings.
    pub settings: Settings,
    /// This process's id, sent as `serverPid`.
    pub pid: u32,
}

impl Host {
    /// A host with no plugin loaded yet, loading plugins from copies in `cache`.
    pub fn new(settings: Settings, cache: crate::cache::Cache) -> Self {
        Host {
            registry: Registry::new(settings.policy)
                .without_descriptions(!settings.schema_descriptions)
                .with_cache(cache, settings.max_generations),
            instances: Instances::default(),
            events: Events::new(settings.event_timeout),
            plugins_dir: Mutex::new(settings.plugins_dir.clone()),
            settings,
            pid: std::process::id(),
        }
    }

    /// Loads every plugin of `dir`, logging what was refused and why.
    pub fn load_plugins(&self, dir: &std::path::Path) -> Result<usize, crate::loader::LoadError> {
        let report = self.registry.load_dir(dir)?;
        report.log(&self.registry);
        *self.plugins_dir.lock().unwrap_or_else(|p| p.into_inner()) = dir.to_owned();
        Ok(report.loaded.len())
    }
}
