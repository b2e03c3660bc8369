//! An engine replaced by another (an upgrade: see [`crate::supervisor`]) hands Kong's
//! connections over instead of closing them, and the engine that replaces it passes back the
//! Steps of the events the old one still runs.
//!
//! * **Old engine** ([`HandOver::start`]): each connection goes, at a moment it is idle (no
//!   request read and not answered, nothing buffered), to the supervisor, which gives it to the
//!   new engine: from its own task when it is done with a request, or from a sweep of the idle
//!   ones on their workers ([`super::Server::hand_on_idle`]). A connection is never closed under Kong, so no request Kong writes meanwhile
//!   is lost: its bytes wait in the socket for the new engine.
//! * **New engine**: it greets each connection handed to it with its `serverPid` (see
//!   [`super::accept`]), so Kong starts its instances there. A Step for an event it does not
//!   know goes to the old engine over the connection the supervisor made between them
//!   ([`Forwarder`]), and the answer comes back the same way.

use std::{
    os::{fd::OwnedFd, unix::net::UnixStream},
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
};

use abi_stable::std_types::RString;
use rmpv::Value;

use super::{conn::Conn, reply::ReplySender};
use crate::{
    bridge::Answer,
    op::{Done, Failure},
    supervisor::channel::{self, Message},
    wire::msgpack::{client::Client, message::map},
};

/// What the connections of a replaced engine, and the engine replacing it, share.
pub struct HandOver {
    /// Whether this engine hands its connections on; read on every request.
    is_on: AtomicBool,
    /// Connections handed on so far.
    handed: AtomicU64,
    /// The supervisor's channel, where handed connections go.
    channel: OnceLock<OwnedFd>,
    /// The engine this one replaces, while it runs events.
    predecessor: Mutex<Option<Forwarder>>,
    /// Whether there is one; read on every Step without the lock.
    forwards: AtomicBool,
}

impl Default for HandOver {
    fn default() -> Self {
        HandOver {
            is_on: AtomicBool::new(false),
            handed: AtomicU64::new(0),
            channel: OnceLock::new(),
            predecessor: Mutex::new(None),
            forwards: AtomicBool::new(false),
        }
    }
}

impl HandOver {
    /// From now on, every connection goes on `channel` to the supervisor once idle.
    pub fn start(&self, channel: OwnedFd) {
        let _ = self.channel.set(channel);
        self.is_on.store(true, Ordering::Release);
    }

    /// Whether connections are handed on.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.is_on.load(Ordering::Acquire)
    }

    /// Hands `conn`, idle now and claimed by the caller, to the supervisor; true if it went
    /// (this engine then forgets it without closing it under Kong: its task, woken, finds it
    /// handed and reads nothing).
    pub fn hand_on(&self, conn: &Conn) -> bool {
        if !self.is_on() || conn.stays() || conn.handed() {
            return false;
        }
        let Some(channel) = self.channel.get() else {
            return false;
        };
        let sent = conn.socket().and_then(|socket| {
            channel::send(std::os::fd::AsFd::as_fd(channel), &Message::Conn(socket))
        });
        match sent {
            Ok(()) => {
                conn.mark_handed();
                self.handed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!("cannot hand a connection on: {e}; serving it here");
                false
            }
        }
    }

    /// Connections handed on so far.
    pub fn handed(&self) -> u64 {
        self.handed.load(Ordering::Relaxed)
    }

    /// Passes the Steps of events this engine does not know to the engine over `link`.
    pub fn set_predecessor(&self, link: OwnedFd) -> std::io::Result<()> {
        let forwarder = Forwarder::start(UnixStream::from(link))?;
        *self.predecessor.lock().unwrap_or_else(|p| p.into_inner()) = Some(forwarder);
        self.forwards.store(true, Ordering::Release);
        Ok(())
    }

    /// Sends the Step of event `id` with `answer` to the engine this one replaces, whose
    /// answer goes to `reply`; gives them back when there is no such engine.
    pub fn forward(
        &self,
        id: u64,
        answer: Answer,
        reply: ReplySender,
    ) -> Result<(), (Answer, ReplySender)> {
        let predecessor = self.predecessor.lock().unwrap_or_else(|p| p.into_inner());
        match predecessor.as_ref() {
            Some(forwarder) => forwarder
                .steps
                .send((id, answer, reply))
                .map_err(|mpsc::SendError((_, answer, reply))| (answer, reply)),
            None => Err((answer, reply)),
        }
    }

    /// Whether Steps of unknown events go to an engine this one replaces.
    #[inline]
    pub fn forwards(&self) -> bool {
        self.forwards.load(Ordering::Acquire)
    }
}

/// The Steps for the engine this one replaces, sent in turn from a thread of their own.
pub struct Forwarder {
    steps: mpsc::Sender<(u64, Answer, ReplySender)>,
}

impl Forwarder {
    fn start(link: UnixStream) -> std::io::Result<Forwarder> {
        let mut client = Client::new(link)?;
        let (steps, queue) = mpsc::channel::<(u64, Answer, ReplySender)>();
        std::thread::Builder::new()
            .name("pluginhost-forward".into())
            .spawn(move || {
                for (id, answer, reply) in queue {
                    let (method, data) = match answer {
                        Ok(bytes) => (
                            "plugin.Step",
                            rmpv::decode::read_value(&mut bytes.as_slice()).unwrap_or(Value::Nil),
                        ),
                        Err(e) => (
                            "plugin.StepError",
                            Value::from(RString::into_string(e.message)),
                        ),
                    };
                    let param = map([("EventId", Value::from(id)), ("Data", data)]);
                    let outcome = client
                        .call(method, param)
                        .and_then(|value| crate::op::msgpack::progress_of(&value))
                        .map(Done::Event)
                        .map_err(|e| {
                            tracing::debug!(event = id, "the engine before this one: {e}");
                            Failure::Refused(e)
                        });
                    reply.send(outcome);
                }
            })?;
        Ok(Forwarder { steps })
    }
}
