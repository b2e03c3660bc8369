//! When to stop: SIGTERM, SIGINT or SIGHUP (Kong 3.x sends SIGTERM on worker exit), or the
//! parent's death (Kong 2.x relies on that); and when to hand over to new code: SIGUSR2 (an
//! upgrade to the supervisor, the word to drain to an engine: see [`crate::supervisor`]). The parent is watched two ways: the kernel sends
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

/// What the signals asked for so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Nothing: serve on.
    Serving,
    /// SIGUSR2: hand over to new code (sent each time it comes).
    Drain,
    /// Stop.
    Stop,
}

/// The reasons to stop, armed.
pub struct Armed {
    parent: Option<Pid>,
    term: Stream,
    int: Stream,
    hup: Stream,
    usr2: Stream,
}

/// Arms every reason to stop; call before anything else. From here on the signals are caught,
/// so none of them kills the process before it has cleaned up. The parent's death sends
/// `on_parent_death`: SIGTERM to the process Kong starts (it stops as on Kong's SIGTERM),
/// SIGKILL to an engine (killed, the supervisor takes its engine along, as SIGKILL took the
/// server before there was a supervisor).
pub fn arm(on_parent_death: Signal) -> std::io::Result<Armed> {
    let term = signal(SignalKind::terminate())?;
    let int = signal(SignalKind::interrupt())?;
    let hup = signal(SignalKind::hangup())?;
    let usr2 = signal(SignalKind::user_defined2())?;
    let parent = getppid();
    if let Err(e) = set_parent_process_death_signal(Some(on_parent_death)) {
        tracing::warn!("cannot ask to be signalled when the parent dies: {e}");
    }
    Ok(Armed {
        parent,
        term,
        int,
        hup,
        usr2,
    })
}

impl Armed {
    /// Whether the parent has exited since [`arm`].
    pub fn parent_gone(&self) -> bool {
        getppid() != self.parent
    }

    /// Sets `stop` to [`Stop::Stop`] on the first reason to stop, and to [`Stop::Drain`] on
    /// each SIGUSR2 before.
    pub fn watch(self, stop: watch::Sender<Stop>) {
        let Armed {
            parent,
            mut term,
            mut int,
            mut hup,
            mut usr2,
        } = self;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let reason = loop {
                tokio::select! {
                    _ = term.recv() => break "SIGTERM",
                    _ = int.recv() => break "SIGINT",
                    _ = hup.recv() => break "SIGHUP",
                    _ = usr2.recv() => {
                        tracing::debug!("SIGUSR2");
                        stop.send_replace(Stop::Drain);
                    }
                    _ = tick.tick() => {
                        // The signal is lost if the parent died before it was armed: poll too.
                        if getppid() != parent {
                            break "the parent process exited";
                        }
                    }
                }
            };
            tracing::info!("{reason}: shutting down");
            let _ = stop.send(Stop::Stop);
        });
    }
}
