//! Which serving worker serves the connections of each Kong worker process.
//!
//! An nginx worker runs a request's whole event: its `HandleEvent` and every `Step`, over
//! whichever of its pooled connections is free. Keeping all the connections of one process
//! (its pid, from `SO_PEERCRED`) on one serving worker keeps every event's Steps on the worker
//! the event lives on, where resuming it is a stack switch; different processes are spread
//! over the serving workers, so every core serves. A process is placed on the serving worker
//! with the fewest processes when its first connection arrives, and forgotten with its last.

use std::{collections::HashMap, sync::Mutex};

/// The peer process of a connection whose pid the kernel did not tell.
pub const UNKNOWN_PID: u32 = 0;

#[derive(Debug, Clone, Copy)]
struct Place {
    worker: usize,
    connections: usize,
}

/// Where each Kong worker process's connections are served.
#[derive(Debug, Default)]
pub struct Placement {
    by_pid: Mutex<HashMap<u32, Place>>,
}

impl Placement {
    /// Counts a new connection of process `pid` and returns the worker that serves it: the
    /// one its other connections are on, if that one still serves, else the one of `serving`
    /// with the fewest processes.
    pub fn connect(&self, pid: u32, serving: &[usize]) -> usize {
        let mut by_pid = self.lock();
        let current = by_pid
            .get(&pid)
            .map(|p| p.worker)
            .filter(|w| serving.contains(w));
        let worker = current.unwrap_or_else(|| least_loaded(&by_pid, serving));
        let place = by_pid.entry(pid).or_insert(Place {
            worker,
            connections: 0,
        });
        place.worker = worker;
        place.connections += 1;
        worker
    }

    /// Forgets one connection of `pid`, and the process with its last one.
    pub fn disconnect(&self, pid: u32) {
        let mut by_pid = self.lock();
        if let Some(place) = by_pid.get_mut(&pid) {
            place.connections = place.connections.saturating_sub(1);
            if place.connections == 0 {
                by_pid.remove(&pid);
            }
        }
    }

    /// The worker that serves `pid`'s connections, if it has any.
    pub fn worker_of(&self, pid: u32) -> Option<usize> {
        self.lock().get(&pid).map(|p| p.worker)
    }

    /// Moves every process served by worker `from` to worker `to`.
    pub fn move_all(&self, from: usize, to: usize) {
        for place in self.lock().values_mut() {
            if place.worker == from {
                place.worker = to;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Place>> {
        self.by_pid.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The serving worker with the fewest processes (the first of them on a tie).
fn least_loaded(by_pid: &HashMap<u32, Place>, serving: &[usize]) -> usize {
    serving
        .iter()
        .copied()
        .min_by_key(|&w| by_pid.values().filter(|p| p.worker == w).count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_stays_on_one_worker_and_processes_spread() {
        let placement = Placement::default();
        let serving = [0, 1];
        let a = placement.connect(100, &serving);
        let b = placement.connect(200, &serving);
        assert_ne!(a, b, "two processes, two workers");
        for _ in 0..5 {
            assert_eq!(placement.connect(100, &serving), a);
            assert_eq!(placement.connect(200, &serving), b);
        }
        let c = placement.connect(300, &serving);
        let d = placement.connect(400, &serving);
        assert_ne!(c, d, "four processes, two each");
    }

    #[test]
    fn a_process_is_forgotten_with_its_last_connection() {
        let placement = Placement::default();
        placement.connect(100, &[0, 1]);
        placement.connect(100, &[0, 1]);
        placement.disconnect(100);
        assert_eq!(placement.worker_of(100), Some(0));
        placement.disconnect(100);
        assert_eq!(placement.worker_of(100), None);
    }

    #[test]
    fn processes_follow_a_worker_that_is_replaced() {
        let placement = Placement::default();
        assert_eq!(placement.connect(100, &[0, 1]), 0);
        placement.move_all(0, 2);
        assert_eq!(placement.worker_of(100), Some(2));
        assert_eq!(placement.connect(100, &[1, 2]), 2);
        // A worker that no longer serves keeps nobody.
        assert_eq!(placement.connect(100, &[1, 3]), 1);
    }
}
