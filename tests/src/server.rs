//! pluginhost as a child process on a private prefix, the way Kong starts it:
//! `pluginhost -kong-prefix PREFIX -plugins-directory DIR`.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, kill_process};

use plugin_abi::schema::KongVersion;

use crate::{
    kong::{Client, Kong},
    paths,
    protobuf::ProtoBufKong,
};

/// A directory of plugins to serve, in a temporary prefix.
pub struct Prefix {
    dir: tempfile::TempDir,
}

impl Default for Prefix {
    fn default() -> Self {
        Self::new()
    }
}

impl Prefix {
    /// An empty prefix with an empty `plugins/` directory.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ph-")
            .tempdir()
            .expect("cannot create a temporary prefix");
        std::fs::create_dir(dir.path().join("plugins")).expect("cannot create plugins/");
        Prefix { dir }
    }

    /// The prefix directory (Kong's `-kong-prefix`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The plugins directory.
    pub fn plugins(&self) -> PathBuf {
        self.path().join("plugins")
    }

    /// The default socket, `<prefix>/go_pluginserver.sock`.
    pub fn socket(&self) -> PathBuf {
        self.path().join("go_pluginserver.sock")
    }

    /// Copies the built plugin crate `crate_name` into the plugins directory as `file_name`.
    pub fn add_plugin(&self, crate_name: &str, file_name: &str) -> PathBuf {
        let target = self.plugins().join(file_name);
        std::fs::copy(paths::plugin(crate_name), &target).expect("cannot copy the plugin");
        target
    }

    /// Writes `bytes` into the plugins directory as `file_name`.
    pub fn add_file(&self, file_name: &str, bytes: &[u8]) -> PathBuf {
        let target = self.plugins().join(file_name);
        std::fs::write(&target, bytes).expect("cannot write the file");
        target
    }

    /// Runs pluginhost to completion with `args` (for the dump modes), plugins directory set.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(paths::pluginhost())
            .arg("-plugins-directory")
            .arg(self.plugins())
            .args(args)
            .output()
            .expect("cannot run pluginhost")
    }

    /// Runs pluginhost as a server of this prefix to completion: for servers that must refuse
    /// to start.
    pub fn run_server(&self) -> Output {
        Command::new(paths::pluginhost())
            .arg("-kong-prefix")
            .arg(self.path())
            .arg("-plugins-directory")
            .arg(self.plugins())
            .output()
            .expect("cannot run pluginhost")
    }

    /// A prefix holding the built plugin crates of `plugins`, each as (crate, file name), and
    /// pluginhost serving it with `extra` flags.
    pub fn serving(plugins: &[(&str, &str)], extra: &[&str]) -> (Prefix, Server) {
        let prefix = Prefix::new();
        for (crate_name, file_name) in plugins {
            prefix.add_plugin(crate_name, file_name);
        }
        let server = prefix.serve(extra);
        (prefix, server)
    }

    /// Starts pluginhost serving this prefix, and waits until it answers.
    pub fn serve(&self, extra: &[&str]) -> Server {
        Server::start(&paths::pluginhost(), self, extra)
    }

    /// Starts the pluginhost binary at `exe` (a copy of the built one, for tests that replace
    /// it) serving this prefix, and waits until it answers.
    pub fn serve_from(&self, exe: &Path, extra: &[&str]) -> Server {
        Server::start(exe, self, extra)
    }

    /// Starts a second pluginhost on this prefix while another serves it, as Kong's new nginx
    /// worker 0 does at a `kong reload`, and waits until it has taken the socket over.
    pub fn serve_next(&self) -> Server {
        let mut command = Command::new(paths::pluginhost());
        command
            .arg("-kong-prefix")
            .arg(self.path())
            .arg("-plugins-directory")
            .arg(self.plugins());
        // The first server answers on the socket already: wait for the second's own word.
        let server = Server::spawn(command, self.socket());
        server.wait_for_log("took the socket over");
        server
    }
}

/// The dialect a test speaks, and the Kong generation that speaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// MsgPack:1, as every Kong speaks it.
    MsgPack,
    /// ProtoBuf:1, as this Kong release speaks it.
    ProtoBuf(KongVersion),
}

impl Dialect {
    /// The dialects conformance tests run in: MsgPack:1, and ProtoBuf:1 as Kong 3.9 speaks it.
    pub const BOTH: [Dialect; 2] = [
        Dialect::MsgPack,
        Dialect::ProtoBuf(KongVersion::new(3, 9, 0)),
    ];

    /// The flags that make pluginhost speak it.
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            Dialect::MsgPack => &[],
            Dialect::ProtoBuf(_) => &["-protocol", "ProtoBuf:1"],
        }
    }
}

impl Prefix {
    /// Serves this prefix in `dialect`, with `extra` flags.
    pub fn serve_in(&self, dialect: Dialect, extra: &[&str]) -> Server {
        let mut flags = dialect.flags().to_vec();
        flags.extend_from_slice(extra);
        self.serve(&flags)
    }
}

/// A running pluginhost; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    socket: PathBuf,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(exe: &Path, prefix: &Prefix, extra: &[&str]) -> Server {
        let mut command = Command::new(exe);
        command
            .arg("-kong-prefix")
            .arg(prefix.path())
            .arg("-plugins-directory")
            .arg(prefix.plugins())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let socket = match extra.iter().position(|a| *a == "-socket") {
            Some(i) => PathBuf::from(extra[i + 1]),
            None => prefix.socket(),
        };
        Server::spawn(command, socket)
    }

    /// Spawns `command` (a pluginhost command line) and waits for `socket` to answer.
    pub fn spawn(command: Command, socket: PathBuf) -> Server {
        Server::spawn_inner(command, socket, true)
    }

    /// Like [`Server::spawn`], but closes the read end of the server's stderr pipe at once, as
    /// Kong does when a worker shuts down.
    pub fn spawn_with_closed_stderr(command: Command, socket: PathBuf) -> Server {
        Server::spawn_inner(command, socket, false)
    }

    fn spawn_inner(mut command: Command, socket: PathBuf, read_stderr: bool) -> Server {
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start pluginhost");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr is piped");
        if read_stderr {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut log = sink.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        } else {
            drop(pipe);
        }
        let mut server = Server {
            child,
            socket,
            stderr,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "pluginhost exited with {status} before serving:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "pluginhost did not listen on {} within 20 s:\n{}",
            self.socket.display(),
            self.stderr()
        );
    }

    /// The socket it listens on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A Kong worker's client of this server.
    pub fn kong(&self) -> Kong {
        Kong::new(&self.socket)
    }

    /// A Kong worker's client of this server in `dialect` (which the server was started
    /// with: see [`Dialect::flags`]).
    pub fn client(&self, dialect: Dialect) -> Box<dyn Client> {
        match dialect {
            Dialect::MsgPack => Box::new(self.kong()),
            Dialect::ProtoBuf(kong) => Box::new(ProtoBufKong::new(&self.socket, kong)),
        }
    }

    /// The pid of the engine serving now: the process Kong's connections reach, whose pid
    /// they are told (`serverPid`), the newest child of the process Kong started.
    pub fn pid(&self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(&engine) = self.engines().last() {
                return engine;
            }
            assert!(
                Instant::now() < deadline,
                "pluginhost ({}) started no engine:\n{}",
                self.child.id(),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The engines running now, oldest first (two while one replaces the other).
    pub fn engines(&self) -> Vec<u32> {
        crate::load::procfs::children(self.child.id())
    }

    /// The pid of the process Kong started, the supervisor: the pid Kong signals.
    pub fn supervisor_pid(&self) -> u32 {
        self.child.id()
    }

    /// The supervisor and its engines as /proc shows them now: each process's state and each
    /// thread's name, state and wait channel (and, for a thread in uninterruptible sleep, its
    /// kernel stack), for a test to say where a server that does not leave is stuck.
    pub fn processes(&self) -> String {
        let describe = |pid: u32| {
            let read = |path: String| std::fs::read_to_string(path).unwrap_or_default();
            let state = |stat: String| stat.rsplit(") ").next().unwrap_or("?").chars().next();
            let mut text = format!("{pid} {:?}\n", state(read(format!("/proc/{pid}/stat"))));
            for task in std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
            {
                let task = task.map(|t| t.path()).unwrap_or_default();
                let stat = read(format!("{}/stat", task.display()));
                let state = state(stat);
                text += &format!(
                    "  {} {state:?} {}\n",
                    read(format!("{}/comm", task.display())).trim(),
                    read(format!("{}/wchan", task.display()))
                );
                // Where the kernel holds a thread it will not let go (readable as root).
                if state == Some('D') {
                    text += &read(format!("{}/stack", task.display()));
                }
            }
            text
        };
        let supervisor = self.child.id();
        std::iter::once(supervisor)
            .chain(self.engines())
            .map(describe)
            .collect()
    }

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `text` (logs arrive asynchronously).
    pub fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.stderr();
            if log.contains(text) {
                return log;
            }
            assert!(Instant::now() < deadline, "no `{text}` in the log:\n{log}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal(Signal::TERM);
        self.wait_exit(Duration::from_secs(20))
            .expect("pluginhost did not exit within 20 s of SIGTERM")
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(self.child.id() as i32).expect("a child pid is positive");
        let _ = kill_process(pid, signal);
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(Signal::TERM);
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// Waits (up to 10 s) for `path` to hold something, as a plugin writes it from its handler, and
/// returns it; fails the test otherwise.
pub fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the plugin never wrote {}",
            path.display()
        );
        thread::sleep(Duration::from_millis(10));
    }
}
