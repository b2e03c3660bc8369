//! The hand-over socket beside Kong's (`<socket>.handover`): where a server that took Kong's
//! socket over receives the old server's connections. At a `kong reload` that stops the old
//! server first, Kong's new workers may open connections to it in the moment before the new
//! one binds; instead of closing them under Kong when it leaves, the old engine hands each on,
//! idle, through this socket, with a connection for the Steps of its events (the messages of
//! [`crate::supervisor::channel`], as at an upgrade).
//!
//! Only a process of this server's user may hand anything over: the socket is the owner's
//! (0600), and a peer of another user is dropped at once. Where the path does not fit a socket
//! address, or the socket cannot be had, reloads go on as before, without the hand-over.

use std::{
    os::{fd::OwnedFd, unix::fs::PermissionsExt},
    path::{Path, PathBuf},
};

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::supervisor::channel::{self, Message};

/// The hand-over socket of Kong's socket `socket`.
pub fn path_of(socket: &Path) -> PathBuf {
    let mut path = socket.as_os_str().to_owned();
    path.push(".handover");
    PathBuf::from(path)
}

fn seqpacket() -> std::io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Binds the hand-over socket of `socket` in place of the old server's. Call it before taking
/// Kong's socket over: the old server, once it sees that, connects here, and must find this
/// server, not itself.
pub fn bind(socket: &Path) -> std::io::Result<OwnedFd> {
    let path = path_of(socket);
    let address = SocketAddrUnix::new(path.as_path())?;
    let listener = seqpacket()?;
    let _ = std::fs::remove_file(&path);
    rustix::net::bind(&listener, &address)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    rustix::net::listen(&listener, 16)?;
    Ok(listener)
}

/// Serves `listener` (from [`bind`]), calling `each` with every message a handing server
/// sends, from threads of their own.
pub fn serve(
    listener: OwnedFd,
    each: impl Fn(Message) + Clone + Send + Sync + 'static,
) -> std::io::Result<()> {
    let me = rustix::process::getuid();
    std::thread::Builder::new()
        .name("pluginhost-takeover".into())
        .spawn(move || {
            loop {
                let peer = match rustix::net::accept(&listener) {
                    Ok(peer) => peer,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => {
                        tracing::warn!("hand-over socket: {e}");
                        return;
                    }
                };
                // The mode keeps others out once set; this keeps them out before it is.
                let ours = rustix::net::sockopt::socket_peercred(&peer).is_ok_and(|c| c.uid == me);
                if !ours {
                    tracing::warn!("hand-over socket: a peer of another user, dropped");
                    continue;
                }
                if let Err(e) = channel::listen("pluginhost-handed", peer, each.clone()) {
                    tracing::warn!("hand-over socket: {e}");
                }
            }
        })?;
    Ok(())
}

/// A connection to the hand-over socket of the server that now owns `socket`; an error if
/// that is this process (the other server has not bound its own).
pub fn connect(socket: &Path) -> std::io::Result<OwnedFd> {
    let address = SocketAddrUnix::new(path_of(socket).as_path())?;
    let stream = seqpacket()?;
    rustix::net::connect(&stream, &address)?;
    let peer = rustix::net::sockopt::socket_peercred(&stream)?;
    if peer.pid == rustix::process::getpid() {
        return Err(std::io::Error::other(
            "the hand-over socket is this server's own",
        ));
    }
    Ok(stream)
}

/// Removes the hand-over socket of `socket` (when Kong's socket is still this server's).
pub fn remove(socket: &Path) {
    let _ = std::fs::remove_file(path_of(socket));
}
