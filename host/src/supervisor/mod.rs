//! Supervision: the process Kong starts holds the listening sockets and runs the engine — the
//! server proper ([`crate::serve`]) — as a child, so that a crash costs only the events in
//! flight and the server's code can be replaced under the same pid.
//!
//! * **A crash.** A plugin that aborts or faults ends only the engine. The sockets stay open in
//!   the supervisor (Kong's next connections wait in the backlog, none is refused) and a new
//!   engine serves on them at once. It announces its own pid as `serverPid`, so Kong starts its
//!   instances anew there, and its ids start at a fresh random point (see [`crate::ids`]). The
//!   engine's crash hook ([`crash`]) names the plugin whose code crashed; the supervisor logs
//!   it and hands the count to the next engine, which serves it as
//!   `pluginhost_engine_crashes_total`.
//! * **An upgrade** (SIGUSR2). The supervisor executes the binary again in place, the same pid,
//!   keeping the sockets open across the exec ([`HANDOFF_ENV`]); the new code starts a new
//!   engine on them, and once it serves, tells the old engine to drain (SIGUSR2): it stops
//!   accepting and hands each of Kong's connections on, at a moment it is idle, through the
//!   supervisor to the new engine, which greets it with its `serverPid` (Kong then starts its
//!   instances there). The Steps of events the old engine still runs may arrive at the new
//!   one: it passes them over a connection the old one sent first (`predecessor`). The old
//!   engine leaves when its events are done and its connections handed on; nothing is closed
//!   under Kong.
//! * **A stop** (SIGTERM, SIGINT, SIGHUP, the parent's death) goes on to the engines, which
//!   stop as a server always has; the supervisor leaves after them.
//!
//! What it does not cover: the supervisor itself. It runs no plugin code, and nothing on the
//! path of an event; a supervisor killed is the server killed, as before (its engine dies with
//! it, and Kong starts another server).

pub mod channel;
pub mod crash;
pub mod engine;

use std::{
    collections::{BTreeMap, HashMap},
    ffi::OsString,
    os::{
        fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
        unix::process::CommandExt,
    },
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::Context;
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use tokio::sync::{mpsc, watch};

use crate::lifecycle::{self, Stop};
use channel::{Listeners, Message};

/// Set by the supervisor in its engine's environment: the engine's role ([`Role`]).
pub const ROLE_ENV: &str = "PLUGINHOST_ENGINE";

/// Set by the supervisor for its engine and across an upgrade's exec: the crashes counted so
/// far, `PLUGIN=N` joined by commas (an empty name: outside any plugin's code).
pub const CRASHES_ENV: &str = "PLUGINHOST_CRASHES";

/// Set across an upgrade's exec: `SOCKET_FD DEV INO METRICS_FD|- ENGINE_PID CHANNEL_FD`, the
/// sockets kept open, the engine serving on them and the channel to it.
pub const HANDOFF_ENV: &str = "PLUGINHOST_HANDOFF";

/// How long a supervisor waits before starting an engine again when the last one exited before
/// it served (a start that fails every time must not spin).
const RETRY_AFTER_FAILED_START: Duration = Duration::from_secs(1);

/// What an engine is told to do with the sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Bind them (the first engine: the socket is taken over as a server always did).
    Bind,
    /// They come over the channel.
    Given,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Bind => "bind",
            Role::Given => "given",
        }
    }

    fn parse(text: &str) -> Option<Role> {
        match text {
            "bind" => Some(Role::Bind),
            "given" => Some(Role::Given),
            _ => None,
        }
    }
}

/// The crashes counted so far, by plugin.
pub fn crashes_from_env() -> BTreeMap<String, u64> {
    parse_crashes(&std::env::var(CRASHES_ENV).unwrap_or_default())
}

fn parse_crashes(text: &str) -> BTreeMap<String, u64> {
    text.split(',')
        .filter_map(|item| item.rsplit_once('='))
        .filter_map(|(plugin, count)| Some((plugin.to_owned(), count.parse().ok()?)))
        .collect()
}

fn crashes_text(crashes: &BTreeMap<String, u64>) -> String {
    let items: Vec<String> = crashes.iter().map(|(p, n)| format!("{p}={n}")).collect();
    items.join(",")
}

/// An engine this supervisor watches.
#[derive(Debug, Clone, Copy)]
struct Engine {
    pid: Pid,
    ready: bool,
}

/// What the engines' watcher threads report.
enum Report {
    Message(Pid, Message),
    Exited(Pid, Option<WaitStatus>),
}

/// The supervisor's state.
struct Supervisor {
    exe: PathBuf,
    args: Vec<OsString>,
    listeners: Option<Listeners>,
    crashes: BTreeMap<String, u64>,
    reports: mpsc::UnboundedSender<Report>,
    /// The supervisor's end of each live engine's channel, to send on.
    channels: HashMap<Pid, OwnedFd>,
}

/// Supervises engines of this program until told to stop; `Ok` once they have stopped.
pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Engines are spawned from this thread, which lives as long as the process: the kernel
    // signals a child when the thread that forked it exits (PR_SET_PDEATHSIG).
    runtime.block_on(supervise())
}

async fn supervise() -> anyhow::Result<()> {
    let armed = lifecycle::arm(Signal::TERM).context("cannot watch for signals")?;
    let exe = std::env::current_exe().context("cannot find this program's file")?;
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let mut me = Supervisor {
        exe,
        args: std::env::args_os().skip(1).collect(),
        listeners: None,
        crashes: crashes_from_env(),
        reports: reports_tx,
        channels: HashMap::new(),
    };
    // An upgrade's new code: the sockets and the engine serving on them come from the code
    // before.
    let mut draining: Vec<Pid> = Vec::new();
    let mut served = false;
    // The engine an upgrade replaces: drained once `current` serves, kept if it never does.
    let mut previous: Option<Engine> = None;
    if let Some(handoff) = std::env::var_os(HANDOFF_ENV) {
        let (listeners, engine, channel) = take_handoff(&handoff.to_string_lossy())?;
        me.listeners = Some(listeners);
        me.watch_exit(engine);
        me.watch_messages(engine, channel)?;
        previous = Some(Engine {
            pid: engine,
            ready: true,
        });
        served = true;
        tracing::info!(
            engine = engine.as_raw_nonzero().get(),
            "upgraded: starting an engine of the new code"
        );
    }
    let (stop_tx, mut stop_rx) = watch::channel(Stop::Serving);
    armed.watch(stop_tx);
    let mut current = me.spawn()?;
    let mut last_crash: HashMap<Pid, String> = HashMap::new();
    let mut upgrade_when_ready = false;
    loop {
        tokio::select! {
            changed = stop_rx.changed() => {
                if changed.is_err() {
                    break;
                }
                match *stop_rx.borrow_and_update() {
                    Stop::Serving => {}
                    Stop::Drain if current.ready => me.upgrade(current.pid),
                    Stop::Drain => {
                        tracing::info!("SIGUSR2: upgrading once the engine starting now serves");
                        upgrade_when_ready = true;
                    }
                    Stop::Stop => break,
                }
            }
            Some(report) = reports.recv() => match report {
                Report::Message(pid, Message::Ready(bound)) if pid == current.pid => {
                    current.ready = true;
                    served = true;
                    if me.listeners.is_none() {
                        me.listeners = bound;
                    }
                    if let Some(Engine { pid: old, .. }) = previous.take() {
                        tracing::info!(
                            old = old.as_raw_nonzero().get(),
                            new = pid.as_raw_nonzero().get(),
                            "the new engine serves: the old one hands its connections on, \
                             finishes its events and leaves"
                        );
                        let _ = rustix::process::kill_process(old, Signal::USR2);
                        draining.push(old);
                    }
                    if std::mem::take(&mut upgrade_when_ready) {
                        me.upgrade(pid);
                    }
                }
                Report::Message(pid, Message::Crash(plugin)) => {
                    last_crash.insert(pid, plugin);
                }
                Report::Message(pid, message @ (Message::Conn(_) | Message::Predecessor(_)))
                    if pid != current.pid =>
                {
                    me.send(current.pid, &message);
                }
                Report::Message(pid, message) => tracing::warn!(
                    engine = pid.as_raw_nonzero().get(),
                    "unexpected message from an engine: {message:?}"
                ),
                Report::Exited(pid, status) if pid == current.pid => {
                    me.channels.remove(&pid);
                    let crashed_in = last_crash.remove(&pid);
                    if !current.ready {
                        // An upgrade whose engine could not start: the old one serves on.
                        if let Some(old) = previous.take() {
                            tracing::error!(
                                status = %describe(status),
                                "the upgrade's engine exited before serving: the old engine serves on"
                            );
                            current = old;
                            continue;
                        }
                        if !served {
                            anyhow::bail!("the engine exited ({}) before serving", describe(status));
                        }
                        tracing::error!(
                            status = %describe(status),
                            "the engine exited before serving: starting another in {:?}",
                            RETRY_AFTER_FAILED_START
                        );
                        tokio::time::sleep(RETRY_AFTER_FAILED_START).await;
                    } else {
                        me.count_crash(pid, status, crashed_in);
                    }
                    current = me.spawn()?;
                }
                Report::Exited(pid, _) => {
                    me.channels.remove(&pid);
                    draining.retain(|&p| p != pid);
                    previous = previous.filter(|e| e.pid != pid);
                    last_crash.remove(&pid);
                }
            }
        }
    }
    // Told to stop: every engine stops as a server does, and the supervisor leaves after them.
    let mut left: Vec<Pid> = draining;
    left.push(current.pid);
    for &pid in &left {
        let _ = rustix::process::kill_process(pid, Signal::TERM);
    }
    while !left.is_empty() {
        match reports.recv().await {
            Some(Report::Exited(pid, _)) => left.retain(|&p| p != pid),
            // A draining engine's connections still go to the one serving, which finishes
            // what Kong sends on them before it stops.
            Some(Report::Message(pid, message @ (Message::Conn(_) | Message::Predecessor(_))))
                if pid != current.pid =>
            {
                me.send(current.pid, &message);
            }
            Some(Report::Message(..)) => {}
            None => break,
        }
    }
    Ok(())
}

impl Supervisor {
    /// Starts an engine of this program, on the sockets held if there are any.
    fn spawn(&mut self) -> anyhow::Result<Engine> {
        let (mine, theirs) = channel::pair().context("cannot make the engine's channel")?;
        let role = if self.listeners.is_some() {
            Role::Given
        } else {
            Role::Bind
        };
        let child = Command::new(&self.exe)
            .args(&self.args)
            .env(ROLE_ENV, role.as_str())
            .env(CRASHES_ENV, crashes_text(&self.crashes))
            .env_remove(HANDOFF_ENV)
            .stdin(Stdio::from(theirs))
            .spawn()
            .with_context(|| format!("cannot start an engine ({})", self.exe.display()))?;
        let pid = Pid::from_child(&child);
        // The watcher reaps it; a Child dropped is neither killed nor waited for.
        drop(child);
        if let Some(listeners) = &self.listeners {
            let copies = listeners
                .try_clone()
                .context("cannot copy the listening sockets")?;
            channel::send(mine.as_fd(), &Message::Listen(copies))
                .context("cannot hand the engine its sockets")?;
        }
        self.watch_messages(pid, mine)?;
        self.watch_exit(pid);
        tracing::debug!(engine = pid.as_raw_nonzero().get(), "engine started");
        Ok(Engine { pid, ready: false })
    }

    /// Sends `message` to engine `pid`; a message that cannot go is logged and dropped (a
    /// connection in it is then closed).
    fn send(&self, pid: Pid, message: &Message) {
        let sent = match self.channels.get(&pid) {
            Some(channel) => channel::send(channel.as_fd(), message),
            None => Err(std::io::Error::other("no channel to it")),
        };
        if let Err(e) = sent {
            tracing::warn!(
                engine = pid.as_raw_nonzero().get(),
                "cannot send {message:?} to an engine: {e}"
            );
        }
    }

    /// Reports `pid`'s messages until its channel closes; keeps a copy of the channel to send
    /// on.
    fn watch_messages(&mut self, pid: Pid, channel: OwnedFd) -> anyhow::Result<()> {
        self.channels.insert(
            pid,
            channel
                .try_clone()
                .context("cannot copy the engine's channel")?,
        );
        let reports = self.reports.clone();
        let spawned = channel::listen("pluginhost-watch", channel, move |message| {
            let _ = reports.send(Report::Message(pid, message));
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch the engine's channel: {e}");
        }
        Ok(())
    }

    /// Reports `pid`'s exit (a child of this process).
    fn watch_exit(&self, pid: Pid) {
        let reports = self.reports.clone();
        let spawned = std::thread::Builder::new()
            .name("pluginhost-reap".into())
            .spawn(move || {
                let status = loop {
                    match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
                        Ok(found) => break found.map(|(_, status)| status),
                        Err(rustix::io::Errno::INTR) => {}
                        Err(_) => break None,
                    }
                };
                let _ = reports.send(Report::Exited(pid, status));
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch the engine's exit: {e}");
        }
    }

    /// Logs and counts the end of a serving engine, which Kong did not ask for.
    fn count_crash(&mut self, pid: Pid, status: Option<WaitStatus>, plugin: Option<String>) {
        let plugin = plugin.unwrap_or_default();
        *self.crashes.entry(plugin.clone()).or_default() += 1;
        let pid = pid.as_raw_nonzero().get();
        let status = describe(status);
        if plugin.is_empty() {
            tracing::error!(
                engine = pid,
                %status,
                "the engine ended outside any plugin's code: its events in flight failed; a new engine serves"
            );
        } else {
            tracing::error!(
                engine = pid,
                %status,
                plugin,
                "plugin {plugin} crashed the engine: its events in flight failed; a new engine serves"
            );
        }
    }

    /// Executes this program's file again in place, handing it the sockets and `engine`. Only
    /// returns if the exec failed, having logged why.
    fn upgrade(&self, engine: Pid) {
        let (Some(listeners), Some(channel)) = (&self.listeners, self.channels.get(&engine)) else {
            tracing::warn!("SIGUSR2: no sockets to hand over yet");
            return;
        };
        let keep: Vec<_> = [&listeners.socket, channel]
            .into_iter()
            .chain(listeners.metrics.as_ref())
            .collect();
        for fd in &keep {
            let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty());
        }
        let (dev, ino) = listeners.identity;
        let metrics = listeners
            .metrics
            .as_ref()
            .map_or_else(|| "-".to_owned(), |fd| fd.as_raw_fd().to_string());
        let handoff = format!(
            "{} {dev} {ino} {metrics} {} {}",
            listeners.socket.as_raw_fd(),
            engine.as_raw_nonzero().get(),
            channel.as_raw_fd()
        );
        tracing::info!(exe = %self.exe.display(), "SIGUSR2: upgrading in place");
        let error = Command::new(&self.exe)
            .args(&self.args)
            .env(HANDOFF_ENV, handoff)
            .env(CRASHES_ENV, crashes_text(&self.crashes))
            .env_remove(ROLE_ENV)
            .exec();
        for fd in &keep {
            let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
        }
        tracing::error!(
            exe = %self.exe.display(),
            "cannot upgrade: {error}; this code serves on"
        );
    }
}

/// The sockets, the engine and its channel an upgrade's exec handed over.
fn take_handoff(text: &str) -> anyhow::Result<(Listeners, Pid, OwnedFd)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let bad = || anyhow::anyhow!("{HANDOFF_ENV}={text:?} is not what an upgrade hands over");
    let [socket, dev, ino, metrics, engine, channel] = words[..] else {
        return Err(bad());
    };
    let number = |w: &str| w.parse::<i32>().map_err(|_| bad());
    let inherited = |fd: i32| -> anyhow::Result<OwnedFd> {
        // SAFETY: the fcntl only asks whether `fd` is open; it takes no ownership.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        rustix::io::fcntl_getfd(borrowed).map_err(|e| anyhow::anyhow!("fd {fd}: {e}"))?;
        // SAFETY: the code before the exec left `fd` open for this process alone and named it
        // in the handoff; nothing else here owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
        Ok(owned)
    };
    let listeners = Listeners {
        socket: inherited(number(socket)?)?,
        identity: (
            dev.parse().map_err(|_| bad())?,
            ino.parse().map_err(|_| bad())?,
        ),
        metrics: match metrics {
            "-" => None,
            fd => Some(inherited(number(fd)?)?),
        },
    };
    let engine = Pid::from_raw(number(engine)?).ok_or_else(bad)?;
    let channel = inherited(number(channel)?)?;
    Ok((listeners, engine, channel))
}

/// An engine's end, in words.
fn describe(status: Option<WaitStatus>) -> String {
    let Some(status) = status else {
        return "unknown status".to_owned();
    };
    if let Some(signal) = status.terminating_signal() {
        let name = match signal {
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGSEGV => " (SIGSEGV)",
            libc::SIGBUS => " (SIGBUS)",
            libc::SIGILL => " (SIGILL)",
            libc::SIGFPE => " (SIGFPE)",
            libc::SIGKILL => " (SIGKILL)",
            libc::SIGTERM => " (SIGTERM)",
            _ => "",
        };
        return format!("killed by signal {signal}{name}");
    }
    match status.exit_status() {
        Some(code) => format!("exit status {code}"),
        None => format!("status {:#x}", status.as_raw()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_counts_cross_the_environment_as_written() {
        let mut crashes = BTreeMap::new();
        crashes.insert("panicky".to_owned(), 3);
        crashes.insert(String::new(), 1);
        let text = crashes_text(&crashes);
        assert_eq!(text, "=1,panicky=3");
        assert_eq!(parse_crashes(&text), crashes);
        assert!(parse_crashes("").is_empty());
    }

    #[test]
    fn a_bad_handoff_is_refused_by_name() {
        let err = take_handoff("3 1 2").unwrap_err().to_string();
        assert!(err.contains(HANDOFF_ENV), "{err}");
    }
}
