//! The watchdog: every [`TICK`], it notices workers whose handler has run since its last look,
//! moves their connections (and the listening socket) to a worker that is free, and sends the
//! phase whose handler held the thread to idle workers from then on. It also collects idle
//! instances.

use std::{
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use super::Workers;

/// How often the watchdog looks. A handler that runs between two looks without a PDK call has
/// held its thread for at least this long; hello's stretches last microseconds.
pub const TICK: Duration = Duration::from_millis(1);

/// Starts the watchdog thread.
pub fn spawn(workers: Arc<Workers>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("pluginhost-watchdog".into())
        .spawn(move || watch(&workers))
        .map(drop)
}

fn watch(workers: &Arc<Workers>) {
    let host = Arc::clone(workers.host());
    let ttl = host.settings.instance_ttl;
    let collect_every = (ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
    let mut last_collect = Instant::now();
    // The stretch counter of each worker at the last look, and the stuck stretch already dealt
    // with.
    let mut seen: Vec<u64> = Vec::new();
    let mut handled: Vec<u64> = Vec::new();
    // With one thread there is nowhere to move anything: only collect.
    let single = workers.max == 1;
    let tick = if single { collect_every } else { TICK };
    loop {
        thread::sleep(tick);
        let handles = workers.handles();
        seen.resize(handles.len(), 0);
        handled.resize(handles.len(), 0);
        for handle in &handles {
            let i = handle.index;
            let stretch = handle.stretch();
            let stuck = !single && !stretch.is_multiple_of(2) && stretch == seen[i];
            seen[i] = stretch;
            if !stuck || handled[i] == stretch {
                continue;
            }
            handled[i] = stretch;
            if let Some((plugin, phase)) = handle.current()
                && plugin.pace.phase(phase).offload()
            {
                tracing::info!(
                    plugin = plugin.name(),
                    %phase,
                    "a {phase} handler ran over {TICK:?} without a PDK call: the other events \
                     go on on other threads, and this phase now runs on worker threads of its own"
                );
            }
            if workers.stopping() && workers.active() != i {
                continue;
            }
            match workers.replace_active(i) {
                Some(to) if to != i => {
                    let moved = workers.move_connections(i, to);
                    if moved > 0 {
                        tracing::debug!(from = i, to, moved, "moved connections off a busy worker");
                    }
                }
                _ => workers.log_bound("serving waits until the active worker's handler returns"),
            }
        }
        if last_collect.elapsed() >= collect_every {
            last_collect = Instant::now();
            let collected = host.instances.collect_idle(ttl);
            if collected > 0 {
                tracing::info!(collected, "collected idle instances");
            }
        }
    }
}
