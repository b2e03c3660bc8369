//! The listening socket: created atomically, taken over from a live server without a moment
//! nobody answers, removed only if it is still ours.
//!
//! The socket is bound under a temporary name and renamed over the final path, so Kong never
//! sees a moment without a socket, nor one nobody answers. A server already answering there is
//! Kong's previous one (`kong reload` starts the new server before it stops the old, and
//! sometimes after): from the rename on, new connections reach this one, while the old one
//! keeps the connections it has, finishes their events, and leaves the path alone
//! ([`BoundSocket::is_ours`]).
//!
//! Whoever can connect can start instances and run every plugin's code, so the socket is the
//! owner's only (0600, whatever the umask), or its group's too with `-socket-group` (0660).
//! The temporary name lives in a private directory until its mode is set: nobody can connect
//! to it before.

use std::{
    io,
    os::unix::{
        fs::{DirBuilderExt, MetadataExt, PermissionsExt},
        net::UnixListener,
    },
    path::{Path, PathBuf},
};

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// `-socket-group` names no group.
    #[error("-socket-group {0}: no such group")]
    NoGroup(String),
    /// Binding or renaming failed.
    #[error("cannot create the socket {path}: {source}")]
    Create {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The socket this process created.
#[derive(Debug)]
pub struct BoundSocket {
    path: PathBuf,
    identity: (u64, u64),
}

impl BoundSocket {
    /// The socket at `path` whose file is `identity` (device, inode), bound by another process
    /// of this server (the engine before this one: see [`crate::supervisor`]).
    pub fn adopt(path: &Path, identity: (u64, u64)) -> BoundSocket {
        BoundSocket {
            path: path.to_owned(),
            identity,
        }
    }

    /// The device and inode of its file.
    pub fn identity(&self) -> (u64, u64) {
        self.identity
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the path is still this socket: false once another server took it over.
    pub fn is_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity)
    }

    /// Removes the socket file, unless another server has replaced it since.
    pub fn remove_if_ours(&self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.identity => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!("cannot remove {}: {e}", self.path.display());
                }
            }
            Ok(_) => tracing::info!(
                "{} now belongs to another server; leaving it",
                self.path.display()
            ),
            Err(_) => {}
        }
    }
}

/// Who may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The server's user only: mode 0600.
    Owner,
    /// That group too: mode 0660, group set.
    Group(u32),
}

/// The id of group `name` (a name or a number).
pub fn group_id(name: &str) -> Result<u32, SocketError> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let c_name = std::ffi::CString::new(name).map_err(|_| SocketError::NoGroup(name.to_owned()))?;
    let mut group = std::mem::MaybeUninit::<libc::group>::uninit();
    let mut found: *mut libc::group = std::ptr::null_mut();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: every pointer is valid for the call: the name is NUL-terminated, `group` and
    // `buf` are writable for their sizes, and `found` is written before it is read.
    let rc = unsafe {
        libc::getgrnam_r(
            c_name.as_ptr(),
            group.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return Err(SocketError::NoGroup(name.to_owned()));
    }
    // SAFETY: getgrnam_r succeeded and pointed `found` at `group`, which it filled in.
    Ok(unsafe { group.assume_init() }.gr_gid)
}

/// The pid of the server answering on `path`, if one does (0 when the kernel does not say).
pub fn live_server(path: &Path) -> Option<u32> {
    let stream = std::os::unix::net::UnixStream::connect(path).ok()?;
    let pid = rustix::net::sockopt::socket_peercred(&stream)
        .map_or(0, |cred| cred.pid.as_raw_nonzero().get() as u32);
    Some(pid)
}

/// Binds a listening socket at `path` that `access` may connect to, in place of a stale one or
/// of a live server's (which keeps its connections: see the module's docs).
pub fn bind(path: &Path, access: Access) -> Result<(UnixListener, BoundSocket), SocketError> {
    let create = |source: io::Error| SocketError::Create {
        path: path.to_owned(),
        source,
    };
    let file_name = path.file_name().ok_or_else(|| {
        create(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        ))
    })?;
    let private = path.with_file_name(format!(
        ".{}.{}.d",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(create)?;
    let temp = private.join("s");
    let bound = std::fs::File::open(&private).and_then(|dir| {
        let listener = bind_private(&short_path(&temp, &dir), access)?;
        std::fs::rename(&temp, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_dir_all(&private);
    let listener = bound.map_err(create)?;
    let meta = std::fs::symlink_metadata(path).map_err(create)?;
    Ok((
        listener,
        BoundSocket {
            path: path.to_owned(),
            identity: (meta.dev(), meta.ino()),
        },
    ))
}

/// A path to `temp` that fits a socket address (107 bytes): `temp` itself when it does, else
/// the same file reached through the open directory `dir` (`/proc/self/fd/N/s`). Only the
/// address given to bind(2) is limited; the rename that puts the socket in place is not.
fn short_path(temp: &Path, dir: &std::fs::File) -> PathBuf {
    use std::os::{fd::AsRawFd, unix::ffi::OsStrExt};
    if temp.as_os_str().as_bytes().len() <= MAX_SOCKET_PATH {
        return temp.to_owned();
    }
    let name = temp.file_name().unwrap_or_default();
    Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name)
}

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes with its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Binds at `temp`, in a directory only this user can enter, and sets who may connect.
fn bind_private(temp: &Path, access: Access) -> io::Result<UnixListener> {
    let listener = UnixListener::bind(temp)?;
    let mode = match access {
        Access::Owner => 0o600,
        Access::Group(gid) => {
            rustix::fs::chown(temp, None, Some(rustix::fs::Gid::from_raw(gid)))?;
            0o660
        }
    };
    std::fs::set_permissions(temp, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_stale_takes_over_live_and_removes_only_its_own() {
        let dir = std::env::temp_dir().join(format!("pluginhost-socket-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");

        // A stale socket: bound, then its listener dropped.
        drop(UnixListener::bind(&path).unwrap());
        let (listener, bound) = bind(&path, Access::Owner).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        // Live now: a second server takes it over, and new connections reach it alone.
        assert_eq!(live_server(&path), Some(std::process::id()));
        let _probe = listener.accept().unwrap();
        assert!(bound.is_ours());
        let (second, second_bound) = bind(&path, Access::Owner).unwrap();
        assert!(!bound.is_ours() && second_bound.is_ours());
        let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        second.set_nonblocking(true).unwrap();
        listener.set_nonblocking(true).unwrap();
        assert!(
            second.accept().is_ok(),
            "the new server gets the connection"
        );
        assert!(listener.accept().is_err(), "the old one does not");

        // Taken over: not the first one's to remove.
        bound.remove_if_ours();
        assert!(path.exists());
        second_bound.remove_if_ours();
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn serves_the_longest_path_a_socket_address_holds() {
        let dir = std::env::temp_dir().join(format!("pluginhost-long-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("x").as_os_str().len();
        let name = "p".repeat(MAX_SOCKET_PATH - base + 1);
        let path = dir.join(name);
        assert_eq!(path.as_os_str().len(), MAX_SOCKET_PATH);
        let (listener, bound) = bind(&path, Access::Owner).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        assert!(listener.accept().is_ok());
        bound.remove_if_ours();
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
