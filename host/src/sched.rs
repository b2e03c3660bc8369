//! What the kernel's scheduler says of a thread: how long it has waited for a core while it
//! was ready to run (the second figure of `/proc/.../schedstat`, in nanoseconds), and, for
//! the watchdog looking from another thread, whether it sleeps and how much CPU it has used
//! ([`Watched`]).
//!
//! A handler's pace is its own time: what it computed, and what it waited or slept for. On a
//! busy machine a thread is also preempted, ready to run but with no core: a 20 µs handler
//! can take a millisecond of wall-clock time that way. The run-queue wait tells the two
//! apart: a handler's own time is its wall-clock time less the run-queue wait that grew
//! meanwhile.
//!
//! A virtual machine's thread also loses time the guest kernel never sees: the hypervisor
//! runs another guest on the core (steal). No run-queue figure shows it; the thread's CPU
//! time does not include it. So a stretch that never slept (its count of voluntary context
//! switches is unchanged) is worth its CPU time; one that slept is worth its wall-clock time
//! less the run-queue wait.
//!
//! Reading these is three system calls (about a microsecond each here), too dear for every
//! PDK call of a quick handler. So [`OwnClock`] takes a stretch shorter than [`SHORT`] at its
//! wall-clock time, and a longer one, which a quick handler seldom has, as [`SHORT`] while it
//! measures the thread's next [`PRECISE_STRETCHES`] stretches precisely. A handler that is
//! slow is slow in those too; one that was preempted is quick in them. A handler that holds
//! its thread for a millisecond or more is caught by the watchdog whatever this says.

use std::{
    cell::Cell,
    fs::File,
    os::unix::fs::FileExt,
    time::{Duration, Instant},
};

/// A stretch shorter than this is counted as its own time whatever happened in it.
pub const SHORT: Duration = Duration::from_micros(20);

/// Stretches measured precisely after one that ran longer than [`SHORT`].
pub const PRECISE_STRETCHES: u32 = 16;

/// The run-queue wait of one thread, read from its `schedstat`.
#[derive(Debug)]
pub struct RunQueue {
    file: Option<File>,
}

impl RunQueue {
    /// The calling thread's.
    pub fn this_thread() -> Self {
        Self::open("/proc/thread-self/schedstat")
    }

    /// Thread `tid` of this process.
    pub fn of(tid: i32) -> Self {
        Self::open(&format!("/proc/self/task/{tid}/schedstat"))
    }

    fn open(path: &str) -> Self {
        let file = File::open(path);
        if let Err(e) = &file {
            tracing::debug!("cannot read {path} ({e}): handler time is wall-clock time");
        }
        RunQueue { file: file.ok() }
    }

    /// How long the thread has waited, ready to run, since it started; `None` where the
    /// kernel does not say.
    pub fn waited(&self) -> Option<Duration> {
        let mut buf = [0u8; 96];
        let n = self.file.as_ref()?.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let ns = text.split_whitespace().nth(1)?.parse().ok()?;
        Some(Duration::from_nanos(ns))
    }
}

/// Another thread of this process, as the watchdog sees it. Its run-queue wait is of no use
/// from outside: the kernel adds a wait up only when the thread gets a core again. So a
/// handler's own time is judged from what it is doing: sleeping or blocked (its wall-clock
/// time counts), or running or ready to run (only the CPU time it gets counts, so a preempted
/// thread gains nothing).
#[derive(Debug)]
pub struct Watched {
    stat: Option<File>,
    clock: libc::clockid_t,
}

impl Watched {
    /// Thread `tid` of this process.
    pub fn of(tid: i32) -> Self {
        Watched {
            stat: File::open(format!("/proc/self/task/{tid}/stat")).ok(),
            // The kernel's per-thread CPU clock of `tid` (MAKE_THREAD_CPUCLOCK(tid, SCHED)).
            clock: (!tid << 3) | 6,
        }
    }

    /// The CPU time the thread has used, to the nanosecond.
    pub fn cpu(&self) -> Option<Duration> {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable timespec; an unknown clock id (a thread that has
        // ended) makes the call fail with EINVAL, and nothing is read then.
        let rc = unsafe { libc::clock_gettime(self.clock, &mut now) };
        (rc == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
    }

    /// Whether the thread sleeps or is blocked now (state `S` or `D`), rather than running or
    /// waiting for a core (`R`).
    pub fn asleep(&self) -> Option<bool> {
        let mut buf = [0u8; 512];
        let n = self.stat.as_ref()?.read_at(&mut buf, 0).ok()?;
        let text = &buf[..n];
        // The name is in parentheses and may hold anything: the state follows the last `)`.
        let after = text.iter().rposition(|&b| b == b')')?;
        let state = text.get(after + 2)?;
        Some(matches!(state, b'S' | b'D'))
    }
}

/// Measures the handler stretches of the thread it was made on (see the module's doc).
#[derive(Debug)]
pub struct OwnClock {
    queue: RunQueue,
    /// Stretches still to measure precisely, after one that ran long.
    precise: Cell<u32>,
    /// Every stretch is measured precisely (see [`OwnClock::always_precise`]).
    always: bool,
    /// What was read as the current stretch started, when it is measured precisely.
    start: Cell<Option<Reading>>,
}

/// What the kernel says of this thread at one moment.
#[derive(Debug, Clone, Copy)]
struct Reading {
    cpu: Duration,
    voluntary_switches: i64,
    waited: Option<Duration>,
}

impl Reading {
    fn now(queue: &RunQueue) -> Option<Reading> {
        let cpu = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `usage` is writable for a whole `rusage`, which getrusage fills in on
        // success; it is read only then.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: getrusage succeeded, so `usage` is initialised.
        let usage = unsafe { usage.assume_init() };
        Some(Reading {
            cpu: Duration::new(cpu.tv_sec as u64, cpu.tv_nsec as u32),
            voluntary_switches: usage.ru_nvcsw,
            waited: queue.waited(),
        })
    }
}

impl OwnClock {
    /// A clock for the calling thread.
    pub fn this_thread() -> Self {
        OwnClock {
            queue: RunQueue::this_thread(),
            precise: Cell::new(0),
            always: false,
            start: Cell::new(None),
        }
    }

    /// A clock for the calling thread that measures every stretch precisely: for a thread
    /// started for events apart, whose stretches are slow by their nature and whose first
    /// stretch is often its only long one. Guessed short, thousands of such first stretches
    /// (each on a new thread) would bring a slow phase inline.
    pub fn always_precise() -> Self {
        OwnClock {
            always: true,
            ..Self::this_thread()
        }
    }

    /// Called as a stretch starts.
    pub fn before(&self) {
        if self.always {
            self.start.set(Reading::now(&self.queue));
            return;
        }
        let precise = self.precise.get();
        if precise > 0 {
            self.precise.set(precise - 1);
            self.start.set(Reading::now(&self.queue));
        }
    }

    /// The own time of a stretch that ran from `started` to `now`.
    pub fn own(&self, started: Instant, now: Instant) -> Duration {
        let wall = now.duration_since(started);
        let Some(start) = self.start.take() else {
            if wall < SHORT {
                return wall;
            }
            // Long, or preempted: the next stretches tell which.
            self.precise.set(PRECISE_STRETCHES);
            return SHORT;
        };
        let Some(end) = Reading::now(&self.queue) else {
            return wall;
        };
        let cpu = end.cpu.saturating_sub(start.cpu).min(wall);
        if end.voluntary_switches == start.voluntary_switches {
            // It never slept: whatever is not CPU time was preemption or the hypervisor's.
            return cpu;
        }
        // It slept or waited: that is its own time, but not the wait for a core once woken.
        let queued = match (start.waited, end.waited) {
            (Some(before), Some(after)) => after.saturating_sub(before),
            _ => Duration::ZERO,
        };
        wall.saturating_sub(queued).max(cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stretch(clock: &OwnClock, work: impl FnOnce()) -> Duration {
        let started = Instant::now();
        clock.before();
        work();
        clock.own(started, Instant::now())
    }

    #[test]
    fn a_long_stretch_makes_the_next_ones_precise() {
        let clock = OwnClock::this_thread();
        let sleep = || std::thread::sleep(Duration::from_millis(5));
        assert_eq!(stretch(&clock, sleep), SHORT, "not known yet");
        // Sleeping is not waiting for a core: all of it counts.
        assert!(stretch(&clock, sleep) >= Duration::from_millis(5));
        let spin = || {
            let until = Instant::now() + Duration::from_millis(3);
            while Instant::now() < until {
                std::hint::black_box(0u64);
            }
        };
        let computed = stretch(&clock, spin);
        assert!(computed > Duration::from_millis(1), "{computed:?}");
        for _ in 0..PRECISE_STRETCHES {
            stretch(&clock, || {});
        }
        assert_eq!(clock.precise.get(), 0, "back to wall-clock time");
        assert!(stretch(&clock, || {}) < SHORT);
    }

    #[test]
    fn a_thread_apart_knows_its_first_stretch() {
        let clock = OwnClock::always_precise();
        let slept = stretch(&clock, || std::thread::sleep(Duration::from_millis(5)));
        assert!(slept >= Duration::from_millis(5), "{slept:?}");
    }

    #[test]
    fn another_thread_is_seen_asleep_or_computing() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            tx.send(rustix::thread::gettid().as_raw_nonzero().get())
                .unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        let tid = rx.recv().unwrap();
        let watched = Watched::of(tid);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(watched.asleep(), Some(true));
        let cpu = watched.cpu().expect("the thread's CPU clock");
        assert!(cpu < Duration::from_millis(50), "{cpu:?}");
        sleeper.join().unwrap();

        let me = Watched::of(rustix::thread::gettid().as_raw_nonzero().get());
        assert_eq!(me.asleep(), Some(false), "this thread runs");
        let before = me.cpu().unwrap();
        let until = Instant::now() + Duration::from_millis(20);
        while Instant::now() < until {
            std::hint::black_box(0u64);
        }
        assert!(me.cpu().unwrap() > before);
    }

    #[test]
    fn the_wait_is_read_where_the_kernel_keeps_it() {
        if std::path::Path::new("/proc/thread-self/schedstat").exists() {
            assert!(RunQueue::this_thread().waited().is_some());
        }
    }
}
