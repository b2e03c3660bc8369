//! The channel between the supervisor and its engine: a Unix socket pair of the `SEQPACKET`
//! kind (each message arrives whole, with the descriptors sent along with it), the engine's end
//! on its standard input.
//!
//! Each message is a line of text:
//!
//! * `listen DEV INO [metrics]` — supervisor to engine, right after the start: serve on these
//!   listening sockets (Kong's socket, whose file is DEV/INO, and the metrics endpoint's) instead
//!   of binding;
//! * `ready [DEV INO [metrics]]` — engine to supervisor, once it serves; with the sockets it
//!   bound itself, for the engines after it;
//! * `predecessor` — from a draining engine first, through the supervisor to the engine
//!   serving now: a connection to the draining one, where the Steps of events the new one does
//!   not know go;
//! * `conn` — a Kong connection: from a draining engine at a moment it is idle, through the
//!   supervisor to the engine serving now (the same two also come over a server's hand-over
//!   socket at a reload: see [`crate::takeover`]);
//! * `crash [PLUGIN]` — engine to supervisor, from a fatal signal's handler (see
//!   [`crate::supervisor::crash`]): the plugin whose code ran on the thread that crashed, if
//!   any did.

use std::{
    io::{IoSlice, IoSliceMut},
    mem::MaybeUninit,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// The longest message: a plugin name is far shorter.
const MAX_MESSAGE: usize = 512;

/// The listening sockets the supervisor holds across engines.
#[derive(Debug)]
pub struct Listeners {
    /// Kong's socket.
    pub socket: OwnedFd,
    /// The device and inode of its file, to tell whether the path is still this socket.
    pub identity: (u64, u64),
    /// The metrics endpoint, with `-metrics-listen`.
    pub metrics: Option<OwnedFd>,
}

impl Listeners {
    /// Copies of the descriptors, to hand on while keeping these.
    pub fn try_clone(&self) -> std::io::Result<Listeners> {
        Ok(Listeners {
            socket: self.socket.try_clone()?,
            identity: self.identity,
            metrics: self.metrics.as_ref().map(OwnedFd::try_clone).transpose()?,
        })
    }

    /// The message's words after its verb, and the descriptors to send with it.
    fn words(&self) -> (String, Vec<BorrowedFd<'_>>) {
        let (dev, ino) = self.identity;
        let mut fds = vec![self.socket.as_fd()];
        let mut text = format!("{dev} {ino}");
        if let Some(metrics) = &self.metrics {
            text.push_str(" metrics");
            fds.push(metrics.as_fd());
        }
        (text, fds)
    }

    /// Reads them back from `words` and the descriptors that came with them.
    fn parse(words: &[&str], fds: Vec<OwnedFd>) -> Result<Listeners, String> {
        let mut fds = fds.into_iter();
        let number = |word: Option<&&str>| word.and_then(|w| w.parse::<u64>().ok());
        let (Some(dev), Some(ino)) = (number(words.first()), number(words.get(1))) else {
            return Err(format!("no socket identity in {words:?}"));
        };
        let socket = fds
            .next()
            .ok_or("no socket descriptor came with the message")?;
        let metrics = match words.get(2) {
            Some(&"metrics") => Some(fds.next().ok_or("no metrics descriptor came")?),
            _ => None,
        };
        Ok(Listeners {
            socket,
            identity: (dev, ino),
            metrics,
        })
    }
}

/// What one side tells the other.
#[derive(Debug)]
pub enum Message {
    /// Serve on these.
    Listen(Listeners),
    /// Serving now; with the sockets the engine bound itself.
    Ready(Option<Listeners>),
    /// A Kong connection to serve.
    Conn(OwnedFd),
    /// The connection to the engine this one replaces.
    Predecessor(OwnedFd),
    /// The engine crashed while this plugin's code ran (empty: outside any plugin's code).
    Crash(String),
}

/// A connected pair: the supervisor's end and the engine's.
pub fn pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Sends `message` on `channel`.
pub fn send(channel: BorrowedFd<'_>, message: &Message) -> std::io::Result<()> {
    let (text, fds) = match message {
        Message::Listen(listeners) => {
            let (words, fds) = listeners.words();
            (format!("listen {words}"), fds)
        }
        Message::Ready(None) => ("ready".to_owned(), Vec::new()),
        Message::Ready(Some(listeners)) => {
            let (words, fds) = listeners.words();
            (format!("ready {words}"), fds)
        }
        Message::Conn(fd) => ("conn".to_owned(), vec![fd.as_fd()]),
        Message::Predecessor(fd) => ("predecessor".to_owned(), vec![fd.as_fd()]),
        Message::Crash(plugin) => (format!("crash {plugin}"), Vec::new()),
    };
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other(
            "too many descriptors for one message",
        ));
    }
    rustix::net::sendmsg(
        channel,
        &[IoSlice::new(text.as_bytes())],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// Receives the next message; `None` when the other side has closed its end. A message that
/// cannot be read is an error naming it.
pub fn receive(channel: BorrowedFd<'_>) -> std::io::Result<Option<Message>> {
    let mut bytes = [0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        channel,
        &mut [IoSliceMut::new(&mut bytes)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    if received.bytes == 0 {
        return Ok(None);
    }
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    let text = String::from_utf8_lossy(&bytes[..received.bytes.min(MAX_MESSAGE)]);
    let words: Vec<&str> = text.split_whitespace().collect();
    let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let message = match words.split_first() {
        Some((&"listen", rest)) => Message::Listen(Listeners::parse(rest, fds).map_err(bad)?),
        Some((&"ready", [])) => Message::Ready(None),
        Some((&"ready", rest)) => Message::Ready(Some(Listeners::parse(rest, fds).map_err(bad)?)),
        Some((&"conn", [])) => Message::Conn(one(fds).map_err(bad)?),
        Some((&"predecessor", [])) => Message::Predecessor(one(fds).map_err(bad)?),
        Some((&"crash", [])) => Message::Crash(String::new()),
        Some((&"crash", [plugin])) => Message::Crash((*plugin).to_owned()),
        _ => return Err(bad(format!("not a supervisor message: {text:?}"))),
    };
    Ok(Some(message))
}

/// Calls `each` with every message that comes on `channel`, from a thread of its own named
/// `name`, until the other side closes its end. A message that cannot be read is logged and
/// passed over.
pub fn listen(
    name: &str,
    channel: OwnedFd,
    mut each: impl FnMut(Message) + Send + 'static,
) -> std::io::Result<()> {
    let label = name.to_owned();
    std::thread::Builder::new()
        .name(label.clone())
        .spawn(move || {
            loop {
                match receive(channel.as_fd()) {
                    Ok(Some(message)) => each(message),
                    Ok(None) => return,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::warn!("{label}: {e}");
                        if e.kind() != std::io::ErrorKind::InvalidData {
                            return;
                        }
                    }
                }
            }
        })?;
    Ok(())
}

/// The one descriptor a message came with.
fn one(fds: Vec<OwnedFd>) -> Result<OwnedFd, String> {
    fds.into_iter()
        .next()
        .ok_or_else(|| "no descriptor came with the message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_and_crashes_cross_with_their_descriptors() {
        let (a, b) = pair().unwrap();
        let path = std::env::temp_dir().join(format!("pluginhost-channel-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let socket = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let metrics = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = metrics.local_addr().unwrap().port();
        let listeners = Listeners {
            socket: socket.into(),
            identity: (7, 42),
            metrics: Some(metrics.into()),
        };
        send(a.as_fd(), &Message::Ready(Some(listeners))).unwrap();
        send(a.as_fd(), &Message::Crash("panicky".into())).unwrap();
        let (left, right) = std::os::unix::net::UnixStream::pair().unwrap();
        send(a.as_fd(), &Message::Conn(left.into())).unwrap();
        let Some(Message::Ready(Some(got))) = receive(b.as_fd()).unwrap() else {
            panic!("not the ready message");
        };
        assert_eq!(got.identity, (7, 42));
        let metrics = std::net::TcpListener::from(got.metrics.unwrap());
        assert_eq!(metrics.local_addr().unwrap().port(), port);
        assert!(matches!(
            receive(b.as_fd()).unwrap(),
            Some(Message::Crash(p)) if p == "panicky"
        ));
        let Some(Message::Conn(conn)) = receive(b.as_fd()).unwrap() else {
            panic!("not the conn message");
        };
        use std::io::{Read, Write};
        std::os::unix::net::UnixStream::from(conn)
            .write_all(b"hi")
            .unwrap();
        let mut got = [0u8; 2];
        (&right).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi", "the connection crossed whole");
        drop(a);
        assert!(receive(b.as_fd()).unwrap().is_none());
    }

    #[test]
    fn a_message_without_its_descriptor_is_refused_by_name() {
        let (a, b) = pair().unwrap();
        rustix::net::send(&a, b"listen 1 2", SendFlags::empty()).unwrap();
        let err = receive(b.as_fd()).unwrap_err();
        assert!(err.to_string().contains("no socket descriptor"), "{err}");
    }
}
