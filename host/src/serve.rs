//! The server's life: load the plugins, take the socket, start serving (see
//! [`crate::serving`]), and leave cleanly when told to stop. The reload watcher has a thread
//! of its own; this thread waits for signals, collects idle instances, and runs the shutdown.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use plugin_abi::schema::KongVersion;
use tokio::sync::{oneshot, watch};

use crate::{
    cache::Cache,
    cli::{Cli, ServeFlags},
    host::{Host, Settings},
    lifecycle,
    loader::{LoadedPlugin, trust::Trust},
    reload,
    serving::{Server, local::here},
    socket,
    workers::Pool,
};

/// The directory under Kong's prefix where plugins are copied before loading.
pub const CACHE_DIR: &str = ".pluginhost-cache";

/// How long a worker gets to end its events at the very end; one still running a handler then
/// is stopped with the process.
const END_ALL_WAIT: Duration = Duration::from_millis(200);

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
        dir: cli.plugins_directory.clone(),
        policy: cli.policy(),
        trust: cli.trust(),
        max_generations: cli.max_generations,
        rescan: cli.rescan_interval(),
    };
    serve_until_stopped(&cli.serve, &cli.socket_path(), cli.schema_kong(), plugins)
}

/// Serves `plugins` on `socket` with `flags` until SIGTERM, SIGINT or the parent's death,
/// schemas as Kong release `kong` reads them.
pub fn serve_until_stopped(
    flags: &ServeFlags,
    socket: &Path,
    kong: KongVersion,
    plugins: Plugins,
) -> anyhow::Result<()> {
    flags
        .protocol
        .check_kong(flags.kong_version)
        .map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(flags, socket, kong, plugins))
}

async fn serve(
    flags: &ServeFlags,
    socket_path: &Path,
    kong: KongVersion,
    plugins: Plugins,
) -> anyhow::Result<()> {
    let armed = lifecycle::arm().context("cannot watch for signals")?;
    // Before touching anything a running server uses: its cache, its socket.
    socket::refuse_if_live(socket_path)?;
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
            let cache_dir = flags.kong_prefix.join(CACHE_DIR);
            Some(Cache::open(&cache_dir, trust).map_err(|e| {
                anyhow::anyhow!("cannot use the plugin cache {}: {e}", cache_dir.display())
            })?)
        }
        Plugins::Builtin(_) => None,
    };
    let metrics = flags
        .metrics_listen
        .as_ref()
        .map(|_| crate::metrics::install());
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
            max_threads: u16::try_from(flags.max_threads()).unwrap_or(u16::MAX),
            thread_idle: flags.thread_idle(),
            limits: flags.limits(),
            max_buffered: flags.max_buffered(),
            max_events: flags.max_events(),
            trust,
            dialect: flags.protocol,
        },
        cache,
    ));
    // Before any plugin loads: an address that cannot be had stops the start, with nothing
    // done yet, and the refusals of the first load are counted.
    let _endpoint = match (&flags.metrics_listen, metrics) {
        (Some(listen), Some(metrics)) => {
            metrics.live.watch(Arc::clone(&host) as _);
            let bound = crate::metrics::endpoint::start(listen, metrics)
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
    let (listener, bound) = socket::bind(socket_path, flags.socket_access()?)?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let server = Server::start(Arc::clone(&host), listener.into(), stop_rx.clone())
        .context("cannot start the worker threads")?;
    if let Some(metrics) = metrics {
        metrics.live.watch(Arc::clone(&server.shared.pool) as _);
    }
    tracing::info!(
        socket = %bound.path().display(),
        plugins = loaded,
        threads = server.shared.pool.count(),
        max_threads = host.settings.max_threads,
        open_files,
        "listening"
    );

    armed.watch(stop_tx);
    let ttl = host.settings.instance_ttl;
    let mut collect =
        tokio::time::interval((ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(60)));
    collect.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*stop_rx.borrow() {
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
    server.shared.stop_accepting();
    wait_for_events(&server.shared.pool, flags.shutdown_grace()).await;
    bound.remove_if_ours();
    tracing::info!("stopped");
    Ok(())
}

/// Gives the events up to `grace` for Kong to finish them (the connections are still served
/// meanwhile), then ends the rest.
async fn wait_for_events(workers: &Pool, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    if workers.events() > 0 {
        tracing::info!(
            events = workers.events(),
            ?grace,
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
