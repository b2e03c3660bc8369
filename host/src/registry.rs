//! The loaded plugins, by name, with their generations.
//!
//! A plugin name maps to the generation that serves new instances. A new version of its file
//! becomes the next generation; instances already started hold an `Arc` to theirs and keep it
//! until Kong closes them. Code is never unloaded (see [`crate::cache`] and the README), so the
//! number of generations per plugin is capped.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use crate::{
    cache::Cache,
    fingerprint::{Policy, report::warning_text},
    loader::{self, LoadError, LoadedPlugin, Refusal, read, trust::Trust},
};
use plugin_abi::schema::{KongVersion, for_kong};

/// Every plugin served, by the name it declares. Read on every `StartInstance`, written only
/// when plugins are loaded or removed.
pub struct Registry {
    plugins: RwLock<BTreeMap<String, Entry>>,
    policy: Policy,
    /// The Kong release the schemas are served to: what it accepts is what they say
    /// (`description` only from 3.4.0 on).
    kong: KongVersion,
    /// Where plugins are copied before loading; `None` loads the files themselves (dumps).
    cache: Option<Cache>,
    /// How many versions of one plugin a process loads (0: no limit).
    max_generations: u32,
    /// Which files may be loaded.
    trust: Trust,
}

/// One plugin name.
struct Entry {
    /// The generation new instances get; `None` once its file is gone.
    current: Option<Arc<LoadedPlugin>>,
    /// The last generation loaded, kept while removed to restore it and to explain.
    latest: Arc<LoadedPlugin>,
}

/// What loading a directory did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Names of the plugins newly loaded.
    pub loaded: Vec<String>,
    /// Files refused, each with its reason.
    pub refused: Vec<LoadError>,
}

/// What loading one file did.
pub enum Loaded {
    /// A plugin, or a new version of one, now serves new instances.
    New(Arc<LoadedPlugin>),
    /// The file holds the bytes already serving: nothing changed.
    Unchanged(String),
}

fn count_refusal(e: &LoadError) {
    if let Some(metrics) = crate::metrics::get() {
        metrics.refused(e.kind);
    }
}

impl LoadReport {
    /// Logs what was loaded, what was refused and why, and the plugins loaded despite build
    /// differences.
    pub fn log(&self, registry: &Registry) {
        for refused in &self.refused {
            tracing::error!("refused plugin {refused}");
        }
        for name in &self.loaded {
            if let Some(plugin) = registry.get(name) {
                log_loaded(&plugin);
            }
        }
    }
}

/// Logs a plugin generation that now serves, with what it was loaded despite.
pub fn log_loaded(plugin: &LoadedPlugin) {
    tracing::info!(
        plugin = plugin.name(),
        version = plugin.info.version.as_str(),
        generation = plugin.generation,
        sha256 = plugin.sha256.get(..12).unwrap_or("not hashed"),
        file = %plugin.path.display(),
        "loaded plugin"
    );
    if !plugin.warnings.is_empty() {
        tracing::warn!(
            "plugin {}: {}",
            plugin.path.display(),
            warning_text(&plugin.warnings)
        );
    }
}

impl Registry {
    /// An empty registry that checks plugins with `policy` and loads the files themselves.
    pub fn new(policy: Policy) -> Self {
        Registry {
            plugins: RwLock::default(),
            policy,
            kong: KongVersion::OLDEST,
            cache: None,
            max_generations: 0,
            trust: Trust::STRICT,
        }
    }

    /// Loads the files `trust` accepts.
    pub fn with_trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self
    }

    /// The trust rules files are loaded under.
    pub fn trust(&self) -> Trust {
        self.trust
    }

    /// Serves schemas as Kong release `kong` accepts them.
    pub fn for_kong(mut self, kong: KongVersion) -> Self {
        self.kong = kong;
        self
    }

    /// Loads plugins from private copies in `cache`, at most `max_generations` versions of
    /// each (0: no limit).
    pub fn with_cache(mut self, cache: Cache, max_generations: u32) -> Self {
        self.cache = Some(cache);
        self.max_generations = max_generations;
        self
    }

    /// Loads every plugin file of `dir` not already served. A bad file is refused and
    /// reported; it never stops the others.
    pub fn load_dir(&self, dir: &Path) -> Result<LoadReport, LoadError> {
        let scan = loader::scan(dir, self.trust)?;
        scan.skipped.iter().for_each(count_refusal);
        let mut report = LoadReport {
            refused: scan.skipped,
            ..LoadReport::default()
        };
        let served: HashSet<PathBuf> = self
            .all()
            .iter()
            .filter_map(|p| p.path.canonicalize().ok())
            .collect();
        for path in scan.files {
            if path.canonicalize().is_ok_and(|p| served.contains(&p)) {
                continue;
            }
            match self.load_file(&path) {
                Ok(Loaded::New(plugin)) => report.loaded.push(plugin.name().to_owned()),
                Ok(Loaded::Unchanged(_)) => {}
                Err(e) => report.refused.push(e),
            }
        }
        Ok(report)
    }

    /// Serves `plugin`, built into this program (see [`crate::embedded`]).
    pub fn serve_builtin(&self, mut plugin: LoadedPlugin) -> Result<Arc<LoadedPlugin>, LoadError> {
        plugin.info.schema = for_kong(&plugin.info.schema, self.kong);
        match self.install(plugin)? {
            Loaded::New(plugin) => {
                plugin.metrics();
                Ok(plugin)
            }
            Loaded::Unchanged(name) => Ok(self.get(&name).expect("just installed")),
        }
    }

    /// Loads the plugin in `source`, as a new plugin or as the next generation of the one
    /// this file already serves. On any refusal, what served before keeps serving.
    pub fn load_file(&self, source: &Path) -> Result<Loaded, LoadError> {
        let loaded = self.try_load_file(source);
        match &loaded {
            // Its series exist from now on, at zero until its first event.
            Ok(Loaded::New(plugin)) => {
                plugin.metrics();
            }
            Ok(Loaded::Unchanged(_)) => {}
            Err(e) => count_refusal(e),
        }
        loaded
    }

    fn try_load_file(&self, source: &Path) -> Result<Loaded, LoadError> {
        // Only a serving registry (with a cache) compares versions; dumps skip the hashing,
        // which was most of a 50-plugin dump's time.
        let snapshot = read::snapshot(source, self.trust, self.cache.is_some())
            .map_err(|e| LoadError::read(source, e))?;
        if let Some(serving) = self.serving_from(source) {
            if serving.sha256 == snapshot.sha256 {
                return Ok(Loaded::Unchanged(serving.name().to_owned()));
            }
            if self.max_generations > 0 && serving.generation >= self.max_generations {
                return Err(LoadError::new(
                    source,
                    Refusal::Generations,
                    format!(
                        "plugin {} already has {} versions loaded in this process (-max-generations); \
                         old code is never unloaded, so restart pluginhost to load this version \
                         (generation {} keeps serving)",
                        serving.name(),
                        serving.generation,
                        serving.generation
                    ),
                ));
            }
        }
        // Checked before it is copied: a refused file leaves nothing in the cache.
        let warnings = loader::check_bytes(source, &snapshot.bytes, &self.policy)?;
        let (file, created) = match &self.cache {
            Some(cache) => cache.store(&snapshot).map_err(|e| {
                LoadError::new(
                    source,
                    Refusal::Cache,
                    format!(
                        "cannot copy into the plugin cache {}: {e}",
                        cache.dir().display()
                    ),
                )
            })?,
            None => (source.to_owned(), false),
        };
        let loaded = loader::load_checked(&snapshot, &file, warnings).and_then(|mut plugin| {
            plugin.info.schema = for_kong(&plugin.info.schema, self.kong);
            self.install(plugin)
        });
        if loaded.is_err()
            && created
            && let Some(cache) = &self.cache
        {
            cache.discard(&file);
        }
        loaded
    }

    fn install(&self, mut plugin: LoadedPlugin) -> Result<Loaded, LoadError> {
        let mut plugins = self.write();
        let name = plugin.name().to_owned();
        let plugin = match plugins.get_mut(&name) {
            None => {
                let plugin = Arc::new(plugin);
                plugins.insert(
                    name.clone(),
                    Entry {
                        current: Some(plugin.clone()),
                        latest: plugin.clone(),
                    },
                );
                plugin
            }
            Some(entry) => {
                if let Some(current) = &entry.current
                    && current.path != plugin.path
                {
                    return Err(LoadError::new(
                        &plugin.path,
                        Refusal::Duplicate,
                        format!(
                            "plugin name `{name}` is already served by {}; refusing this second file",
                            current.path.display()
                        ),
                    ));
                }
                let plugin = if entry.latest.sha256 != plugin.sha256 {
                    plugin.generation = entry.latest.generation + 1;
                    Arc::new(plugin)
                } else if entry.latest.path == plugin.path {
                    // The last version, back after a removal: same code, same generation.
                    entry.latest.clone()
                } else {
                    // The same build under another file name (a rename): same generation.
                    plugin.generation = entry.latest.generation;
                    Arc::new(plugin)
                };
                entry.current = Some(plugin.clone());
                entry.latest = plugin.clone();
                plugin
            }
        };
        // The file may have held another plugin before: that one is gone from it now.
        for other in unserve(&mut plugins, &plugin.path, Some(&name)) {
            tracing::warn!(
                plugin = other.as_str(),
                file = %plugin.path.display(),
                "plugin removed: its file now holds plugin {name}"
            );
        }
        Ok(Loaded::New(plugin))
    }

    /// Stops serving new instances of the plugins loaded from `source` (its file is gone).
    /// Returns their names. Their instances keep serving until Kong closes them.
    pub fn remove_file(&self, source: &Path) -> Vec<String> {
        unserve(&mut self.write(), source, None)
    }

    /// The generation of plugin `name` that serves new instances.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.read().get(name).and_then(|e| e.current.clone())
    }

    /// The file plugin `name` was served from, if it was removed while serving.
    pub fn removed_from(&self, name: &str) -> Option<PathBuf> {
        let plugins = self.read();
        let entry = plugins.get(name)?;
        entry.current.is_none().then(|| entry.latest.path.clone())
    }

    /// Every plugin served, sorted by name.
    pub fn all(&self) -> Vec<Arc<LoadedPlugin>> {
        self.read()
            .values()
            .filter_map(|e| e.current.clone())
            .collect()
    }

    /// The plugin served from `source`, if any.
    pub fn serving_from(&self, source: &Path) -> Option<Arc<LoadedPlugin>> {
        self.all().into_iter().find(|p| p.path == source)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.plugins.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.plugins.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Stops serving new instances of the plugins served from `file`, except `keep`; returns
/// their names.
fn unserve(plugins: &mut BTreeMap<String, Entry>, file: &Path, keep: Option<&str>) -> Vec<String> {
    let mut stopped = Vec::new();
    for (name, entry) in plugins.iter_mut() {
        if Some(name.as_str()) != keep && entry.current.as_ref().is_some_and(|p| p.path == file) {
            entry.current = None;
            stopped.push(name.clone());
        }
    }
    stopped
}
