//! How long a plugin's handlers run per event, phase by phase, and so where the phase's
//! next events run: on the active worker, or on a worker thread of their own.
//!
//! Running a handler on the worker that reads Kong's requests costs nothing extra: a PDK call
//! is a stack switch. Running it on a worker thread of its own costs two cross-thread wake-ups
//! per PDK call, but a handler that sleeps, waits or computes there holds up nobody else, and
//! waits for nobody: events sharing a thread can only take turns, so two of them waiting for
//! each other on one thread would wait forever.
//!
//! So a phase starts on worker threads of its own, and comes to the active worker once its
//! handlers have shown they are quick: when the running average of the time an event's
//! handler runs (the sum of its stretches between PDK calls) falls under [`INLINE_BELOW`],
//! after a dozen quick events. It goes back when the average passes [`OFFLOAD_ABOVE`], or at
//! once when one stretch held the active worker long enough for the watchdog to move the
//! serving elsewhere. The sum, not the longest stretch, decides: a handler that computes in
//! many short stretches still takes that much of the active worker from everyone else.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use plugin_abi::Phase;

/// A phase whose handlers run more than this per event, on average, runs on worker threads:
/// what two cross-thread wake-ups per PDK call cost is small beside it.
pub const OFFLOAD_ABOVE: Duration = Duration::from_micros(100);

/// A phase on worker threads whose handlers run less than this per event comes back.
pub const INLINE_BELOW: Duration = Duration::from_micros(50);

/// The pace of one phase of one loaded plugin.
#[derive(Debug)]
pub struct PhasePace {
    /// Running average of the handler time per event, in nanoseconds (weight 1/8 for the
    /// newest).
    average_ns: AtomicU64,
    offload: AtomicBool,
}

impl Default for PhasePace {
    /// A phase not seen yet: on worker threads, with an average quick stretches bring down.
    fn default() -> Self {
        PhasePace {
            average_ns: AtomicU64::new(nanos(OFFLOAD_ABOVE) * 2),
            offload: AtomicBool::new(true),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl PhasePace {
    /// Whether the phase's next events run on worker threads.
    pub fn offloaded(&self) -> bool {
        self.offload.load(Ordering::Relaxed)
    }

    /// Records the time one event's handler ran; returns true when this moved the phase to
    /// worker threads.
    pub fn record(&self, ran: Duration) -> bool {
        let ns = nanos(ran);
        let step = |old: u64| Some(old - old / 8 + ns / 8);
        let old = self
            .average_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, step)
            .unwrap_or_default();
        let average = Duration::from_nanos(old - old / 8 + ns / 8);
        if average > OFFLOAD_ABOVE {
            !self.offload.swap(true, Ordering::Relaxed)
        } else {
            if average < INLINE_BELOW {
                self.offload.store(false, Ordering::Relaxed);
            }
            false
        }
    }

    /// Moves the phase to worker threads now (a stretch held its thread); returns true
    /// if it was not there yet.
    pub fn offload(&self) -> bool {
        // A stuck stretch counts as well over the threshold, so the average agrees.
        let floor = nanos(OFFLOAD_ABOVE) * 2;
        self.average_ns.fetch_max(floor, Ordering::Relaxed);
        !self.offload.swap(true, Ordering::Relaxed)
    }
}

/// The pace of every phase of one loaded plugin.
#[derive(Debug, Default)]
pub struct PluginPace {
    phases: [PhasePace; Phase::ALL.len()],
}

impl PluginPace {
    /// The pace of `phase`.
    pub fn phase(&self, phase: Phase) -> &PhasePace {
        &self.phases[phase as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_phase_starts_apart_and_quick_events_bring_it_in() {
        let pace = PhasePace::default();
        assert!(pace.offloaded());
        let quick = (1..=100)
            .find(|_| {
                pace.record(Duration::from_micros(5));
                !pace.offloaded()
            })
            .expect("quick events bring it in");
        assert!((5..20).contains(&quick), "after {quick} events");
    }

    #[test]
    fn events_between_the_thresholds_stay_where_they_are() {
        let pace = PhasePace::default();
        for _ in 0..200 {
            pace.record(Duration::from_micros(70));
        }
        assert!(pace.offloaded(), "never came in");
        for _ in 0..100 {
            pace.record(Duration::from_micros(5));
        }
        for _ in 0..200 {
            pace.record(Duration::from_micros(70));
        }
        assert!(!pace.offloaded(), "never went out");
    }

    #[test]
    fn slow_stretches_move_a_phase_out_and_quick_ones_bring_it_back() {
        let pace = PhasePace::default();
        for _ in 0..100 {
            assert!(!pace.record(Duration::from_micros(5)));
        }
        assert!(!pace.offloaded());
        let moved = (0..20)
            .map(|_| pace.record(Duration::from_micros(200)))
            .filter(|&m| m)
            .count();
        assert_eq!(moved, 1, "moved once, however many slow stretches follow");
        assert!(pace.offloaded());
        for _ in 0..100 {
            pace.record(Duration::from_micros(2));
        }
        assert!(!pace.offloaded());
    }

    #[test]
    fn a_stuck_stretch_moves_it_at_once() {
        let pace = PhasePace::default();
        for _ in 0..100 {
            pace.record(Duration::from_micros(1));
        }
        assert!(pace.offload());
        assert!(!pace.offload());
        assert!(pace.offloaded());
        // A few quick stretches do not bring it back at once.
        for _ in 0..3 {
            pace.record(Duration::from_micros(1));
        }
        assert!(pace.offloaded());
    }

    #[test]
    fn phases_are_kept_apart() {
        let pace = PluginPace::default();
        for _ in 0..100 {
            pace.phase(Phase::Access).record(Duration::from_micros(1));
        }
        assert!(pace.phase(Phase::Log).offloaded());
        assert!(!pace.phase(Phase::Access).offloaded());
    }
}
