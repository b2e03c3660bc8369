//! How long a plugin's handlers run per event, phase by phase, and so where the phase's next
//! events run: on the serving worker that read Kong's request (*inline*), or *apart*, each on
//! a worker thread of its own.
//!
//! Running a handler inline costs nothing extra: a PDK call is a stack switch. Running it
//! apart costs two cross-thread wake-ups per PDK call, but a handler that sleeps, waits or
//! computes there holds up nobody else, and waits for nobody: events sharing a thread can only
//! take turns, so two of them waiting for each other on one thread would wait forever.
//!
//! So a phase starts on *probation*, apart, and comes inline once its handlers have shown they
//! are quick: when the running average of an event's handler time (the sum of its stretches
//! between PDK calls) falls under [`INLINE_BELOW`], after a dozen quick events. A phase whose
//! average is over [`APART_ABOVE`] after [`PROBATION_EVENTS`] events is proven slow and runs
//! apart; one in between stays on probation. An inline phase goes apart again when the average
//! passes [`APART_ABOVE`], or at once when one stretch held its serving worker long enough for
//! the watchdog to notice. Either way, a phase comes inline whenever its average falls under
//! [`INLINE_BELOW`]. The sum, not the longest stretch, decides: a
//! handler that computes in many short stretches still takes that much of its serving worker.
//!
//! The time is the handler's own ([`crate::sched`]): what it computed, waited or slept, never
//! the time it was preempted on a busy machine.

use std::{
    sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering},
    time::Duration,
};

use plugin_abi::Phase;

/// An inline phase whose handlers run more than this per event, on average, goes apart: what
/// two cross-thread wake-ups per PDK call cost is small beside it.
pub const APART_ABOVE: Duration = Duration::from_micros(100);

/// A phase apart whose handlers run less than this per event comes inline.
pub const INLINE_BELOW: Duration = Duration::from_micros(50);

/// Events a new phase runs on probation before it can be proven slow.
pub const PROBATION_EVENTS: u32 = 16;

/// Where a phase's next event runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    /// On the serving worker that read the request.
    Inline,
    /// On a worker thread of its own.
    Apart,
    /// Apart too, while the phase is not proven slow: the pool may refuse the thread (see
    /// [`crate::workers::Pool::pick_apart`]), and the event then runs inline.
    Probation,
}

/// What recording an event changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An inline phase went apart.
    WentApart,
    /// A phase on probation stayed apart: it is slow.
    ProvenSlow,
}

/// The pace of one phase of one loaded plugin.
#[derive(Debug)]
pub struct PhasePace {
    /// Running average of the handler time per event, in nanoseconds (weight 1/8 for the
    /// newest).
    average_ns: AtomicU64,
    /// [`INLINE`], [`PROBATION`] or [`APART`].
    state: AtomicU8,
    /// Events recorded, up to [`PROBATION_EVENTS`].
    seen: AtomicU32,
}

const INLINE: u8 = 0;
const PROBATION: u8 = 1;
const APART: u8 = 2;
/// Declared by the plugin (`calls_services`): apart whatever its handlers' time.
const DECLARED: u8 = 3;

impl Default for PhasePace {
    /// A phase not seen yet: on probation, with an average quick events bring down.
    fn default() -> Self {
        PhasePace {
            average_ns: AtomicU64::new(nanos(APART_ABOVE) * 2),
            state: AtomicU8::new(PROBATION),
            seen: AtomicU32::new(0),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl PhasePace {
    /// Where the phase's next event runs.
    pub fn placement(&self) -> Where {
        match self.state.load(Ordering::Relaxed) {
            INLINE => Where::Inline,
            PROBATION => Where::Probation,
            _ => Where::Apart,
        }
    }

    /// A phase the plugin declared calls services: its events run apart from the first one,
    /// and stay apart however quick some are (a cache hit is quick, a miss is not).
    pub fn declared_apart() -> Self {
        PhasePace {
            state: AtomicU8::new(DECLARED),
            ..PhasePace::default()
        }
    }

    /// Records the own time one event's handler ran.
    pub fn record(&self, ran: Duration) -> Option<Change> {
        if self.state.load(Ordering::Relaxed) == DECLARED {
            return None;
        }
        let ns = nanos(ran);
        let step = |old: u64| Some(old - old / 8 + ns / 8);
        let old = self
            .average_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, step)
            .unwrap_or_default();
        let average = Duration::from_nanos(old - old / 8 + ns / 8);
        let seen = self
            .seen
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < PROBATION_EVENTS).then_some(n + 1)
            })
            .map_or(PROBATION_EVENTS, |n| n + 1);
        if average < INLINE_BELOW {
            self.state.store(INLINE, Ordering::Relaxed);
            return None;
        }
        if average <= APART_ABOVE {
            return None;
        }
        let from = |state| {
            self.state
                .compare_exchange(state, APART, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        };
        if from(INLINE) {
            Some(Change::WentApart)
        } else if seen >= PROBATION_EVENTS && from(PROBATION) {
            Some(Change::ProvenSlow)
        } else {
            None
        }
    }

    /// Sends the phase apart now (a stretch held its serving worker); true if it was not
    /// proven slow already.
    pub fn go_apart(&self) -> bool {
        if self.state.load(Ordering::Relaxed) == DECLARED {
            return false;
        }
        // A stuck stretch counts as well over the threshold, so the average agrees.
        self.average_ns
            .fetch_max(nanos(APART_ABOVE) * 2, Ordering::Relaxed);
        self.seen.store(PROBATION_EVENTS, Ordering::Relaxed);
        self.state.swap(APART, Ordering::Relaxed) != APART
    }
}

/// The pace of every phase of one loaded plugin.
#[derive(Debug, Default)]
pub struct PluginPace {
    phases: [PhasePace; Phase::ALL.len()],
}

impl PluginPace {
    /// The pace of a plugin whose `calls_services` phases run apart from the first event.
    pub fn declaring(calls_services: &[Phase]) -> Self {
        PluginPace {
            phases: Phase::ALL.map(|phase| {
                if calls_services.contains(&phase) {
                    PhasePace::declared_apart()
                } else {
                    PhasePace::default()
                }
            }),
        }
    }

    /// The pace of `phase`.
    pub fn phase(&self, phase: Phase) -> &PhasePace {
        &self.phases[phase as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_phase_is_on_probation_and_quick_events_bring_it_in() {
        let pace = PhasePace::default();
        assert_eq!(pace.placement(), Where::Probation);
        let quick = (1..=100)
            .find(|_| {
                assert_eq!(pace.record(Duration::from_micros(5)), None);
                pace.placement() == Where::Inline
            })
            .expect("quick events bring it in");
        assert!(
            (5..PROBATION_EVENTS).contains(&quick),
            "after {quick} events"
        );
    }

    #[test]
    fn a_slow_phase_ends_its_probation_apart() {
        let pace = PhasePace::default();
        let changes: Vec<_> = (0..40)
            .filter_map(|_| pace.record(Duration::from_millis(10)))
            .collect();
        assert_eq!(changes, [Change::ProvenSlow], "said once");
        assert_eq!(pace.placement(), Where::Apart);
    }

    #[test]
    fn events_between_the_thresholds_stay_where_they_are() {
        let pace = PhasePace::default();
        for _ in 0..200 {
            pace.record(Duration::from_micros(70));
        }
        assert_eq!(
            pace.placement(),
            Where::Probation,
            "never came in, never proven slow"
        );
        for _ in 0..100 {
            pace.record(Duration::from_micros(5));
        }
        for _ in 0..200 {
            pace.record(Duration::from_micros(70));
        }
        assert_eq!(pace.placement(), Where::Inline, "never went apart");
    }

    #[test]
    fn slow_stretches_send_a_phase_apart_and_quick_ones_bring_it_back() {
        let pace = PhasePace::default();
        for _ in 0..100 {
            assert_eq!(pace.record(Duration::from_micros(5)), None);
        }
        assert_eq!(pace.placement(), Where::Inline);
        let went = (0..20)
            .filter_map(|_| pace.record(Duration::from_micros(200)))
            .collect::<Vec<_>>();
        assert_eq!(
            went,
            [Change::WentApart],
            "once, however many slow events follow"
        );
        assert_eq!(pace.placement(), Where::Apart);
        for _ in 0..100 {
            pace.record(Duration::from_micros(2));
        }
        assert_eq!(pace.placement(), Where::Inline);
    }

    #[test]
    fn a_stuck_stretch_sends_it_apart_at_once() {
        let pace = PhasePace::default();
        for _ in 0..100 {
            pace.record(Duration::from_micros(1));
        }
        assert!(pace.go_apart());
        assert!(!pace.go_apart());
        assert_eq!(pace.placement(), Where::Apart);
        // A few quick events do not bring it back at once.
        for _ in 0..3 {
            pace.record(Duration::from_micros(1));
        }
        assert_eq!(pace.placement(), Where::Apart);
    }

    #[test]
    fn a_declared_phase_runs_apart_from_the_first_event_and_stays() {
        let pace = PluginPace::declaring(&[Phase::Access]);
        assert_eq!(pace.phase(Phase::Access).placement(), Where::Apart);
        for _ in 0..100 {
            assert_eq!(
                pace.phase(Phase::Access).record(Duration::from_micros(1)),
                None
            );
        }
        assert_eq!(pace.phase(Phase::Access).placement(), Where::Apart);
        assert!(!pace.phase(Phase::Access).go_apart());
        assert_eq!(pace.phase(Phase::Log).placement(), Where::Probation);
    }

    #[test]
    fn phases_are_kept_apart() {
        let pace = PluginPace::default();
        for _ in 0..100 {
            pace.phase(Phase::Access).record(Duration::from_micros(1));
        }
        assert_eq!(pace.phase(Phase::Log).placement(), Where::Probation);
        assert_eq!(pace.phase(Phase::Access).placement(), Where::Inline);
    }
}
