//! A real redis-server (Debian's, which `make test` installs when missing) on a Unix socket
//! in a private temporary directory: started by a test, stopped when dropped.

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// A running redis-server.
pub struct RedisServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// The redis-server binary: on PATH, or where Debian puts it.
pub fn redis_server() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.exists());
    let path = on_path.unwrap_or_else(|| PathBuf::from("/usr/bin/redis-server"));
    assert!(
        path.exists(),
        "redis-server is not installed: `make test` installs Debian's (or run `make redis-server`)"
    );
    path
}

impl RedisServer {
    /// Starts one, with nothing persisted, the DEBUG command enabled (for `DEBUG SLEEP`).
    pub fn start() -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("redis-")
            .tempdir()
            .expect("cannot create a directory for redis");
        let mut redis = RedisServer { child: None, dir };
        redis.restart();
        redis
    }

    /// Its socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// Starts it again on the same socket (after [`RedisServer::stop`]).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis is running");
        let _ = std::fs::remove_file(self.socket());
        let child = Command::new(redis_server())
            .args(["--port", "0", "--unixsocket"])
            .arg(self.socket())
            .args([
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("cannot start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.command("PING") != "+PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one inline command and returns the first line of the answer (empty if none).
    pub fn command(&self, command: &str) -> String {
        let Ok(mut stream) = UnixStream::connect(self.socket()) else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
        if stream
            .write_all(format!("{command}\r\n").as_bytes())
            .is_err()
        {
            return String::new();
        }
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while stream.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            answer.push(byte[0]);
        }
        String::from_utf8_lossy(&answer).trim_end().to_owned()
    }

    /// Sends `command` without waiting for its answer (`DEBUG SLEEP` holds Redis).
    pub fn send(&self, command: &str) -> UnixStream {
        let mut stream = UnixStream::connect(self.socket()).expect("redis is running");
        stream
            .write_all(format!("{command}\r\n").as_bytes())
            .expect("redis reads");
        stream
    }

    /// The directory it runs in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
