//! The server's life: load the plugins, take the socket, start serving (see
//! [`crate::serving`]), and leave cleanly when told to stop. The reload watcher has a thread
//! of its own; this thread waits for signals, collects idle instances, and runs the shutdown.
//!
//! The process Kong starts is the supervisor ([`crate::supervisor`]); this runs in its child,
//! the engine, on the sockets the supervisor keeps.

use std::{
    os::{fd::OwnedFd, unix::net::UnixStream},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use plugin_abi::schema::KongVersion;
use rustix::process::Signal;
use tokio::sync::{oneshot, watch};

use crate::{
    cache::Cache,
    cli::{Cli, ServeFlags},
    host::{Host, Settings},
    lifecycle::{self, Stop},
    loader::{LoadedPlugin, trust::Trust},
    reload,
    serving::{Server, accept, local::here},
    socket,
    supervisor::{
        self,
        channel::{Listeners, Message},
        engine::Link,
    },
    takeover,
    workers::Pool,
};

/// The directory under Kong's prefix where plugins are copied before loading.
pub const CACHE_DIR: &str = ".pluginhost-cache";

/// How long a worker gets to end its events at the very end; one still running a handler then
/// is stopped with the process.
const END_ALL_WAIT: Duration = Duration::from_millis(200);

/// Told to stop, the server keeps accepting, then serving, until this long has passed with no
/// event running or started and no connection made (see `until_quiet`).
const HANDOVER_IDLE: Duration = Duration::from_millis(250);

/// How often `until_quiet` looks at the socket and the events.
const HANDOVER_POLL: Duration = Duration::from_millis(10);

/// Where the plugins served come from.
pub enum Plugins {
    /// Every plugin file of a directory, watched while serving (pluginhost).
    Directory {
        /// The plugins directory.
        dir: PathBuf,
        /// How their builds are checked.
        policy: crate::fingerprint::Policy,
        /// Which files may be loaded.
        trust: Trust,
        /// Versions of one plugin a process loads at most.
        max_generations: u32,
        /// Seconds between full rescans.
        rescan: Duration,
    },
    /// The one plugin this program was built with (see [`crate::embedded`]).
    Builtin(Box<LoadedPlugin>),
}

/// Runs pluginhost until SIGTERM, SIGINT or the parent's death.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let plugins = Plugins::Directory {
        dir: cli.plugins.plugins_directory.clone(),
        policy: cli.policy(),
        trust: cli.trust(),
        max_generations: cli.max_generations,
        rescan: cli.rescan_interval(),
    };
    serve_until_stopped(&cli.serve, &cli.socket_path(), cli.schema_kong(), plugins)
}

/// Serves `plugins` on `socket` with `flags` until SIGTERM, SIGINT or the parent's death,
/// schemas as Kong release `kong` reads them: as the supervisor, starting this program again
/// as its engine, or as that engine.
pub fn serve_until_stopped(
    flags: &ServeFlags,
    socket: &Path,
    kong: KongVersion,
    plugins: Plugins,
) -> anyhow::Result<()> {
    flags
        .kong
        .protocol
        .check_kong(flags.kong_version)
        .map_err(anyhow::Error::msg)?;
    let Some(link) = supervisor::engine::take()? else {
        return supervisor::run();
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(flags, socket, kong, plugins, link))
}

async fn serve(
    flags: &ServeFlags,
    socket_path: &Path,
    kong: KongVersion,
    plugins: Plugins,
    mut link: Link,
) -> anyhow::Result<()> {
    let armed = lifecycle::arm(Signal::KILL).context("cannot watch for signals")?;
    let given = link.given.take();
    // Kong's previous server, when Kong starts this one before stopping it (`kong reload`):
    // this one takes the socket over once its plugins are loaded. An engine given the sockets
    // serves on them: whoever answers there is this server's own engine before it.
    let predecessor = match given {
        Some(_) => None,
        None => socket::live_server(socket_path),
    };
    if let Some(pid) = predecessor {
        tracing::info!(
            pid,
            socket = %socket_path.display(),
            "a server answers on the socket: taking it over once the plugins are loaded"
        );
    }
    let (plugins_dir, policy, trust, max_generations) = match &plugins {
        Plugins::Directory {
            dir,
            policy,
            trust,
            max_generations,
            ..
        } => (dir.clone(), *policy, *trust, *max_generations),
        Plugins::Builtin(_) => (
            PathBuf::new(),
            crate::fingerprint::Policy::default(),
            Trust::STRICT,
            0,
        ),
    };
    let cache = match &plugins {
        Plugins::Directory { .. } => {
            let cache_dir = flags.kong.kong_prefix.join(CACHE_DIR);
            // Emptied only by a server that starts alone: an engine before this one, or a
            // live server, may still map its copies.
            let alone = predecessor.is_none() && given.is_none();
            Some(Cache::open(&cache_dir, trust, alone).map_err(|e| {
                anyhow::anyhow!("cannot use the plugin cache {}: {e}", cache_dir.display())
            })?)
        }
        Plugins::Builtin(_) => None,
    };
    let metrics = flags
        .metrics_listen
        .as_ref()
        .map(|_| crate::metrics::install());
    let max_threads = flags.max_threads();
    let host = Arc::new(Host::new(
        Settings {
            plugins_dir,
            event_timeout: flags.event_timeout(),
            instance_ttl: flags.instance_ttl(),
            policy,
            kong,
            max_generations,
            handler_stack: flags.handler_stack_kib as usize * 1024,
            threads: flags.threads(),
            max_threads: u16::try_from(max_threads).unwrap_or(u16::MAX),
            thread_idle: flags.thread_idle(),
            limits: flags.limits(),
            max_buffered: flags.max_buffered(),
            max_events: flags.max_events_beside(max_threads),
            trust,
            dialect: flags.kong.protocol,
        },
        cache,
    ));
    // Before any plugin loads: an address that cannot be had stops the start, with nothing
    // done yet, and the refusals of the first load are counted.
    let given_metrics = given.as_ref().and_then(|l| l.metrics.as_ref());
    let endpoint = match (&flags.metrics_listen, metrics) {
        (Some(listen), Some(metrics)) => {
            metrics.live.watch(Arc::clone(&host) as _);
            metrics.count_engine_crashes(&supervisor::crashes_from_env());
            let bound = crate::metrics::endpoint::start(listen, metrics, given_metrics)
                .with_context(|| format!("cannot serve metrics on {listen}"))?;
            tracing::info!(address = %bound.address, "serving metrics at /metrics");
            Some(bound)
        }
        _ => None,
    };
    // Plugins first, socket second: once Kong can connect, every plugin can answer.
    let loaded = match plugins {
        Plugins::Directory { dir, rescan, .. } => {
            let before_load = reload::stamps(&dir, trust);
            let loaded = host.load_plugins(&dir)?;
            reload::spawn(Arc::clone(&host), dir.clone(), before_load, rescan)
                .context("cannot start watching the plugins directory")?;
            if loaded == 0 {
                tracing::warn!(
                    "no plugin loaded from {}: Kong will get errors for every plugin it asks for",
                    dir.display()
                );
            }
            loaded
        }
        Plugins::Builtin(plugin) => {
            let plugin = host.registry.serve_builtin(*plugin)?;
            crate::registry::log_loaded(&plugin);
            1
        }
    };
    if armed.parent_gone() {
        tracing::info!("the parent process exited while plugins loaded: not serving");
        return Ok(());
    }
    let open_files = crate::workers::sizing::raise_open_files();
    // Before Kong's socket: see `takeover::bind`.
    let takeover_listener = takeover::bind(socket_path)
        .inspect_err(|e| {
            tracing::debug!("no hand-over socket beside {}: {e}", socket_path.display())
        })
        .ok();
    let (listener, bound, handed_listeners) = match given {
        Some(given) => {
            let bound = socket::BoundSocket::adopt(socket_path, given.identity);
            (given.socket, bound, None)
        }
        None => {
            let (listener, bound) = socket::bind(socket_path, flags.socket_access()?)?;
            let listener = OwnedFd::from(listener);
            let handed = Listeners {
                socket: listener.try_clone()?,
                identity: bound.identity(),
                metrics: endpoint.as_ref().map(|e| e.listener()).transpose()?,
            };
            (listener, bound, Some(handed))
        }
    };
    let (stop_tx, mut stop_rx) = watch::channel(Stop::Serving);
    // Told to stop, the server still accepts for a while (see `until_quiet`): apart.
    let (accepting_tx, accepting_rx) = watch::channel(false);
    let server = Server::start(Arc::clone(&host), listener, accepting_rx)
        .context("cannot start the worker threads")?;
    let on_handed = {
        let server = Arc::clone(&server);
        move |message| handed(&server, message)
    };
    link.listen(on_handed.clone())
        .context("cannot listen to the supervisor")?;
    link.ready(handed_listeners)
        .context("cannot tell the supervisor this engine serves")?;
    // What a server this one took the socket over from hands on comes here.
    if let Some(listener) = takeover_listener
        && let Err(e) = takeover::serve(listener, on_handed)
    {
        tracing::warn!("cannot serve the hand-over socket: {e}");
    }
    if let Some(metrics) = metrics {
        metrics.live.watch(Arc::clone(&server.pool) as _);
    }
    tracing::info!(
        socket = %bound.path().display(),
        plugins = loaded,
        threads = server.pool.count(),
        max_threads = host.settings.max_threads,
        open_files,
        "listening"
    );
    if let Some(pid) = predecessor {
        tracing::info!(
            pid,
            "took the socket over: the previous server keeps its connections and finishes their events"
        );
    }

    armed.watch(stop_tx);
    let ttl = host.settings.instance_ttl;
    let mut collect =
        tokio::time::interval((ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(60)));
    collect.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while *stop_rx.borrow() == Stop::Serving {
        tokio::select! {
            changed = stop_rx.changed() => if changed.is_err() { break },
            _ = collect.tick() => {
                let collected = host.instances.collect_idle(ttl);
                if collected > 0 {
                    tracing::info!(collected, "collected idle instances");
                }
            }
        }
    }
    let deadline = tokio::time::Instant::now() + flags.shutdown_grace();
    // Drained, a new engine already accepts on the same socket: this one stops at once.
    let draining = *stop_rx.borrow() == Stop::Drain;
    // Also when the parent is gone: at a reload Kong's old worker exits, and its requests
    // may already come through the new workers' connections to this server.
    let superseded = draining || until_quiet(&server, deadline, || !bound.is_ours()).await;
    let _ = accepting_tx.send(true);
    server.stop_accepting();
    if superseded {
        // Kong's workers still finishing requests send their next events over the
        // connections they have: handed to the engine or server that took over (through the
        // supervisor at an upgrade, its hand-over socket at a reload), else served until they
        // stop.
        let successor = if draining {
            tracing::info!("a new engine serves: handing the connections on, finishing the events");
            link.channel()
        } else {
            tracing::info!("another server took the socket over: finishing the events");
            takeover::connect(socket_path)
        };
        let handing = match successor.and_then(|channel| hand_over(&server, channel)) {
            Ok(()) => true,
            Err(e) => {
                tracing::info!("the connections stay here: the successor takes none ({e})");
                false
            }
        };
        // Idle connections go at once; one a worker answered on its own, or one busy now,
        // at its task's next idle moment or at the next sweep.
        until_quiet(&server, deadline, || {
            if handing {
                server.hand_on_idle();
            }
            false
        })
        .await;
    }
    wait_for_events(&server.pool, deadline).await;
    if draining {
        tracing::info!(
            connections = server.handover.handed(),
            "handed Kong's connections to the new engine"
        );
        // The socket files are the new engine's now.
        if let Some(endpoint) = endpoint {
            endpoint.keep_file();
        }
    } else {
        if bound.is_ours() {
            takeover::remove(socket_path);
        }
        bound.remove_if_ours();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serves what the supervisor, or a server this one took the socket over from, hands over:
/// Kong's connections, and the links between an engine and the one replacing it.
fn handed(server: &Arc<Server>, message: Message) {
    match message {
        Message::Conn(conn) => {
            if !accept::adopt_handed(server, UnixStream::from(conn), false) {
                tracing::warn!("cannot serve a connection handed over: stopping");
            }
        }
        Message::Predecessor(link) => {
            if let Err(e) = server.handover.set_predecessor(link) {
                tracing::warn!("cannot reach the engine this one replaces: {e}");
            }
        }
        other => tracing::warn!("unexpected message handed over: {other:?}"),
    }
}

/// Once another engine or server has taken over: sends it, over `channel`, the link for the
/// Steps of the events this one still runs (this end served here, never handed on), and from
/// then on hands Kong's connections on there.
fn hand_over(server: &Server, channel: OwnedFd) -> std::io::Result<()> {
    let (here, there) = UnixStream::pair()?;
    supervisor::channel::send(
        std::os::fd::AsFd::as_fd(&channel),
        &Message::Predecessor(there.into()),
    )?;
    accept::adopt_handed(server, here, true);
    server.handover.start(channel);
    Ok(())
}

/// Waits until `done()`, or until nothing has happened for [`HANDOVER_IDLE`] (no event
/// running or started, no connection made), or `deadline`; true if `done()`.
///
/// Told to stop, the server first keeps accepting this way until another server has taken the
/// socket over: Kong's `kong reload` stops the old server and starts the new one in either
/// order, and stopped first, the old one would otherwise leave Kong nothing to connect to until
/// the new one binds, every request meanwhile going on without its plugins. Under load, events
/// keep it serving until the new one takes over; idle, it leaves at once, as nothing can fail.
async fn until_quiet(
    server: &Server,
    deadline: tokio::time::Instant,
    mut done: impl FnMut() -> bool,
) -> bool {
    let activity = || (server.accepted(), server.pool.started());
    let mut seen = activity();
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        if done() {
            return true;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return false;
        }
        let now_seen = activity();
        if server.pool.events() > 0 || now_seen != seen {
            quiet_since = now;
            seen = now_seen;
        } else if now - quiet_since >= HANDOVER_IDLE {
            return false;
        }
        tokio::time::sleep(HANDOVER_POLL).await;
    }
}

/// Gives the events until `deadline` for Kong to finish them (the connections are still
/// served meanwhile), then ends the rest.
async fn wait_for_events(workers: &Pool, deadline: tokio::time::Instant) {
    if workers.events() > 0 {
        tracing::info!(
            events = workers.events(),
            grace = ?deadline.saturating_duration_since(tokio::time::Instant::now()),
            "waiting for running events to finish"
        );
    }
    while workers.events() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut left = 0;
    let mut blocked = 0;
    for handle in workers.handles() {
        if handle.events() == 0 {
            continue;
        }
        let (tx, rx) = oneshot::channel();
        let end_all = Box::new(move || {
            let _ = tx.send(here().events.end_all());
        });
        if !handle.send(end_all) {
            continue;
        }
        match tokio::time::timeout(END_ALL_WAIT, rx).await {
            Ok(Ok(ended)) => left += ended,
            _ => blocked += 1,
        }
    }
    if left > 0 {
        tracing::warn!(events = left, "stopping with events Kong did not finish");
    }
    if blocked > 0 {
        tracing::warn!(
            threads = blocked,
            "stopping while handlers still run: they end with the process"
        );
    }
}
