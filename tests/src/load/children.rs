//! The servers a benchmark measures, each a child process on a socket of its own.

use std::{
    io,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A server process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub socket: PathBuf,
}

impl ServerProcess {
    /// Starts `command`, with stderr to `log`, and waits up to 30 s for `socket` to accept.
    pub fn start(mut command: Command, socket: PathBuf, log: &Path) -> io::Result<ServerProcess> {
        let log = std::fs::File::create(log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut server = ServerProcess { child, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&server.socket).is_err() {
            if let Some(status) = server.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "{:?} exited ({status}) before listening",
                    command.get_program()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{} did not appear within 30 s",
                    server.socket.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The id of the process that serves: the newest engine of a supervising build, the
    /// process itself for a build that serves in the process Kong starts.
    pub fn pid(&self) -> u32 {
        super::procfs::children(self.child.id())
            .last()
            .copied()
            .unwrap_or(self.child.id())
    }

    /// The id of the process started (a supervisor, or the server itself).
    pub fn started_pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process started has exited, reaping it if so.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().is_ok_and(|status| status.is_some())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
