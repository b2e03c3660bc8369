//! How many worker threads there may be by default: what the machine allows, sized by what a
//! thread held by a blocked handler costs.
//!
//! A thread blocked in a handler (a service that does not answer) costs no CPU: it costs its
//! memory (the pages its stacks touched, its event loop), [`FDS_PER_WORKER`] open files, two
//! memory mappings and one of the kernel's task slots. The default `-max-threads` is
//! [`DEFAULT_MAX_THREADS`], lowered where the machine allows fewer: an eighth of its memory
//! (or its cgroup's limit), the open files a process may have (the soft limit is raised to the
//! hard one at start, as Go's runtime does), half of the kernel's task slots, and a quarter of
//! `vm.max_map_count` (the rest is for handler stacks, `-max-events`).

use std::fs;

use crate::ids::MAX_WORKERS;

/// The default bound where the machine allows it: a slow service at thousands of requests a
/// second holds that many handlers at once (2 s × 1000/s is 2000), as Go's runtime allows
/// 10 000 threads blocked in system calls.
pub const DEFAULT_MAX_THREADS: usize = 4096;

/// Open files one worker thread holds: its event loop's epoll and eventfd, its duplicate of
/// the signal pipe, and the watchdog's view of its `/proc` stat.
pub const FDS_PER_WORKER: usize = 4;

/// Open files kept for everything else: connections from Kong, plugins' own sockets, logs.
pub const FDS_KEPT: usize = 2048;

/// Resident bytes one thread held by a blocked handler costs, as `make bench` measures it
/// (rounded up): the touched pages of the worker's and the handler's stacks, its event loop,
/// and the kernel's bookkeeping seen in the process's memory.
pub const BYTES_PER_HELD_THREAD: usize = 96 * 1024;

/// Raises the soft limit of open files to the hard one, so that the threads `-max-threads`
/// allows can each have their event loop; returns the limit in force.
pub fn raise_open_files() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("cannot raise the open-files limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The default `-max-threads`: [`DEFAULT_MAX_THREADS`], or fewer where the machine allows
/// fewer (see the module's doc), never fewer than `floor`.
pub fn default_max_threads(floor: usize) -> usize {
    let open_files = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    let allowed = [
        Some(DEFAULT_MAX_THREADS),
        Some(MAX_WORKERS),
        memory_bytes().map(|m| m / 8 / BYTES_PER_HELD_THREAD),
        open_files.map(|n| (n as usize).saturating_sub(FDS_KEPT) / FDS_PER_WORKER),
        kernel_number("/proc/sys/kernel/threads-max").map(|n| n / 2),
        kernel_number("/proc/sys/kernel/pid_max").map(|n| n / 2),
        kernel_number("/proc/sys/vm/max_map_count").map(|n| n / 4 / 2),
    ];
    allowed
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(DEFAULT_MAX_THREADS)
        .max(floor)
}

/// The memory this process may use: the machine's, or its cgroup's limit when lower.
fn memory_bytes() -> Option<usize> {
    let machine = fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    let cgroup = fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    match (machine, cgroup) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    }
}

fn kernel_number(path: &str) -> Option<usize> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_bounded_and_never_below_the_floor() {
        let n = default_max_threads(1);
        assert!((1..=DEFAULT_MAX_THREADS).contains(&n), "{n}");
        assert_eq!(default_max_threads(MAX_WORKERS), MAX_WORKERS);
    }

    #[test]
    fn the_open_files_limit_is_raised_to_the_hard_one() {
        let raised = raise_open_files();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(raised, limit.current);
        assert_eq!(limit.current, limit.maximum);
    }
}
