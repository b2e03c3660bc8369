//! Serving: load the plugins, take the socket, answer Kong until told to stop, then leave
//! cleanly.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use tokio::sync::watch;

use crate::{
    cache::Cache,
    cli::Cli,
    host::{Host, Settings},
    lifecycle, reload,
    rpc::server::accept_loop,
    socket,
};

/// The directory under Kong's prefix where plugins are copied before loading.
pub const CACHE_DIR: &str = ".pluginhost-cache";

/// Runs the server until SIGTERM, SIGINT or the parent's death.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Handler threads block between PDK calls; allow many events in flight at once.
        .max_blocking_threads(4096)
        .thread_name("pluginhost")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(cli));
    // Handlers of abandoned events may still block; do not wait for them.
    runtime.shutdown_background();
    result
}

async fn serve(cli: &Cli) -> anyhow::Result<()> {
    let cache_dir = cli.kong_prefix.join(CACHE_DIR);
    let cache = Cache::open(&cache_dir)
        .with_context(|| format!("cannot prepare the plugin cache {}", cache_dir.display()))?;
    let host = Arc::new(Host::new(
        Settings {
            plugins_dir: cli.plugins_directory.clone(),
            event_timeout: cli.event_timeout(),
            instance_ttl: cli.instance_ttl(),
            policy: cli.policy(),
            schema_descriptions: !cli.no_descriptions,
            max_generations: cli.max_generations,
        },
        cache,
    ));
    // Plugins first, socket second: once Kong can connect, every plugin can answer.
    let before_load = reload::stamps(&cli.plugins_directory);
    let loaded = host.load_plugins(&cli.plugins_directory)?;
    reload::spawn(
        Arc::clone(&host),
        cli.plugins_directory.clone(),
        before_load,
        cli.rescan_interval(),
    )
    .context("cannot start watching the plugins directory")?;
    if loaded == 0 {
        tracing::warn!(
            "no plugin loaded from {}: Kong will get errors for every plugin it asks for",
            cli.plugins_directory.display()
        );
    }
    let (listener, bound) = socket::bind(&cli.socket_path())?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    tracing::info!(socket = %bound.path().display(), plugins = loaded, "listening");

    let (stop_tx, stop_rx) = watch::channel(false);
    lifecycle::watch(stop_tx)?;
    spawn_collectors(Arc::clone(&host), stop_rx.clone());
    accept_loop(Arc::clone(&host), listener, stop_rx).await;

    let grace = cli.shutdown_grace();
    wait_for_events(&host, grace).await;
    bound.remove_if_ours();
    tracing::info!("stopped");
    Ok(())
}

/// Reaps abandoned events and collects idle instances, each at a fraction of its timeout.
fn spawn_collectors(host: Arc<Host>, mut stop: watch::Receiver<bool>) {
    let events_every =
        (host.settings.event_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let instances_every =
        (host.settings.instance_ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut events_tick = tokio::time::interval(events_every);
        let mut instances_tick = tokio::time::interval(instances_every);
        loop {
            tokio::select! {
                _ = events_tick.tick() => {
                    host.events.reap();
                }
                _ = instances_tick.tick() => {
                    let collected = host.instances.collect_idle(host.settings.instance_ttl);
                    if collected > 0 {
                        tracing::info!(collected, "collected idle instances");
                    }
                }
                _ = stop.changed() => break,
            }
        }
    });
}

/// Gives running events up to `grace` to finish.
async fn wait_for_events(host: &Host, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    if host.events.live() > 0 {
        tracing::info!(
            events = host.events.live(),
            ?grace,
            "waiting for running events to finish"
        );
    }
    while host.events.live() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = host.events.live();
    if left > 0 {
        tracing::warn!(events = left, "stopping with events Kong did not finish");
    }
}
