//! A connection from Kong, watched for readability only.
//!
//! A socket registered with epoll for writability too (as `tokio::net::UnixStream` registers
//! it) is woken every time the peer reads: the peer's read frees send-buffer space here, and
//! edge-triggered epoll reports that as an event. With Kong reading every response, that is one
//! useless wake-up of this thread per RPC. Registering for readability only cut the server's
//! CPU per hello event from 60 to 43 µs at one event in flight, and from 21 to 18 µs at 16
//! (`make bench`, same run). Responses are small and Kong reads them at once, so writes almost
//! always complete immediately; when the send buffer is full (Kong stopped reading), the
//! write registers a duplicate of the descriptor for writability for as long as it waits, so
//! a client that never reads costs no wake-up at all (polling every millisecond cost 43 % of
//! a core for 1000 such clients).

use std::{
    io::{self, Read, Write},
    os::unix::net::UnixStream,
};

use tokio::io::{Interest, unix::AsyncFd};

/// How much one read takes at most; Kong's requests are far smaller, except raw bodies.
const READ_CHUNK: usize = 16 * 1024;

/// A non-blocking Unix stream registered for readability only.
pub struct Stream {
    fd: AsyncFd<UnixStream>,
    /// Zeroed once: zeroing a chunk per read was a tenth of the server's CPU time.
    chunk: Box<[u8]>,
}

impl Stream {
    /// Registers `stream` (switched to non-blocking) with the runtime.
    pub fn new(stream: UnixStream) -> io::Result<Stream> {
        stream.set_nonblocking(true)?;
        // SAFETY: the stream owns its descriptor, which stays open and the same until the
        // AsyncFd, which owns the stream, is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(stream, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Stream {
            fd,
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
        })
    }

    /// Waits until the socket may have something to read.
    pub async fn readable(&self) -> io::Result<()> {
        // The readiness stays set until a read finds nothing ([`Stream::try_read`]).
        self.fd.readable().await.map(drop)
    }

    /// Appends what can be read now to `buf`: `Some(n)` bytes (0 at end of stream), or `None`
    /// when nothing is there.
    pub fn try_read(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        loop {
            let chunk = &mut self.chunk;
            match self
                .fd
                .try_io(Interest::READABLE, |fd| (&*fd).read(&mut chunk[..]))
            {
                Ok(n) => {
                    buf.extend_from_slice(&self.chunk[..n]);
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes all of `data`.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match self.fd.get_ref().write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Waits until the send buffer has room. The stream itself stays registered for
    /// readability only; epoll tells the duplicate apart, it being another descriptor.
    async fn writable(&self) -> io::Result<()> {
        let duplicate = self.fd.get_ref().try_clone()?;
        // SAFETY: `duplicate` owns its descriptor, which stays open and the same until the
        // AsyncFd that owns it is dropped at the end of this function.
        let waiter = unsafe { AsyncFd::register_with_interest(duplicate, Interest::WRITABLE) }
            .map_err(|e| e.into_parts().1)?;
        // Readiness also comes with a hang-up or an error; the next write reports it.
        drop(waiter.writable().await?);
        Ok(())
    }
}
