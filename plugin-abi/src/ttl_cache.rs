//! A cache whose entries expire, for what every instance of a plugin shares: introspected
//! tokens, looked-up consumers, fetched keys.
//!
//! Kong starts one instance per plugin configuration and nginx worker, so a cache kept in an
//! instance is filled once per worker and thrown away whenever the configuration changes. Kept
//! in a `static` instead, one cache serves every instance, and pluginhost's threads read it at
//! once.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

/// A map whose entries expire after the time each was given, holding at most `capacity`
/// entries (when full, expired entries go first, then the one closest to expiring).
///
/// Share it across instances as a `static`; it is `Sync` and every method takes `&self`:
///
/// ```
/// use std::{sync::LazyLock, time::Duration};
/// use plugin_abi::TtlCache;
///
/// /// Token → consumer id, for every instance of the plugin.
/// static TOKENS: LazyLock<TtlCache<String, String>> = LazyLock::new(|| TtlCache::new(10_000));
///
/// TOKENS.insert("t1".to_owned(), "alice".to_owned(), Duration::from_secs(60));
/// assert_eq!(TOKENS.get("t1").as_deref(), Some("alice"));
/// assert_eq!(TOKENS.get("t2"), None);
/// ```
pub struct TtlCache<K, V> {
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// An empty cache of at most `capacity` entries (at least one).
    ///
    /// ```
    /// let cache: plugin_abi::TtlCache<u32, u32> = plugin_abi::TtlCache::new(2);
    /// assert!(cache.is_empty());
    /// ```
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value under `key`, if it has not expired.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = plugin_abi::TtlCache::new(8);
    /// cache.insert("gone", 1, Duration::ZERO);
    /// assert_eq!(cache.get("gone"), None);
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.lock();
        let (until, value) = entries.get(key)?;
        (*until > Instant::now()).then(|| value.clone())
    }

    /// Keeps `value` under `key` for `ttl` (a token's remaining lifetime, say), replacing what
    /// was there.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = plugin_abi::TtlCache::new(1);
    /// cache.insert("a", 1, Duration::from_secs(60));
    /// cache.insert("b", 2, Duration::from_secs(60));
    /// assert_eq!((cache.len(), cache.get("b")), (1, Some(2)));
    /// ```
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        let now = Instant::now();
        let until = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= self.capacity {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, (until, _))| *until)
                    .map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(key, (until, value));
    }

    /// Forgets `key` (a token revoked, a consumer deleted).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = plugin_abi::TtlCache::new(8);
    /// cache.insert("a", 1, Duration::from_secs(60));
    /// cache.remove("a");
    /// assert_eq!(cache.get("a"), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.lock().remove(key);
    }

    /// How many entries it holds, expired ones not yet dropped included.
    ///
    /// ```
    /// let cache: plugin_abi::TtlCache<u8, u8> = plugin_abi::TtlCache::new(8);
    /// assert_eq!(cache.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds nothing.
    ///
    /// ```
    /// let cache: plugin_abi::TtlCache<u8, u8> = plugin_abi::TtlCache::new(8);
    /// assert!(cache.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map; a panic while it was held left it whole (every change is one map call).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cache_drops_the_expired_first_then_the_soonest_to_expire() {
        let cache = TtlCache::new(3);
        cache.insert("expired", 0, Duration::ZERO);
        cache.insert("soon", 1, Duration::from_secs(10));
        cache.insert("late", 2, Duration::from_secs(100));
        cache.insert("new", 3, Duration::from_secs(50));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("soon"), Some(1));
        cache.insert("newer", 4, Duration::from_secs(50));
        assert_eq!(cache.get("soon"), None, "the soonest to expire went");
        assert_eq!(
            ["late", "new", "newer"].map(|k| cache.get(k)),
            [Some(2), Some(3), Some(4)]
        );
    }

    #[test]
    fn a_key_already_there_is_replaced_without_dropping_another() {
        let cache = TtlCache::new(2);
        cache.insert("a", 1, Duration::from_secs(10));
        cache.insert("b", 2, Duration::from_secs(10));
        cache.insert("a", 3, Duration::from_secs(10));
        assert_eq!((cache.get("a"), cache.get("b")), (Some(3), Some(2)));
    }
}
