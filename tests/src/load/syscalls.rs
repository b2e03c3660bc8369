//! System calls a process makes, counted by the kernel: `perf stat` on the
//! `raw_syscalls:sys_enter` tracepoint of each of its threads. Socket reads and writes
//! (`recvfrom`, `sendto`) are not in `/proc/PID/io`'s counters, so this is the count that sees
//! them. Threads started after the count began are not counted: measure a warmed-up server.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A running count of one process's system calls.
pub struct Counter {
    perf: Child,
}

/// Why no count was made, for the report.
pub fn unavailable() -> Option<String> {
    match Command::new("perf").arg("--version").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("perf is not installed (`make perf` installs Debian's linux-perf)".into()),
    }
}

impl Counter {
    /// Starts counting the system calls of every thread `pid` has now; `None` when perf is
    /// missing or the kernel refuses the tracepoint.
    pub fn start(pid: u32) -> Option<Counter> {
        let tids: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .filter_map(|t| t.ok()?.file_name().into_string().ok())
            .collect();
        let perf = Command::new("perf")
            .args(["stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-t"])
            .arg(tids.join(","))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        // perf attaches before counting anything; give it that moment.
        std::thread::sleep(Duration::from_millis(100));
        Some(Counter { perf })
    }

    /// Stops counting and returns the count.
    pub fn stop(self) -> Option<u64> {
        let pid = rustix::process::Pid::from_raw(self.perf.id() as i32)?;
        rustix::process::kill_process(pid, rustix::process::Signal::INT).ok()?;
        let out = self.perf.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find(|l| l.contains("raw_syscalls:sys_enter"))
            .and_then(|l| l.split(',').next())
            .and_then(|n| n.trim().parse().ok())
    }
}
