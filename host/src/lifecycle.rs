//! When to stop: SIGTERM or SIGINT (Kong 3.x sends SIGTERM on worker exit), or the parent's
//! death (Kong 2.x relies on that). The parent is watched two ways: the kernel sends us SIGTERM
//! when it dies (`PR_SET_PDEATHSIG`), and a poll notices a changed parent pid for the cases the
//! signal misses. go-pluginserver tested `ppid == 1`, which never fires under a sub-reaper.

use std::time::Duration;

use rustix::process::{Signal, getppid, set_parent_process_death_signal};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
};

/// Watches for every reason to stop and sets `stop` to true on the first one.
pub fn watch(stop: watch::Sender<bool>) -> std::io::Result<()> {
    let parent = getppid();
    if let Err(e) = set_parent_process_death_signal(Some(Signal::TERM)) {
        tracing::warn!("cannot ask to be signalled when the parent dies: {e}");
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let reason = loop {
            tokio::select! {
                _ = term.recv() => break "SIGTERM",
                _ = int.recv() => break "SIGINT",
                _ = tick.tick() => {
                    // The signal is lost if the parent died before it was armed: poll too.
                    if getppid() != parent {
                        break "the parent process exited";
                    }
                }
            }
        };
        tracing::info!("{reason}: shutting down");
        let _ = stop.send(true);
    });
    Ok(())
}
