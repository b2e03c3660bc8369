//! Shares of the threads apart: how many worker threads one plugin, and one instance of it,
//! may hold with events that run apart, so that a service that hangs holds up only the
//! plugin and the instance that call it.
//!
//! An event apart holds a worker thread of its own from its start to its handler's end,
//! suspended PDK calls included. Before it starts, it takes a [`Share`] for its plugin and
//! instance, given back when it ends. The rule is one fraction, applied twice:
//!
//! * a plugin may hold [`FRACTION`] of the threads apart that the *other plugins* leave;
//! * an instance may hold [`FRACTION`] of what its plugin may hold, less what the plugin's
//!   *other instances* hold.
//!
//! So one hung instance alone holds at most 9/16 of the threads apart, the other instances of
//! its plugin always find 3/16 of them, and every other plugin a quarter; each further hung
//! plugin takes three quarters of what is left, never all of it. An event whose share is spent
//! is refused at once with an error that names the plugin, the instance and the count (see the
//! guide's behaviour page for what Kong does with it). Nothing ever waits behind a held thread.
//!
//! Threads held by the same plugin are counted by name, across its generations: a new version
//! of a plugin calls the same services.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

/// The share of what the others leave that one plugin (and, within it, one instance) may hold.
pub const FRACTION: (usize, usize) = (3, 4);

/// How often the held threads are logged at most.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The part of the threads apart one plugin holds before the log says so (a quarter), beside
/// every refusal.
pub const LOG_FROM: (usize, usize) = (1, 4);

/// Why an event was refused a thread of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// Its instance holds all the threads its share allows.
    Instance,
    /// Its plugin does.
    Plugin,
    /// Every worker thread runs (`-max-threads`).
    Threads,
}

impl Spent {
    /// Every reason.
    pub const ALL: [Spent; 3] = [Spent::Instance, Spent::Plugin, Spent::Threads];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        crate::metrics::labels::EVENT_REFUSED_REASONS[self as usize]
    }
}

/// An event refused a thread: what it would have needed, and what holds the threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Which bound was reached.
    pub spent: Spent,
    /// The plugin.
    pub plugin: String,
    /// The instance.
    pub instance: u64,
    /// Threads the instance holds.
    pub instance_held: usize,
    /// Threads the plugin holds, all instances together.
    pub plugin_held: usize,
    /// Threads apart there are at most.
    pub room: usize,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Refused {
            plugin,
            instance,
            instance_held,
            plugin_held,
            room,
            ..
        } = self;
        let what = match self.spent {
            Spent::Instance => format!(
                "instance {instance} of plugin {plugin} holds {instance_held} worker threads, \
                 all its share allows"
            ),
            Spent::Plugin => {
                format!("plugin {plugin} holds {plugin_held} worker threads, all its share allows")
            }
            Spent::Threads => format!("all {room} worker threads for events apart run handlers"),
        };
        write!(
            f,
            "plugin {plugin}: event refused: {what} (-max-threads); its handlers wait for \
             something that does not answer"
        )
    }
}

/// The threads one plugin holds.
#[derive(Debug, Default)]
struct Held {
    total: usize,
    instances: HashMap<u64, usize>,
    /// Events refused since the last log line, and in all.
    refused_unlogged: usize,
    refused: [u64; Spent::ALL.len()],
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    /// Of `total`, the events of phases on probation.
    probation: usize,
    plugins: HashMap<Arc<str>, Held>,
    logged: Option<Instant>,
}

impl State {
    /// The map's key of `plugin`: its name, allocated once.
    fn key(&self, plugin: &str) -> Arc<str> {
        match self.plugins.get_key_value(plugin) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(plugin),
        }
    }

    /// Threads `plugin` holds, and of them its `instance`.
    fn held(&self, plugin: &str, instance: u64) -> (usize, usize) {
        self.plugins.get(plugin).map_or((0, 0), |h| {
            (h.total, h.instances.get(&instance).copied().unwrap_or(0))
        })
    }
}

/// The threads apart every plugin and instance holds (see the module's doc).
#[derive(Debug)]
pub struct Shares {
    /// Threads apart there may be: `-max-threads` less the serving ones.
    room: usize,
    state: Mutex<State>,
}

/// One thread of a plugin's and instance's share, given back when dropped.
#[derive(Debug)]
pub struct Share {
    shares: Arc<Shares>,
    plugin: Arc<str>,
    instance: u64,
    probation: bool,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut state = self.shares.lock();
        state.total = state.total.saturating_sub(1);
        if self.probation {
            state.probation = state.probation.saturating_sub(1);
        }
        if let Some(held) = state.plugins.get_mut(&self.plugin) {
            held.total = held.total.saturating_sub(1);
            if let Some(n) = held.instances.get_mut(&self.instance) {
                *n -= 1;
                if *n == 0 {
                    held.instances.remove(&self.instance);
                }
            }
        }
    }
}

/// `n` × [`FRACTION`], at least one thread.
fn fraction_of(n: usize) -> usize {
    (n * FRACTION.0 / FRACTION.1).max(1)
}

impl Shares {
    /// Shares of `room` threads apart.
    pub fn new(room: usize) -> Arc<Shares> {
        Arc::new(Shares {
            room,
            state: Mutex::default(),
        })
    }

    /// Threads apart there may be.
    pub fn room(&self) -> usize {
        self.room
    }

    /// Events apart now whose phase is on probation.
    pub fn on_probation(&self) -> usize {
        self.lock().probation
    }

    /// Takes one thread of `plugin`'s and `instance`'s share for an event whose phase is on
    /// `probation` or not, or says why not (the refusal is counted and, at most every
    /// [`LOG_EVERY`], logged).
    pub fn take(
        self: &Arc<Self>,
        plugin: &str,
        instance: u64,
        probation: bool,
    ) -> Result<Share, Refused> {
        let mut state = self.lock();
        let (plugin_held, instance_held) = state.held(plugin, instance);
        let others = state.total - plugin_held;
        let plugin_limit = fraction_of(self.room.saturating_sub(others));
        let instance_limit = fraction_of(plugin_limit.saturating_sub(plugin_held - instance_held));
        let spent = if state.total >= self.room {
            Some(Spent::Threads)
        } else if instance_held >= instance_limit {
            Some(Spent::Instance)
        } else if plugin_held >= plugin_limit {
            Some(Spent::Plugin)
        } else {
            None
        };
        if let Some(spent) = spent {
            return Err(self.refuse(&mut state, spent, plugin, instance));
        }
        state.total += 1;
        state.probation += usize::from(probation);
        let key = state.key(plugin);
        let held = state.plugins.entry(Arc::clone(&key)).or_default();
        held.total += 1;
        *held.instances.entry(instance).or_default() += 1;
        if held.total * LOG_FROM.1 >= self.room * LOG_FROM.0 {
            self.log_holders(&mut state);
        }
        drop(state);
        Ok(Share {
            shares: Arc::clone(self),
            plugin: key,
            instance,
            probation,
        })
    }

    /// Threads held now, by plugin (every plugin that ever held one, so that a gauge goes back
    /// to zero rather than vanishing).
    pub fn held(&self) -> Vec<(String, usize)> {
        let mut held: Vec<_> = self
            .lock()
            .plugins
            .iter()
            .map(|(name, h)| (name.to_string(), h.total))
            .collect();
        held.sort();
        held
    }

    /// Threads held now by `plugin`'s `instance`.
    pub fn held_by(&self, plugin: &str, instance: u64) -> usize {
        self.lock()
            .plugins
            .get(plugin)
            .and_then(|h| h.instances.get(&instance).copied())
            .unwrap_or(0)
    }

    /// Events refused so far, by plugin and reason.
    pub fn refused(&self) -> Vec<(String, Spent, u64)> {
        let state = self.lock();
        let mut all: Vec<_> = state
            .plugins
            .iter()
            .flat_map(|(name, h)| {
                Spent::ALL
                    .iter()
                    .zip(h.refused)
                    .map(move |(&spent, n)| (name.to_string(), spent, n))
            })
            .collect();
        all.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
        all
    }

    /// Counts and returns the refusal of an event whose share allowed a thread that the pool
    /// could not start: every worker thread runs (held serving workers count too), or the
    /// system refused one more.
    pub fn refuse_threads(&self, plugin: &str, instance: u64) -> Refused {
        let mut state = self.lock();
        self.refuse(&mut state, Spent::Threads, plugin, instance)
    }

    /// Counts (and, rate-limited, logs) the refusal of an event of `plugin`'s `instance`.
    fn refuse(&self, state: &mut State, spent: Spent, plugin: &str, instance: u64) -> Refused {
        let (plugin_held, instance_held) = state.held(plugin, instance);
        let refused = Refused {
            spent,
            plugin: plugin.to_owned(),
            instance,
            instance_held,
            plugin_held,
            room: self.room,
        };
        let key = state.key(plugin);
        let held = state.plugins.entry(key).or_default();
        held.refused_unlogged += 1;
        held.refused[refused.spent as usize] += 1;
        if let Some(metrics) = crate::metrics::get() {
            metrics.event_refused(&refused.plugin, refused.spent.as_str());
        }
        self.log_holders(state);
        refused
    }

    /// Names the plugins and instances that hold threads, and the events refused since the
    /// last line: one line every [`LOG_EVERY`] at most, never one per event.
    fn log_holders(&self, state: &mut State) {
        if state.logged.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return;
        }
        state.logged = Some(Instant::now());
        let room = self.room;
        let mut plugins: Vec<(&Arc<str>, &mut Held)> = state
            .plugins
            .iter_mut()
            .filter(|(_, h)| h.total * LOG_FROM.1 >= room * LOG_FROM.0 || h.refused_unlogged > 0)
            .collect();
        plugins.sort_by_key(|(_, h)| std::cmp::Reverse(h.total));
        for (name, held) in plugins {
            let mut instances: Vec<(u64, usize)> =
                held.instances.iter().map(|(&i, &n)| (i, n)).collect();
            instances.sort_by_key(|&(i, n)| (std::cmp::Reverse(n), i));
            let top: Vec<String> = instances
                .iter()
                .take(3)
                .map(|(i, n)| format!("instance {i}: {n}"))
                .collect();
            tracing::warn!(
                plugin = &**name,
                threads = held.total,
                refused = held.refused_unlogged,
                "plugin {name}: its handlers hold {} of {} worker threads for events apart \
                 ({}); {} of its events refused since the last line (its share is spent): do \
                 the services it calls answer?",
                held.total,
                self.room,
                top.join(", "),
                held.refused_unlogged
            );
            held.refused_unlogged = 0;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl crate::metrics::live::Source for Shares {
    fn gauges(&self) -> Vec<crate::metrics::live::Gauge> {
        vec![
            crate::metrics::live::Gauge {
                name: "threads_held",
                help: "Worker threads held now by a plugin's events that run apart (a handler \
                       running, blocked, or waiting for Kong's answer), by plugin",
                series: self
                    .held()
                    .into_iter()
                    .map(|(plugin, n)| (Some(plugin), crate::metrics::live::count(n)))
                    .collect(),
            },
            crate::metrics::live::Gauge::single(
                "threads_apart_limit",
                "Worker threads there may be for events apart (-max-threads less the serving \
                 threads)",
                self.room,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_all(shares: &Arc<Shares>, plugin: &str, instance: u64) -> (Vec<Share>, Refused) {
        let mut held = Vec::new();
        loop {
            match shares.take(plugin, instance, false) {
                Ok(share) => held.push(share),
                Err(refused) => return (held, refused),
            }
        }
    }

    #[test]
    fn one_hung_instance_leaves_room_for_its_siblings_and_the_other_plugins() {
        let shares = Shares::new(4094);
        let (hung, refused) = take_all(&shares, "auth", 1);
        assert_eq!(hung.len(), 2302, "9/16 of the room");
        assert_eq!(refused.spent, Spent::Instance);
        assert_eq!(refused.instance_held, 2302);
        let (sibling, refused) = take_all(&shares, "auth", 2);
        assert_eq!(sibling.len(), 576);
        assert_eq!(refused.spent, Spent::Instance);
        let (third, _) = take_all(&shares, "auth", 3);
        assert_eq!(
            third.len(),
            144,
            "a third instance takes 3/4 of what is left"
        );
        let (other, refused) = take_all(&shares, "enrich", 1);
        assert_eq!(other.len(), 603, "3/4 of what auth leaves, 3/4 of that");
        assert_eq!(refused.spent, Spent::Instance);
        assert!(
            shares.take("enrich", 2, false).is_ok(),
            "its sibling still finds one"
        );
        let refused = shares.take("auth", 4, false).unwrap_err();
        assert_eq!(
            refused.spent,
            Spent::Plugin,
            "auth's share shrank as enrich took threads"
        );
    }

    #[test]
    fn a_share_given_back_is_taken_again() {
        let shares = Shares::new(8);
        let (mut held, _) = take_all(&shares, "p", 1);
        assert_eq!(held.len(), 4);
        assert_eq!(shares.held_by("p", 1), 4);
        held.pop();
        assert_eq!(shares.held_by("p", 1), 3);
        assert!(shares.take("p", 1, false).is_ok());
        drop(held);
        assert_eq!(shares.held(), [("p".to_owned(), 0)]);
    }

    #[test]
    fn refusals_are_counted_by_plugin_and_reason() {
        let shares = Shares::new(2);
        let first = shares.take("p", 1, false).unwrap();
        assert_eq!(
            shares.take("p", 1, false).unwrap_err().spent,
            Spent::Instance
        );
        let other = shares.take("q", 1, false).unwrap();
        let refused = shares.take("r", 1, false).unwrap_err();
        assert_eq!(refused.spent, Spent::Threads);
        assert!(
            refused.to_string().contains("all 2 worker threads"),
            "{refused}"
        );
        let counts = shares.refused();
        assert!(
            counts.contains(&("p".into(), Spent::Instance, 1)),
            "{counts:?}"
        );
        assert!(
            counts.contains(&("r".into(), Spent::Threads, 1)),
            "{counts:?}"
        );
        drop((first, other));
    }

    #[test]
    fn a_refusal_names_the_plugin_the_instance_and_the_count() {
        let shares = Shares::new(100);
        let (_held, refused) = take_all(&shares, "introspect", 42);
        let text = refused.to_string();
        assert!(
            text.starts_with("plugin introspect: event refused: instance 42 of plugin introspect holds 56 worker threads"),
            "{text}"
        );
    }
}
