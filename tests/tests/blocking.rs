//! Handlers that block, compute or wait on each other hold up only their own events. Nothing
//! here measures time: each test would deadlock, or count the wrong answers, if events were
//! run one after the other on one thread.

use std::{path::Path, thread};

use kong_sim::{
    kong::{Answer, Call, Entity, Kong, Outcome, nil},
    server::{Prefix, Server},
};
use serde_json::json;

fn serve(extra: &[&str]) -> (Prefix, Server) {
    Prefix::serving(&[("blocker", "blocker.so"), ("hello", "hello.so")], extra)
}

fn hello(kong: &Kong, n: usize) {
    let entity = Entity::new(kong, "hello", json!({"message": "hi"}));
    for _ in 0..n {
        let outcome = entity.run("access", nil).expect("hello runs");
        assert_eq!(outcome.calls[1].method, "kong.response.set_header");
    }
}

#[test]
fn a_handler_waiting_for_another_event_meets_it() {
    let (_prefix, server) = serve(&[]);
    let kong = server.kong();
    let entity = Entity::new(&kong, "blocker", json!({"mode": "rendezvous"}));
    let outcomes: Vec<Outcome> = thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| entity.run("access", nil).expect("the event runs")))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for outcome in &outcomes {
        assert_eq!(
            outcome.response_header("x-blocker"),
            Some("met"),
            "{:?}",
            outcome.calls
        );
    }
}

#[test]
fn hello_is_served_while_handlers_are_blocked() {
    let (prefix, server) = serve(&[]);
    let kong = server.kong();
    let gate = prefix.path().join("gate");
    let blocked = Entity::new(&kong, "blocker", json!({"mode": "gate", "path": gate}));
    let computing = Entity::new(&kong, "blocker", json!({"mode": "spin", "us": 3000}));
    thread::scope(|s| {
        let waiting: Vec<_> = (0..4)
            .map(|_| s.spawn(|| blocked.run("access", nil).expect("the gated event runs")))
            .collect();
        let spinning: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..20)
                        .map(|_| computing.run("access", nil).expect("computes"))
                        .filter(|o| o.response_header("x-blocker") == Some("computed"))
                        .count()
                })
            })
            .collect();
        // If the gated handlers held up other events, this would never finish, and they would
        // time out instead of seeing the gate open.
        hello(&kong, 200);
        std::fs::write(&gate, b"open").unwrap();
        for run in waiting {
            assert_eq!(
                run.join().unwrap().response_header("x-blocker"),
                Some("opened")
            );
        }
        for run in spinning {
            assert_eq!(run.join().unwrap(), 20);
        }
    });
    drop(server);
}

#[test]
fn a_handler_stays_on_its_thread_across_pdk_calls_however_connections_hop() {
    let (prefix, server) = serve(&[]);
    let kong = server.kong();
    let gate = prefix.path().join("gate");
    let threads = Entity::new(&kong, "blocker", json!({"mode": "threads"}));
    let sleeper = Entity::new(&kong, "blocker", json!({"mode": "sleep", "ms": 3}));
    let blocked = Entity::new(&kong, "blocker", json!({"mode": "gate", "path": gate}));
    let same = thread::scope(|s| {
        // Handlers that hold their threads make the connections move between workers.
        let sleeping = s.spawn(|| {
            for _ in 0..100 {
                sleeper.run("access", nil).expect("sleeps");
            }
        });
        let gated: Vec<_> = (0..2)
            .map(|_| s.spawn(|| blocked.run("access", nil).expect("gated")))
            .collect();
        let checks: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..500)
                        .map(|_| threads.run("access", nil).expect("runs"))
                        .filter(|o| o.response_header("x-same-thread") == Some("yes"))
                        .count()
                })
            })
            .collect();
        let same: usize = checks.into_iter().map(|c| c.join().unwrap()).sum();
        std::fs::write(&gate, b"open").unwrap();
        sleeping.join().unwrap();
        gated.into_iter().for_each(|g| drop(g.join().unwrap()));
        same
    });
    assert_eq!(
        same, 2000,
        "every handler saw one thread and its thread-locals"
    );
}

#[test]
fn a_lock_held_across_a_pdk_call_does_not_stop_the_server() {
    let (prefix, server) = serve(&[]);
    let kong = server.kong();
    let gate = prefix.path().join("gate");
    let locker = Entity::new(&kong, "blocker", json!({"mode": "mutex", "path": gate}));
    let first_call = std::sync::Barrier::new(2);
    let outcomes = thread::scope(|s| {
        // The first event takes the lock and makes a PDK call, whose answer waits until the
        // second event is blocked on the lock.
        let holder = s.spawn(|| {
            locker
                .run("access", |call: &Call| {
                    if call.method == "kong.request.get_header" {
                        first_call.wait();
                        // Give the second event the time to reach the lock: no assertion
                        // depends on it, the lock is contended either way or not at all.
                        thread::sleep(std::time::Duration::from_millis(50));
                    }
                    Answer::Nil
                })
                .expect("the lock holder runs")
        });
        first_call.wait();
        let waiter = s.spawn(|| locker.run("access", nil).expect("the waiter runs"));
        // The server still serves other events...
        hello(&kong, 50);
        // ...so the test can open the gate that lets the waiter give up.
        std::fs::write(&gate, b"open").unwrap();
        [holder.join().unwrap(), waiter.join().unwrap()]
    });
    let locks: Vec<Option<&str>> = outcomes
        .iter()
        .map(|o| o.response_header("x-lock"))
        .collect();
    assert!(
        locks.contains(&Some("held")),
        "the first event kept its lock: {locks:?}"
    );
    assert!(
        !locks.contains(&Some("gave up: timeout")),
        "nothing waited for its timeout: {locks:?}"
    );
    assert!(Path::new(&gate).exists());
}

#[test]
fn shutdown_ends_with_handlers_still_blocked() {
    let (prefix, mut server) = serve(&["-shutdown-grace", "0.2"]);
    let kong = server.kong();
    let gate = prefix.path().join("gate");
    let blocked = Entity::new(&kong, "blocker", json!({"mode": "gate", "path": gate}));
    thread::scope(|s| {
        let waiting: Vec<_> = (0..3)
            .map(|_| s.spawn(|| blocked.run("access", nil)))
            .collect();
        // The blocked handlers run on workers of their own, so hello is served meanwhile.
        hello(&kong, 10);
        let status = server.terminate();
        assert!(status.success(), "{status}");
        assert!(!prefix.socket().exists(), "the socket is removed");
        for run in waiting {
            // Kong sees its connection closed (the simulator panics on it): not a hang, and
            // not an answer.
            assert!(run.join().is_err());
        }
    });
    assert!(
        server
            .stderr()
            .contains("stopping while handlers still run")
    );
}

#[test]
fn one_thread_serves_everything_in_turn() {
    let (_prefix, server) = serve(&["-max-threads", "1"]);
    let kong = server.kong();
    let sleeper = Entity::new(&kong, "blocker", json!({"mode": "sleep", "ms": 1}));
    thread::scope(|s| {
        let sleeping = s.spawn(|| {
            (0..20)
                .map(|_| sleeper.run("access", nil).expect("sleeps"))
                .filter(|o| o.response_header("x-blocker") == Some("slept"))
                .count()
        });
        hello(&kong, 20);
        assert_eq!(sleeping.join().unwrap(), 20);
    });
}

#[test]
fn workers_started_for_blocked_handlers_exit_once_idle() {
    // Two serving workers, so that what stays is known: those two.
    let (prefix, server) = serve(&["-thread-idle-seconds", "0.3", "-threads", "2"]);
    let kong = server.kong();
    // Worker threads, by name (`pluginhost-<index>`): the server's other threads (the watcher
    // of the plugins directory, the watchdog, the log writer) may still be starting when the
    // socket first accepts.
    let pid = server.pid();
    let threads = move || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("the server's threads")
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| {
                name.trim()
                    .strip_prefix("pluginhost-")
                    .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
            })
            .count() as u64
    };
    // A thread names itself once it runs: wait for the serving workers' names.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while threads() < 2 && std::time::Instant::now() < deadline {
        thread::sleep(std::time::Duration::from_millis(10));
    }
    let before = threads();
    assert_eq!(before, 2, "two serving workers");
    let gate = prefix.path().join("gate");
    let blocked = Entity::new(&kong, "blocker", json!({"mode": "gate", "path": gate}));
    let during = thread::scope(|s| {
        let waiting: Vec<_> = (0..6)
            .map(|_| s.spawn(|| blocked.run("access", nil).expect("gated")))
            .collect();
        // Each blocked handler has a worker of its own: wait until they all do.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while threads() < before + 6 && std::time::Instant::now() < deadline {
            thread::sleep(std::time::Duration::from_millis(10));
        }
        let during = threads();
        std::fs::write(&gate, b"open").unwrap();
        for run in waiting {
            assert_eq!(
                run.join().unwrap().response_header("x-blocker"),
                Some("opened")
            );
        }
        during
    });
    assert!(during >= before + 6, "{before} threads, then {during}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while threads() > before && std::time::Instant::now() < deadline {
        thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(threads(), before, "the workers started for them retired");
    // And new ones start when needed again.
    hello(&kong, 5);
    let again = Entity::new(&kong, "blocker", json!({"mode": "sleep", "ms": 1}));
    assert_eq!(
        again
            .run("access", nil)
            .unwrap()
            .response_header("x-blocker"),
        Some("slept")
    );
}
