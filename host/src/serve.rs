//! Serving: load the plugins, take the socket, answer Kong until told to stop, then leave
//! cleanly. Connections and handlers all run on this one thread (see [`crate::events`]);
//! the reload watcher has a thread of its own.

use std::{rc::Rc, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::sync::watch;

use crate::{
    cache::Cache,
    cli::Cli,
    host::{Host, Serving, Settings},
    lifecycle, reload,
    rpc::server::accept_loop,
    socket,
};

/// The directory under Kong's prefix where plugins are copied before loading.
pub const CACHE_DIR: &str = ".pluginhost-cache";

/// Runs the server until SIGTERM, SIGINT or the parent's death.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    tokio::task::LocalSet::new().block_on(&runtime, serve(cli))
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
            kong: cli.schema_kong(),
            max_generations: cli.max_generations,
            handler_stack: cli.handler_stack_kib as usize * 1024,
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
    let serving = Rc::new(Serving::new(Arc::clone(&host)));
    spawn_collectors(Rc::clone(&serving), stop_rx.clone());
    accept_loop(Rc::clone(&serving), listener, stop_rx).await;

    let grace = cli.shutdown_grace();
    wait_for_events(&serving, grace).await;
    bound.remove_if_ours();
    tracing::info!("stopped");
    Ok(())
}

/// Reaps abandoned events and collects idle instances, each at a fraction of its timeout.
fn spawn_collectors(serving: Rc<Serving>, mut stop: watch::Receiver<bool>) {
    let host = Arc::clone(&serving.host);
    let events_every =
        (host.settings.event_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let instances_every =
        (host.settings.instance_ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
    tokio::task::spawn_local(async move {
        let mut events_tick = tokio::time::interval(events_every);
        let mut instances_tick = tokio::time::interval(instances_every);
        loop {
            tokio::select! {
                _ = events_tick.tick() => {
                    serving.events.reap();
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

/// Gives suspended events up to `grace` for Kong to finish them (the connections are still
/// served meanwhile), then ends the rest.
async fn wait_for_events(serving: &Serving, grace: Duration) {
    let events = &serving.events;
    let deadline = tokio::time::Instant::now() + grace;
    if events.suspended() > 0 {
        tracing::info!(
            events = events.suspended(),
            ?grace,
            "waiting for running events to finish"
        );
    }
    while events.suspended() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = events.end_all();
    if left > 0 {
        tracing::warn!(events = left, "stopping with events Kong did not finish");
    }
}
