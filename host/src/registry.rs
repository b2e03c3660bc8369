//! The loaded plugins, by name.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use crate::{
    fingerprint::{Policy, report::warning_text},
    loader::{self, LoadError, LoadedPlugin},
};

/// Every plugin served, by the name it declares. Read on every `StartInstance`, written only
/// when plugins are loaded.
#[derive(Default)]
pub struct Registry {
    plugins: RwLock<BTreeMap<String, Arc<LoadedPlugin>>>,
    policy: Policy,
    /// Kong's MetaSchema accepts `description` only since 2023 (Kong/kong#10150); older
    /// Kongs refuse a schema carrying it. `-no-descriptions` removes them for those.
    strip_descriptions: bool,
}

/// What loading a directory did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Names of the plugins newly loaded.
    pub loaded: Vec<String>,
    /// Files refused, each with its reason.
    pub refused: Vec<LoadError>,
}

impl LoadReport {
    /// Logs what was refused and why, and the plugins loaded despite build differences.
    pub fn log(&self, registry: &Registry) {
        for refused in &self.refused {
            tracing::error!("refused plugin {refused}");
        }
        for name in &self.loaded {
            let Some(plugin) = registry.get(name) else {
                continue;
            };
            if !plugin.warnings.is_empty() {
                tracing::warn!(
                    "plugin {}: {}",
                    plugin.path.display(),
                    warning_text(&plugin.warnings)
                );
            }
        }
    }
}

impl Registry {
    /// An empty registry that checks plugins with `policy`.
    pub fn new(policy: Policy) -> Self {
        Registry {
            plugins: RwLock::default(),
            policy,
            strip_descriptions: false,
        }
    }

    /// Serves schemas without field descriptions, for Kongs that refuse them.
    pub fn without_descriptions(mut self, strip: bool) -> Self {
        self.strip_descriptions = strip;
        self
    }

    /// Loads every plugin file of `dir`. A bad file is refused and reported; it never stops the
    /// others. A file declaring a name already served by another file is refused, naming both.
    pub fn load_dir(&self, dir: &Path) -> Result<LoadReport, LoadError> {
        let files = loader::scan(dir)
            .map_err(|e| LoadError::new(dir, format!("cannot list the plugins directory: {e}")))?;
        let mut report = LoadReport::default();
        let served: HashSet<PathBuf> = self
            .read()
            .values()
            .filter_map(|p| p.path.canonicalize().ok())
            .collect();
        for path in files {
            if path.canonicalize().is_ok_and(|p| served.contains(&p)) {
                continue;
            }
            match loader::load(&path, &self.policy).and_then(|plugin| self.insert(plugin)) {
                Ok(name) => report.loaded.push(name),
                Err(e) => report.refused.push(e),
            }
        }
        Ok(report)
    }

    fn insert(&self, mut plugin: LoadedPlugin) -> Result<String, LoadError> {
        if self.strip_descriptions {
            strip_descriptions(&mut plugin.info.schema);
        }
        let mut plugins = self.write();
        let name = plugin.name().to_owned();
        if let Some(existing) = plugins.get(&name) {
            return Err(LoadError::new(
                &plugin.path,
                format!(
                    "plugin name `{name}` is already served by {}; refusing this second file",
                    existing.path.display()
                ),
            ));
        }
        plugins.insert(name.clone(), Arc::new(plugin));
        Ok(name)
    }

    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.read().get(name).cloned()
    }

    /// Every plugin, sorted by name.
    pub fn all(&self) -> Vec<Arc<LoadedPlugin>> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<LoadedPlugin>>> {
        self.plugins.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<LoadedPlugin>>> {
        self.plugins.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes `description` from every field declaration of a Kong schema.
fn strip_descriptions(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            // A field *named* `description` sits in a `fields` entry as a key whose value is
            // a declaration object; only attributes with a string value are descriptions.
            map.retain(|k, v| !(k == "description" && v.is_string()));
            map.values_mut().for_each(strip_descriptions);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn descriptions_go_and_fields_named_description_stay() {
        let mut schema = json!({"name": "p", "fields": [{"config": {"type": "record", "fields": [
            {"description": {"type": "string", "description": "A field named description."}},
        ]}}]});
        super::strip_descriptions(&mut schema);
        assert_eq!(
            schema["fields"][0]["config"]["fields"][0],
            json!({"description": {"type": "string"}})
        );
    }
}
