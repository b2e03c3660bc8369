//! Plugin instances: one per plugin entity per Kong worker, keyed by id.
//!
//! Kong never closes the instances it forgets (a reset only drops its cached ids), so instances
//! unused for `-instance-ttl` are collected; one with a running event never is. If Kong uses a
//! collected id it gets `No plugin instance <id>` and starts a new instance.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use plugin_abi::ffi::PluginInstanceBox;

use crate::{
    ids::IdGen,
    loader::{LoadedPlugin, unix_seconds},
};

/// A started instance of a plugin.
pub struct Instance {
    /// Its id, as Kong knows it.
    pub id: u64,
    /// The plugin it is an instance of.
    pub plugin: Arc<LoadedPlugin>,
    /// The plugin's object.
    pub object: PluginInstanceBox,
    /// The config it was started with, as Kong sent it.
    pub config: serde_json::Value,
    /// Unix seconds.
    pub start_time: u64,
    /// Milliseconds since `epoch` of the instance table when it was last used.
    last_used: AtomicU64,
    running: AtomicUsize,
}

impl Instance {
    /// Events of this instance now running.
    pub fn running_events(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }
}

/// Marks an event of `instance` as running until dropped.
pub struct Running {
    instance: Arc<Instance>,
}

impl Running {
    /// The instance.
    pub fn instance(&self) -> &Arc<Instance> {
        &self.instance
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.instance.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every live instance.
pub struct Instances {
    map: RwLock<HashMap<u64, Arc<Instance>>>,
    ids: IdGen,
    epoch: Instant,
}

impl Default for Instances {
    fn default() -> Self {
        Instances::with_id_bits(53)
    }
}

impl Instances {
    /// No instance yet; their ids will stay below `2^bits` (53 for Lua numbers, 31 for
    /// ProtoBuf:1's int32).
    pub fn with_id_bits(bits: u32) -> Self {
        Instances {
            map: RwLock::default(),
            ids: IdGen::random_below(bits),
            epoch: Instant::now(),
        }
    }

    /// Starts an instance of `plugin` with Kong's config JSON.
    pub fn start(
        &self,
        plugin: Arc<LoadedPlugin>,
        config_json: &str,
    ) -> Result<Arc<Instance>, String> {
        let config: serde_json::Value =
            serde_json::from_str(config_json).map_err(|e| format!("Decoding config: {e}"))?;
        let object = plugin.new_instance(config_json)?;
        let now = unix_seconds(SystemTime::now());
        plugin.last_start_instance.store(now, Ordering::Relaxed);
        let mut id = self.ids.next();
        if id == 0 {
            // proto3 cannot tell an id 0 from none.
            id = self.ids.next();
        }
        let instance = Arc::new(Instance {
            id,
            plugin,
            object,
            config,
            start_time: now,
            last_used: AtomicU64::new(self.now_ms()),
            running: AtomicUsize::new(0),
        });
        self.write().insert(instance.id, Arc::clone(&instance));
        tracing::info!(
            plugin = instance.plugin.name(),
            id = instance.id,
            "started instance"
        );
        Ok(instance)
    }

    /// The instance `id`, marked as running one more event.
    pub fn enter(&self, id: u64) -> Option<Running> {
        let map = self.read();
        let instance = Arc::clone(map.get(&id)?);
        // Counted while the read lock is held: the collector decides under the write lock, so it
        // either removed the instance before we looked or sees it running.
        instance.running.fetch_add(1, Ordering::AcqRel);
        drop(map);
        instance.last_used.store(self.now_ms(), Ordering::Relaxed);
        Some(Running { instance })
    }

    /// The instance `id`.
    pub fn get(&self, id: u64) -> Option<Arc<Instance>> {
        self.read().get(&id).cloned()
    }

    /// Removes the instance `id`. Its running events finish with it; its object is dropped with
    /// the last of them.
    pub fn close(&self, id: u64) -> Option<Arc<Instance>> {
        let instance = self.write().remove(&id)?;
        let now = unix_seconds(SystemTime::now());
        instance
            .plugin
            .last_close_instance
            .store(now, Ordering::Relaxed);
        tracing::info!(plugin = instance.plugin.name(), id, "closed instance");
        Some(instance)
    }

    /// The instances of plugin `name`.
    pub fn of_plugin(&self, name: &str) -> Vec<Arc<Instance>> {
        let mut list: Vec<_> = self
            .read()
            .values()
            .filter(|i| i.plugin.name() == name)
            .cloned()
            .collect();
        list.sort_by_key(|i| i.id);
        list
    }

    /// How many instances each plugin has, by name.
    pub fn per_plugin(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for instance in self.read().values() {
            *counts.entry(instance.plugin.name().to_owned()).or_insert(0) += 1;
        }
        counts
    }

    /// Removes instances unused for `ttl` that have no running event; returns how many.
    pub fn collect_idle(&self, ttl: Duration) -> usize {
        let now = self.now_ms();
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let mut map = self.write();
        let before = map.len();
        map.retain(|_, i| {
            i.running_events() > 0 || now.saturating_sub(i.last_used.load(Ordering::Relaxed)) < ttl
        });
        before - map.len()
    }

    /// How many instances are live.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there is no instance.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Arc<Instance>>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<u64, Arc<Instance>>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }
}
