//! What `/proc` says about a process: CPU time spent and resident memory.

use std::{fs, time::Duration};

/// CPU time used so far by every thread of `pid`, user and system.
///
/// Read from each thread's `schedstat` (nanoseconds, exact); where the kernel has no
/// schedstat, from `stat`'s `utime + stime` (clock ticks, 10 ms each).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    schedstat_total(pid).or_else(|| stat_ticks(pid))
}

fn schedstat_total(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread can end between listing and reading: it is not counted.
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// The fields of `/proc/<pid>/stat` after the command name, from the state on (field 3).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    let rest = text.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The children of `pid`'s main thread, oldest first (a supervisor's engines).
pub fn children(pid: u32) -> Vec<u32> {
    let mut children: Vec<u32> = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|child| child.parse().ok())
        .collect();
    // Started later, a pid is larger unless the counter wrapped: the start time decides.
    children.sort_by_key(|&child| start_ticks(child).unwrap_or(0));
    children
}

/// When `pid` started, in clock ticks since boot.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

fn stat_ticks(pid: u32) -> Option<Duration> {
    let fields = stat_fields(pid)?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Some(Duration::from_secs_f64((utime + stime) as f64 / hz))
}

/// CPU time used so far by each thread of `pid`, from its `schedstat`: (thread id, time).
pub fn thread_cpu_times(pid: u32) -> Option<Vec<(u32, Duration)>> {
    let mut times = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let task = task.ok()?;
        let Ok(tid) = task.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(text) = fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
        times.push((tid, Duration::from_nanos(ns)));
    }
    Some(times)
}

/// Context switches of every thread of `pid` so far, voluntary and not: how often its threads
/// went to sleep or were woken.
pub fn context_switches(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(status) = fs::read_to_string(task.ok()?.path().join("status")) else {
            continue;
        };
        total += status
            .lines()
            .filter(|l| {
                l.starts_with("voluntary_ctxt_switches:")
                    || l.starts_with("nonvoluntary_ctxt_switches:")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(total)
}

/// Resident set size of `pid`, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_number(pid, "VmRSS:")
}

/// How many threads `pid` has.
pub fn threads(pid: u32) -> Option<u64> {
    status_number(pid, "Threads:")
}

/// The number on the line of `/proc/<pid>/status` that starts with `label` (a `kB` unit is
/// dropped).
fn status_number(pid: u32, label: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(label))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let before = cpu_time(me).expect("cpu time");
        // black_box in the loop: optimized, the sum would be computed without running it.
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i * i));
        }
        std::hint::black_box(x);
        assert!(cpu_time(me).expect("cpu time") > before);
        assert!(rss_kib(me).expect("rss") > 0);
        assert!(threads(me).expect("threads") >= 1);
    }
}
