//! A handler's pace is its own time: on a machine whose cores are all busy, a quick handler
//! is preempted now and then, and must not be taken for a slow one. This file is a test binary
//! of its own, so that no other test shares the machine with its busy threads. Nothing here
//! measures time: it counts log lines.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
};

use kong_sim::{kong::Answer, kong::Entity, server::Prefix};
use serde_json::json;

#[test]
fn a_quick_handler_stays_on_its_serving_thread_when_every_core_is_busy() {
    let (_prefix, server) =
        Prefix::serving(&[("blocker", "blocker.so"), ("hello", "hello.so")], &[]);
    let kong = server.kong();
    let hello = Entity::new(&kong, "hello", json!({"message": "hi"}));
    let quick = Entity::new(&kong, "blocker", json!({"mode": "where"}));
    let sleeper = Entity::new(&kong, "blocker", json!({"mode": "sleep", "ms": 10}));
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        // More busy threads than cores: every thread of the server is preempted now and then.
        for _ in 0..cores + 2 {
            s.spawn(|| {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            });
        }
        for _ in 0..40 {
            quick.run("access", |_| Answer::Nil).expect("runs");
        }
        let runs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..500 {
                        hello.run("access", |_| Answer::Nil).expect("hello runs");
                    }
                })
            })
            .collect();
        for run in runs {
            run.join().unwrap();
        }
        // The blocker's phase is inline now; a handler that sleeps sends it apart.
        for _ in 0..10 {
            sleeper.run("access", |_| Answer::Nil).expect("sleeps");
        }
        stop.store(true, Ordering::Relaxed);
    });
    let log = server.stderr();
    let apart = |plugin: &str| {
        log.lines()
            .filter(|l| l.contains("runs apart") && l.contains(&format!("plugin=\"{plugin}\"")))
            .count()
    };
    assert_eq!(
        apart("hello"),
        0,
        "hello never left its serving thread:\n{log}"
    );
    assert!(
        apart("blocker") >= 1,
        "the sleeping handler went apart:\n{log}"
    );
}
