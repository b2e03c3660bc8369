//! How a worker wakes the watchdog, which sleeps while no event lives anywhere.

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, Thread},
};

/// Wakes the sleeping watchdog.
#[derive(Debug, Default)]
pub struct Alarm {
    sleeping: AtomicBool,
    watchdog: OnceLock<Thread>,
}

impl Alarm {
    /// Wakes the watchdog if it sleeps: a worker counted its first event.
    pub fn ring(&self) {
        if self.sleeping.load(Ordering::SeqCst)
            && let Some(watchdog) = self.watchdog.get()
        {
            watchdog.unpark();
        }
    }

    /// Sleeps the calling thread (the watchdog) until [`Alarm::ring`], unless `woken` says
    /// there is already something to watch. A ring between the two looks is not lost: the
    /// flag is set before `woken` is asked, and `ring` sets it only after counting.
    pub fn sleep_unless(&self, woken: impl Fn() -> bool) {
        let _ = self.watchdog.set(thread::current());
        self.sleeping.store(true, Ordering::SeqCst);
        if !woken() {
            thread::park();
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }
}
