//! Waiting for what a server does in its own time (a reload, a reap, bytes read): the tests
//! poll for the outcome and count it, and fail with what they waited for when it never comes.

use std::{
    thread,
    time::{Duration, Instant},
};

/// How long any outcome may take on a loaded CI machine.
const PATIENCE: Duration = Duration::from_secs(15);

/// Polls `done` until it holds; panics naming `what` after 15 s.
pub fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}
