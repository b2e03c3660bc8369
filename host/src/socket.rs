//! The listening socket: created atomically, never stolen from a live server, removed only if
//! it is still ours.
//!
//! The socket is bound under a temporary name and renamed over the final path, so Kong never
//! sees a moment without a socket, nor one nobody answers. Before that, an existing socket is
//! probed: one that accepts a connection belongs to a live server and is left alone.

use std::{
    io,
    os::unix::{fs::MetadataExt, net::UnixListener},
    path::{Path, PathBuf},
};

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Another server answers on the path.
    #[error(
        "another server is already listening on {0}; stop it first, or choose another -kong-prefix or -socket"
    )]
    InUse(PathBuf),
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
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
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

/// Binds a listening socket at `path`, replacing a stale one.
pub fn bind(path: &Path) -> Result<(UnixListener, BoundSocket), SocketError> {
    let create = |source: io::Error| SocketError::Create {
        path: path.to_owned(),
        source,
    };
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(SocketError::InUse(path.to_owned()));
    }
    let file_name = path.file_name().ok_or_else(|| {
        create(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        ))
    })?;
    let temp = path.with_file_name(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temp);
    let listener = UnixListener::bind(&temp).map_err(create)?;
    if let Err(e) = std::fs::rename(&temp, path) {
        let _ = std::fs::remove_file(&temp);
        return Err(create(e));
    }
    let meta = std::fs::symlink_metadata(path).map_err(create)?;
    Ok((
        listener,
        BoundSocket {
            path: path.to_owned(),
            identity: (meta.dev(), meta.ino()),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_stale_refuses_live_and_removes_only_its_own() {
        let dir = std::env::temp_dir().join(format!("pluginhost-socket-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");

        // A stale socket: bound, then its listener dropped.
        drop(UnixListener::bind(&path).unwrap());
        let (listener, bound) = bind(&path).unwrap();

        // Live now: a second server must not take it over.
        assert!(matches!(bind(&path), Err(SocketError::InUse(_))));

        // Replaced by someone else: not ours to remove.
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        let other = UnixListener::bind(&path).unwrap();
        bound.remove_if_ours();
        assert!(path.exists());
        drop(other);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
