//! Kong replaces its plugin server at every `kong reload`, and Kong 3.9's process manager does
//! it in either order: the new server spawned while the old one still serves, then SIGTERM to
//! the old one when its nginx worker has drained; or SIGTERM first and the new server spawned
//! at once. Under a steady stream of events from Kong's old and new workers, no connection
//! attempt fails and no event is lost in either order: when the old one is stopped first, the
//! connections Kong's new workers opened to it before the new one took the socket over are
//! handed to the new one, idle, through its hand-over socket, and the Steps of the old one's
//! events come back to it from there.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use kong_sim::{
    server::Prefix,
    steady::{StopOnDrop, Tally, hello_workers},
};
use rustix::process::Signal;

/// Kong workers (client threads, each with its own connection pool) on each side of a reload.
const WORKERS: usize = 3;

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
    let socket = prefix.socket();
    let (old_stop, new_stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let (old_tally, new_tally) = (Tally::default(), Tally::default());
    let new = thread::scope(|s| {
        hello_workers(s, WORKERS, &socket, &old_stop, &old_tally);
        let _stop = (StopOnDrop(&old_stop), StopOnDrop(&new_stop));
        thread::sleep(Duration::from_millis(300));
        if order == Order::OldStoppedFirst {
            old.signal(Signal::TERM);
        }
        let new = if order == Order::NewFirst {
            let new = prefix.serve_next();
            hello_workers(s, WORKERS, &socket, &new_stop, &new_tally);
            thread::sleep(Duration::from_millis(500));
            // The old workers drain and exit; the old worker 0 stops the old server.
            old_stop.store(true, Ordering::Relaxed);
            thread::sleep(Duration::from_millis(50));
            old.signal(Signal::TERM);
            new
        } else {
            hello_workers(s, WORKERS, &socket, &new_stop, &new_tally);
            let new = prefix.serve_next();
            thread::sleep(Duration::from_millis(500));
            old_stop.store(true, Ordering::Relaxed);
            new
        };
        let exit = old.wait_exit(Duration::from_secs(6));
        assert!(
            exit.is_some_and(|s| s.success()),
            "the old server: {exit:?}\nOLD PROCESSES:\n{}\nOLD LOG:\n{}\nNEW LOG:\n{}",
            old.processes(),
            old.stderr(),
            new.stderr()
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
    let lost = |tally: &Tally| tally.failed.load(std::sync::atomic::Ordering::Relaxed) > 0;
    if lost(&old_tally) || lost(&new_tally) {
        eprintln!("OLD LOG:\n{}\nNEW LOG:\n{}", old.stderr(), new.stderr());
    }
    (old_tally, new_tally)
}

#[test]
fn a_reload_that_starts_the_new_server_first_loses_nothing() {
    let (old, new) = reload(Order::NewFirst);
    old.check_all_answered("old");
    new.check_all_answered("new");
}

#[test]
fn a_reload_that_stops_the_old_server_first_loses_nothing() {
    let (old, new) = reload(Order::OldStoppedFirst);
    old.check_all_answered("old");
    assert_eq!(new.connects_failed(), 0, "{:?}", new.errors);
    new.check_all_answered("new");
}
