//! `blocker`: handlers that hold their thread between PDK calls, as real plugins do when they
//! call Redis or an HTTP service, wait on a lock, or compute. The `mode` of its config picks
//! how. Every mode reads a request header first and answers with response headers, so that a
//! test sees what happened.

use std::{
    cell::Cell,
    path::Path,
    sync::{Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

use plugin_abi::{HandlerResult, Kong, Plugin};

mod load_gate;

/// What the access handler does between its PDK calls.
#[plugin_abi::config]
#[derive(Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Sleeps `ms` milliseconds (a blocking call to a service).
    #[default]
    Sleep,
    /// Computes for `us` microseconds.
    Spin,
    /// Waits until `path` exists (at most 30 s), polling: a handler blocked until the test says.
    Gate,
    /// Waits until another event of this mode has come here too: deadlocks if events are run
    /// one after the other.
    Rendezvous,
    /// Makes three PDK calls and says whether its thread (and its thread-locals) stayed the
    /// same.
    Threads,
    /// Holds a process-wide lock across a PDK call; waits for it until `path` exists.
    Mutex,
    /// Quick: says which thread ran it, in `x-thread`.
    Where,
}

/// The plugin's configuration.
#[plugin_abi::config]
pub struct Config {
    /// How the handler holds its thread.
    #[serde(default)]
    pub mode: Mode,
    /// Milliseconds to sleep.
    #[serde(default)]
    pub ms: u32,
    /// Microseconds to compute.
    #[serde(default)]
    pub us: u32,
    /// The file a gate or a lock waits for.
    #[serde(default)]
    pub path: String,
}

/// A configured instance.
pub struct Blocker(Config);

/// Events that have reached the rendezvous, and how many have passed it.
static RENDEZVOUS: Mutex<u64> = Mutex::new(0);
static RENDEZVOUS_MET: Condvar = Condvar::new();

/// The lock `mutex` holds across a PDK call.
static LOCK: Mutex<()> = Mutex::new(());

const GATE_LIMIT: Duration = Duration::from_secs(30);

thread_local! {
    static MARK: Cell<u64> = const { Cell::new(0) };
}

impl Blocker {
    /// Polls until `path` exists; false after [`GATE_LIMIT`].
    fn wait_for(&self, path: &str) -> bool {
        let deadline = Instant::now() + GATE_LIMIT;
        while !Path::new(path).exists() {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
        true
    }

    fn rendezvous(&self) -> &'static str {
        let mut arrived = RENDEZVOUS.lock().unwrap_or_else(|p| p.into_inner());
        *arrived += 1;
        if arrived.is_multiple_of(2) {
            RENDEZVOUS_MET.notify_all();
            return "met";
        }
        let mine = *arrived;
        let (arrived, timeout) = RENDEZVOUS_MET
            .wait_timeout_while(arrived, GATE_LIMIT, |n| *n == mine)
            .unwrap_or_else(|p| p.into_inner());
        drop(arrived);
        if timeout.timed_out() { "alone" } else { "met" }
    }

    fn threads(&self, kong: &Kong) -> HandlerResult {
        let mut same = true;
        // A thread-local's address is its thread's: other events may change its value.
        let local = || MARK.with(|m| m as *const Cell<u64> as usize);
        for _ in 0..3 {
            let (thread, storage) = (thread::current().id(), local());
            kong.request().get_header("x-n")?;
            same &= thread == thread::current().id() && storage == local();
        }
        kong.response()
            .set_header("x-same-thread", if same { "yes" } else { "no" })?;
        Ok(())
    }

    fn mutex(&self, kong: &Kong) -> HandlerResult {
        let deadline = Instant::now() + GATE_LIMIT;
        let guard = loop {
            if let Ok(guard) = LOCK.try_lock() {
                break guard;
            }
            if Path::new(&self.0.path).exists() {
                kong.response().set_header("x-lock", "gave up: gate")?;
                return Ok(());
            }
            if Instant::now() > deadline {
                kong.response().set_header("x-lock", "gave up: timeout")?;
                return Ok(());
            }
            thread::sleep(Duration::from_millis(1));
        };
        // The lock is held across this round trip to Kong.
        kong.request().get_header("x-n")?;
        drop(guard);
        kong.response().set_header("x-lock", "held")?;
        Ok(())
    }
}

#[plugin_abi::plugin(name = "blocker", priority = 5, version = "1.0.0")]
impl Plugin for Blocker {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Blocker(config))
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        match self.0.mode {
            Mode::Threads => return self.threads(kong),
            Mode::Mutex => return self.mutex(kong),
            Mode::Where => {
                kong.request().get_header("x-n")?;
                // The kernel's name of the thread: this plugin's own std knows no names of the
                // host's threads.
                let name = std::fs::read_to_string("/proc/thread-self/comm")?;
                let name = name.trim();
                kong.response().set_header("x-thread", name)?;
                return Ok(());
            }
            _ => {}
        }
        kong.request().get_header("x-n")?;
        let outcome = match self.0.mode {
            Mode::Sleep => {
                thread::sleep(Duration::from_millis(self.0.ms.into()));
                "slept"
            }
            Mode::Spin => {
                let until = Instant::now() + Duration::from_micros(self.0.us.into());
                let mut x = 0u64;
                while Instant::now() < until {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                "computed"
            }
            Mode::Gate => {
                if self.wait_for(&self.0.path) {
                    "opened"
                } else {
                    "timed out"
                }
            }
            Mode::Rendezvous => self.rendezvous(),
            Mode::Threads | Mode::Mutex | Mode::Where => unreachable!("handled above"),
        };
        kong.response().set_header("x-blocker", outcome)?;
        Ok(())
    }
}
