//! Kong replaces its plugin server at every `kong reload`, and Kong 3.9's process manager does
//! it in either order: the new server spawned while the old one still serves, then SIGTERM to
//! the old one when its nginx worker has drained; or SIGTERM first and the new server spawned
//! at once. Under a steady stream of events from Kong's old and new workers, no connection
//! attempt fails in either order, and no event is lost when the new server comes first. When
//! the old one is stopped first, the connections Kong's new workers opened to it before the new
//! one took the socket over stay with it until it leaves: the events in flight on them then
//! are lost (the guide's operating page says so).

use std::{
    process::Command,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::Duration,
};

use kong_sim::{
    kong::{Entity, Kong, nil},
    paths,
    server::{Prefix, Server},
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

/// A second pluginhost on `prefix`, as Kong's new worker 0 starts it.
fn successor(prefix: &Prefix) -> Server {
    let mut command = Command::new(paths::pluginhost());
    command
        .arg("-kong-prefix")
        .arg(prefix.path())
        .arg("-plugins-directory")
        .arg(prefix.plugins());
    // The old server answers on the socket already: wait for the new one's own "listening".
    let server = Server::spawn(command, prefix.socket());
    server.wait_for_log("listening");
    server
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

#[test]
fn a_reload_that_starts_the_new_server_first_loses_nothing() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    let mut old = prefix.serve(&[]);
    let (old_stop, new_stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let (old_tally, new_tally) = (Tally::default(), Tally::default());
    let new = thread::scope(|s| {
        workers(s, &prefix, &old_stop, &old_tally);
        thread::sleep(Duration::from_millis(300));
        // The reload: new workers, and the new server their worker 0 spawns.
        let new = successor(&prefix);
        workers(s, &prefix, &new_stop, &new_tally);
        thread::sleep(Duration::from_millis(500));
        // The old workers drain and exit; the old worker 0 stops the old server.
        old_stop.store(true, Ordering::Relaxed);
        thread::sleep(Duration::from_millis(50));
        old.signal(Signal::TERM);
        assert!(
            old.wait_exit(Duration::from_secs(5))
                .is_some_and(|s| s.success())
        );
        thread::sleep(Duration::from_millis(300));
        new_stop.store(true, Ordering::Relaxed);
        new
    });
    check("old", &old_tally);
    check("new", &new_tally);
    assert!(
        new_tally
            .last_pids
            .lock()
            .unwrap()
            .iter()
            .all(|&pid| pid == u64::from(new.pid())),
        "the new workers ended on the new server"
    );
    assert!(
        prefix.socket().exists(),
        "the old server left the new one's socket alone"
    );
    old.wait_for_log("another server took the socket over");
}

#[test]
fn a_reload_that_stops_the_old_server_first_refuses_no_connection() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    let mut old = prefix.serve(&[]);
    let (old_stop, new_stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let (old_tally, new_tally) = (Tally::default(), Tally::default());
    let new = thread::scope(|s| {
        workers(s, &prefix, &old_stop, &old_tally);
        thread::sleep(Duration::from_millis(300));
        // The old worker 0 exits first and stops the old server; the new workers start
        // sending at once, and their worker 0 spawns the new server.
        old.signal(Signal::TERM);
        workers(s, &prefix, &new_stop, &new_tally);
        let new = successor(&prefix);
        thread::sleep(Duration::from_millis(500));
        old_stop.store(true, Ordering::Relaxed);
        assert!(
            old.wait_exit(Duration::from_secs(5))
                .is_some_and(|s| s.success())
        );
        thread::sleep(Duration::from_millis(300));
        new_stop.store(true, Ordering::Relaxed);
        new
    });
    check("old", &old_tally);
    assert_eq!(connects_failed(&new_tally), 0, "{:?}", new_tally.errors);
    assert!(new_tally.ok.load(Ordering::Relaxed) > 0);
    eprintln!(
        "new workers: {} events, {} lost on connections the old server held",
        new_tally.ok.load(Ordering::Relaxed),
        new_tally.failed.load(Ordering::Relaxed)
    );
    assert!(
        new_tally
            .last_pids
            .lock()
            .unwrap()
            .iter()
            .all(|&pid| pid == u64::from(new.pid())),
        "the new workers ended on the new server"
    );
    assert!(prefix.socket().exists());
}
