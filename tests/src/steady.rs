//! A steady stream of events from several Kong workers (client threads, each with its own
//! connection pool, as nginx workers have), counted, for the tests that replace or crash the
//! server under load.

use std::{
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
};

use serde_json::json;

use crate::kong::{Entity, Kong, nil};

/// What the workers of one stream did.
#[derive(Default)]
pub struct Tally {
    /// Events answered.
    pub ok: AtomicU64,
    /// Events that failed.
    pub failed: AtomicU64,
    /// The errors, for the failure message.
    pub errors: Mutex<Vec<String>>,
    /// The last server pid each worker's connections announced.
    pub last_pids: Mutex<Vec<u64>>,
}

impl Tally {
    /// The errors that are failed connection attempts.
    pub fn connects_failed(&self) -> usize {
        let errors = self.errors.lock().unwrap();
        errors
            .iter()
            .filter(|e| e.starts_with("trying to connect"))
            .count()
    }

    /// Fails the test unless every event was answered, and some were.
    pub fn check_all_answered(&self, who: &str) {
        let errors = self.errors.lock().unwrap();
        assert_eq!(
            self.failed.load(Ordering::Relaxed),
            0,
            "{who} workers: {:?}",
            &errors[..errors.len().min(5)]
        );
        assert!(
            self.ok.load(Ordering::Relaxed) > 0,
            "{who} workers sent nothing"
        );
    }
}

/// Runs `workers` Kong workers sending hello's access events over `socket` until `stop`,
/// counting answers into `tally`.
pub fn hello_workers<'s>(
    s: &'s thread::Scope<'s, '_>,
    workers: usize,
    socket: &'s Path,
    stop: &'s AtomicBool,
    tally: &'s Tally,
) {
    for _ in 0..workers {
        s.spawn(move || {
            let kong = Kong::tolerant(socket);
            let entity = Entity::new(&kong, "hello", json!({}));
            while !stop.load(Ordering::Relaxed) {
                match entity.run("access", nil) {
                    Ok(_) => tally.ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        tally.errors.lock().unwrap().push(e);
                        tally.failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            let last = kong
                .server_pids
                .lock()
                .unwrap()
                .last()
                .copied()
                .unwrap_or(0);
            tally.last_pids.lock().unwrap().push(last);
        });
    }
}

/// Stops a stream when dropped, also when the test fails meanwhile: a scope waits for its
/// threads, and workers never told to stop would hold a failed test forever.
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
