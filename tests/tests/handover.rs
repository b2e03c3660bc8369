//! Kong replaces its plugin server at every `kong reload`, and Kong 3.9's process manager does
//! it in either order: the new server spawned while the old one still serves, then SIGTERM to
//! the old one when its nginx worker has drained; or SIGTERM first and the new server spawned
//! at once. Under a steady stream of events from Kong's old and new workers, no connection
//! attempt fails in either order, and no event is lost when the new server comes first. When
//! the old one is stopped first, the connections Kong's new workers opened to it before the new
//! one took the socket over stay with it until it leaves: the events in flight on them then
//! are lost (the guide's operating page says so).

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::Duration,
};

use kong_sim::{
    kong::{Entity, Kong, nil},
    server::Prefix,
};
use rustix::process::Signal;
use serde_json::json;

/// Kong workers (client threads, each with its own connection pool) on each side of a reload.
const WORKERS: usize = 3;

/// What the workers of one generation did.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    /// The first few errors, for the failure message.
    errors: std::sync::Mutex<Vec<String>>,
    /// The last server pid each worker's connections announced.
    last_pids: std::sync::Mutex<Vec<u64>>,
}

/// Runs `WORKERS` Kong workers sending hello's access events over `prefix`'s socket until
/// `stop`, counting answers into `tally`.
fn workers<'s>(
    s: &'s thread::Scope<'s, '_>,
    prefix: &'s Prefix,
    stop: &'s AtomicBool,
    tally: &'s Tally,
) {
    for _ in 0..WORKERS {
        s.spawn(move || {
            let kong = Kong::tolerant(prefix.socket());
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

/// The errors that are failed connection attempts.
fn connects_failed(tally: &Tally) -> usize {
    let errors = tally.errors.lock().unwrap();
    errors
        .iter()
        .filter(|e| e.starts_with("trying to connect"))
        .count()
}

fn check(generation: &str, tally: &Tally) {
    let errors = tally.errors.lock().unwrap();
    assert_eq!(
        tally.failed.load(Ordering::Relaxed),
        0,
        "{generation} workers: {:?}",
        &errors[..errors.len().min(5)]
    );
    assert!(
        tally.ok.load(Ordering::Relaxed) > 0,
        "{generation} workers sent nothing"
    );
}

/// In which order Kong replaces the server.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// The new worker 0 spawns the new server; the old worker 0, once drained, stops the old.
    NewFirst,
    /// The old worker 0 exits first and stops the old server; the new workers send at once,
    /// and their worker 0 spawns the new server.
    OldStoppedFirst,
}

/// A `kong reload` in `order` under load: what the old and the new workers got.
fn reload(order: Order) -> (Tally, Tally) {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    let mut old = prefix.serve(&[]);
    let (old_stop, new_stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let (old_tally, new_tally) = (Tally::default(), Tally::default());
    let new = thread::scope(|s| {
        workers(s, &prefix, &old_stop, &old_tally);
        thread::sleep(Duration::from_millis(300));
        if order == Order::OldStoppedFirst {
            old.signal(Signal::TERM);
        }
        let new = if order == Order::NewFirst {
            let new = prefix.serve_next();
            workers(s, &prefix, &new_stop, &new_tally);
            thread::sleep(Duration::from_millis(500));
            // The old workers drain and exit; the old worker 0 stops the old server.
            old_stop.store(true, Ordering::Relaxed);
            thread::sleep(Duration::from_millis(50));
            old.signal(Signal::TERM);
            new
        } else {
            workers(s, &prefix, &new_stop, &new_tally);
            let new = prefix.serve_next();
            thread::sleep(Duration::from_millis(500));
            old_stop.store(true, Ordering::Relaxed);
            new
        };
        let exit = old.wait_exit(Duration::from_secs(6));
        assert!(
            exit.is_some_and(|s| s.success()),
            "the old server: {exit:?}"
        );
        thread::sleep(Duration::from_millis(300));
        new_stop.store(true, Ordering::Relaxed);
        new
    });
    let pids = new_tally.last_pids.lock().unwrap().clone();
    assert!(
        pids.iter().all(|&pid| pid == u64::from(new.pid())),
        "the new workers ended on the new server: {pids:?}"
    );
    assert!(
        prefix.socket().exists(),
        "the old server left the new one's socket alone"
    );
    old.wait_for_log("another server took the socket over");
    (old_tally, new_tally)
}

#[test]
fn a_reload_that_starts_the_new_server_first_loses_nothing() {
    let (old, new) = reload(Order::NewFirst);
    check("old", &old);
    check("new", &new);
}

#[test]
fn a_reload_that_stops_the_old_server_first_refuses_no_connection() {
    let (old, new) = reload(Order::OldStoppedFirst);
    check("old", &old);
    assert_eq!(connects_failed(&new), 0, "{:?}", new.errors);
    assert!(new.ok.load(Ordering::Relaxed) > 0);
    eprintln!(
        "new workers: {} events, {} lost on connections the old server held",
        new.ok.load(Ordering::Relaxed),
        new.failed.load(Ordering::Relaxed)
    );
}
