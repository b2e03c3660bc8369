//! When to stop: SIGTERM, SIGINT or SIGHUP (Kong 3.x sends SIGTERM on worker exit), or the
//! parent's death (Kong 2.x relies on that). The parent is watched two ways: the kernel sends
//! us SIGTERM when it dies (`PR_SET_PDEATHSIG`), and a poll notices a changed parent pid for
//! the cases the signal misses. go-pluginserver tested `ppid == 1`, which never fires under a
//! sub-reaper.
//!
//! All of it is armed first thing, before any plugin loads: a parent that dies while plugins
//! load (which can take seconds) used to leave a server running forever, orphaned.

use std::time::Duration;

use rustix::process::{Pid, Signal, getppid, set_parent_process_death_signal};
use tokio::{
    signal::unix::{Signal as Stream, SignalKind, signal},
    sync::watch,
};

/// The reasons to stop, armed.
pub struct Armed {
    parent: Option<Pid>,
    term: Stream,
    int: Stream,
    hup: Stream,
}

/// Arms every reason to stop; call before anything else. From here on the signals are caught,
/// so none of them kills the process before it has cleaned up.
pub fn arm() -> std::io::Result<Armed> {
    let term = signal(SignalKind::terminate())?;
    let int = signal(SignalKind::interrupt())?;
    let hup = signal(SignalKind::hangup())?;
    let parent = getppid();
    if let Err(e) = set_parent_process_death_signal(Some(Signal::TERM)) {
        tracing::warn!("cannot ask to be signalled when the parent dies: {e}");
    }
    Ok(Armed {
        parent,
        term,
        int,
        hup,
    })
}

impl Armed {
    /// Whether the parent has exited since [`arm`].
    pub fn parent_gone(&self) -> bool {
        getppid() != self.parent
    }

    /// Sets `stop` to true on the first reason to stop.
    pub fn watch(self, stop: watch::Sender<bool>) {
        let Armed {
            parent,
            mut term,
            mut int,
            mut hup,
        } = self;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let reason = loop {
                tokio::select! {
                    _ = term.recv() => break "SIGTERM",
                    _ = int.recv() => break "SIGINT",
                    _ = hup.recv() => break "SIGHUP",
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
    }
}
