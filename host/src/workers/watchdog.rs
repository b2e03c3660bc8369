//! The watchdog: while events live, it looks at every worker each [`TICK`] and notices one
//! whose handler has held its thread since the last look. The serving room is told
//! ([`super::Hooks::held`]), and a serving worker is replaced ([`Pool::replace`]).
//!
//! Held means the handler's own time: computing, waiting or sleeping. A thread that was
//! preempted on a busy machine has not held anything: between two looks, a sleeping thread
//! gains the time between them, a running one only the CPU time it got
//! ([`crate::sched::Watched`]).
//!
//! With no event anywhere there is nothing to watch: the watchdog sleeps until a worker
//! counts its first event (it rings the pool's alarm), so an idle server never wakes.

use std::{
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use super::pool::Pool;
use crate::sched::Watched;

/// How often the watchdog looks while events live. A handler that ran this long of its own
/// time without a PDK call holds its thread; hello's stretches last microseconds.
pub const TICK: Duration = Duration::from_millis(1);

/// Starts the watchdog thread.
pub fn spawn(pool: Arc<Pool>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("pluginhost-watchdog".into())
        .spawn(move || watch(&pool))
        .map(drop)
}

/// What the watchdog saw of one worker's current stretch.
struct Look {
    stretch: u64,
    at: Instant,
    cpu: Option<Duration>,
    /// The handler's own time seen so far in this stretch.
    own: Duration,
    /// Told already.
    told: bool,
    thread: Option<(i32, Watched)>,
}

impl Look {
    fn new() -> Self {
        Look {
            stretch: 0,
            at: Instant::now(),
            cpu: None,
            own: Duration::ZERO,
            told: false,
            thread: None,
        }
    }

    /// Thread `tid`, opened once.
    fn thread(&mut self, tid: i32) -> &Watched {
        if self.thread.as_ref().is_none_or(|(t, _)| *t != tid) {
            self.thread = Some((tid, Watched::of(tid)));
        }
        &self.thread.as_ref().expect("set above").1
    }
}

fn watch(pool: &Arc<Pool>) {
    let alarm = Arc::clone(pool.alarm());
    let mut looks: Vec<Look> = Vec::new();
    loop {
        if pool.events() == 0 {
            alarm.sleep_unless(|| pool.events() > 0);
            continue;
        }
        thread::sleep(TICK);
        let handles = pool.handles();
        looks.resize_with(handles.len(), Look::new);
        for handle in &handles {
            let look = &mut looks[handle.index];
            let stretch = handle.stretch();
            let now = Instant::now();
            if stretch.is_multiple_of(2) {
                look.stretch = stretch;
                continue;
            }
            let tid = handle.tid();
            if stretch != look.stretch {
                // A stretch the watchdog has not seen yet: it starts counting from here.
                look.cpu = look.thread(tid).cpu();
                look.stretch = stretch;
                look.at = now;
                look.own = Duration::ZERO;
                look.told = false;
                continue;
            }
            if look.told {
                continue;
            }
            let thread = look.thread(tid);
            let (cpu, asleep) = (thread.cpu(), thread.asleep().unwrap_or(false));
            let between = now.duration_since(look.at);
            let computed = match (look.cpu, cpu) {
                (Some(before), Some(after)) => after.saturating_sub(before),
                // No CPU clock: wall-clock time, as if it always ran.
                _ => between,
            };
            look.own += if asleep { between } else { computed };
            look.at = now;
            look.cpu = cpu;
            if look.own < TICK {
                continue;
            }
            look.told = true;
            if let Some(hooks) = pool.hooks() {
                hooks.held(handle);
            }
            pool.replace(handle.index);
        }
    }
}
