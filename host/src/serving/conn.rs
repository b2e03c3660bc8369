//! A connection from Kong, as the worker threads share it: it is served by one worker at a
//! time, its owner, and can be handed to another one.
//!
//! A worker serves a connection through its own duplicate of the socket, registered with its
//! own event loop. Handing the connection over is: claim it (only while its owner is not in the
//! middle of a request), write the new owner, send it to that worker. The old owner's task
//! sees it is no longer the owner the next time it wakes, and drops its duplicate. What was
//! read but not yet processed travels with the connection.

use std::{
    io,
    os::fd::OwnedFd,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use super::placement::Placement;
use crate::budget::{Budget, Buffer};
use rustix::{
    event::{PollFd, PollFlags, Timespec, poll},
    io::Errno,
};

/// How long [`Conn::write_all`] waits for a client that does not read.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// A connection from Kong.
pub struct Conn {
    socket: OwnedFd,
    /// The Kong worker process at the other end.
    pid: u32,
    placement: Arc<Placement>,
    owner: AtomicUsize,
    busy: AtomicBool,
    /// Never handed on to another engine (the link from the one replacing this one).
    stays: AtomicBool,
    /// Handed on to another engine: this one reads nothing more from it.
    handed: AtomicBool,
    /// Bytes read and not yet processed; touched only by whoever holds the claim.
    buf: Mutex<Buffer>,
}

impl Conn {
    /// A connection from process `pid`, placed by `placement` (which counts it), its
    /// unprocessed bytes counted against `budget`.
    pub fn new(
        socket: OwnedFd,
        pid: u32,
        placement: Arc<Placement>,
        serving: &[usize],
        budget: Arc<Budget>,
    ) -> Self {
        if let Some(metrics) = crate::metrics::get() {
            metrics.connection_opened();
        }
        let owner = placement.connect(pid, serving);
        Conn {
            socket,
            pid,
            placement,
            owner: AtomicUsize::new(owner),
            busy: AtomicBool::new(false),
            stays: AtomicBool::new(false),
            handed: AtomicBool::new(false),
            buf: Mutex::new(Buffer::new(budget)),
        }
    }

    /// Keeps it in this engine when the others are handed on (see [`super::handover`]).
    pub fn keep_here(&self) {
        self.stays.store(true, Ordering::Relaxed);
    }

    /// Whether it stays in this engine.
    pub fn stays(&self) -> bool {
        self.stays.load(Ordering::Relaxed)
    }

    /// Notes that another engine serves it now.
    pub fn mark_handed(&self) {
        self.handed.store(true, Ordering::Release);
    }

    /// Whether another engine serves it now.
    pub fn handed(&self) -> bool {
        self.handed.load(Ordering::Acquire)
    }

    /// A duplicate of the socket, for the worker that serves it now.
    pub fn socket(&self) -> std::io::Result<OwnedFd> {
        self.socket.try_clone()
    }

    /// The worker that serves it.
    pub fn owner(&self) -> usize {
        self.owner.load(Ordering::Acquire)
    }

    /// The worker that should serve it: the one its process is placed on.
    pub fn home(&self) -> usize {
        self.placement
            .worker_of(self.pid)
            .unwrap_or_else(|| self.owner())
    }

    /// Takes the claim: nobody else processes or moves the connection until [`Conn::release`].
    /// False when someone holds it.
    pub fn claim(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Gives the claim back.
    pub fn release(&self) {
        self.busy.store(false, Ordering::Release);
    }

    /// Hands the connection to worker `to`; the caller holds the claim.
    pub fn set_owner(&self, to: usize) {
        self.owner.store(to, Ordering::Release);
    }

    /// The unprocessed bytes, taken out for processing by the claim's holder.
    pub fn take_buf(&self) -> Buffer {
        let mut held = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let empty = held.empty_like();
        std::mem::replace(&mut *held, empty)
    }

    /// Puts back what is left unprocessed.
    pub fn put_buf(&self, buf: Buffer) {
        *self.buf.lock().unwrap_or_else(|p| p.into_inner()) = buf;
    }

    /// Writes `bytes` whole, from the thread holding the claim (any worker): the worker an
    /// event lives on answers its request itself. Waits while the client's buffer is full, at
    /// most `WRITE_WAIT` each time.
    pub fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match rustix::io::write(&self.socket, bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => {
                    let mut fds = [PollFd::new(&self.socket, PollFlags::OUT)];
                    let wait = Timespec {
                        tv_sec: WRITE_WAIT.as_secs() as i64,
                        tv_nsec: 0,
                    };
                    if poll(&mut fds, Some(&wait))? == 0 {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.placement.disconnect(self.pid);
        if let Some(metrics) = crate::metrics::get() {
            metrics.connection_closed();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn a_claimed_connection_cannot_be_claimed_twice() {
        let (a, _b) = UnixStream::pair().unwrap();
        let placement = Arc::new(Placement::default());
        let conn = Conn::new(
            a.into(),
            42,
            Arc::clone(&placement),
            &[0],
            Budget::new(1024),
        );
        assert_eq!((conn.owner(), conn.home()), (0, 0));
        assert!(conn.claim());
        assert!(!conn.claim());
        conn.set_owner(3);
        let mut buf = conn.take_buf();
        buf.bytes.extend_from_slice(b"partial");
        conn.put_buf(buf);
        conn.release();
        assert!(conn.claim());
        assert_eq!(conn.owner(), 3);
        assert_eq!(conn.take_buf().bytes, b"partial");
        assert!(conn.take_buf().bytes.is_empty());
        drop(conn);
        assert_eq!(
            placement.worker_of(42),
            None,
            "forgotten with its connection"
        );
    }
}
