//! A service that hangs holds up only the plugin and the instance that call it: their handlers
//! hold at most their share of the worker threads, every other plugin's and instance's events
//! go on, every event of the hung one is answered at once, and the server recovers when the
//! service answers again. Nothing here measures time: each test counts events, answers and
//! threads.

use std::{
    path::Path,
    sync::atomic::{AtomicUsize, Ordering},
    thread,
    time::Duration,
};

use kong_sim::{
    kong::{Answer, Call, Conn, Entity, Kong, get, map, nil},
    load::{
        client::{self, Exchange, Load},
        procfs,
    },
    metrics::{self, LISTEN_ANY},
    server::{Prefix, Server},
    wait,
};
use rmpv::Value;
use serde_json::json;

/// Threads in the tests' pool: 2 serving, so 62 for events apart. A plugin may hold 3/4 of
/// them (46), one instance 3/4 of that (34); what that leaves is 12 for its siblings (of
/// which one instance may hold 9) and 28 for the other plugins.
const MAX_THREADS: &str = "64";
const HUNG_SHARE: usize = 34;

fn serve(extra: &[&str]) -> (Prefix, Server) {
    let mut args = vec!["-threads", "2"];
    args.extend_from_slice(&LISTEN_ANY);
    args.extend_from_slice(extra);
    Prefix::serving(
        &[
            ("blocker", "blocker.so"),
            ("sleeper", "sleeper.so"),
            ("hello", "hello.so"),
        ],
        &args,
    )
}

/// Runs `events` events of `entity` from `threads` threads; returns how many set `name`
/// to a value starting with `value`.
fn run_all(entity: &Entity<'_>, threads: usize, events: usize, name: &str, value: &str) -> usize {
    thread::scope(|s| {
        let runs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    (0..events)
                        .filter(|_| {
                            let outcome = entity.run("access", nil).expect("the event runs");
                            outcome
                                .response_header(name)
                                .is_some_and(|v| v.starts_with(value))
                        })
                        .count()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).sum()
    })
}

/// How Kong's client left one event of the hung instance.
#[derive(Debug, PartialEq)]
enum Storm {
    /// Started: Kong answered its first PDK call, then gave up waiting for the next step.
    GivenUp,
    /// Refused at once, with this error.
    Refused(String),
}

/// One event of `instance` as Kong runs it against a service that hangs: `HandleEvent`,
/// which must be answered within a few seconds; then Kong answers the handler's first PDK
/// call and gives up on the event (its timeout), closing the connection.
fn storm_event(socket: &Path, instance: u64, msgid: u64) -> Storm {
    let mut conn = Conn::open(socket).expect("connects");
    conn.set_read_timeout(Duration::from_secs(5));
    let param = map([
        ("InstanceId", Value::from(instance)),
        ("EventName", Value::from("access")),
    ]);
    conn.send(msgid, "plugin.HandleEvent", param).unwrap();
    match conn.read_response(msgid) {
        Ok(step) => {
            let id = get(&step, "EventId").cloned().expect("an EventId");
            let step = map([("EventId", id), ("Data", Value::from("example.com"))]);
            conn.send(msgid + 1, "plugin.StepString", step).unwrap();
            Storm::GivenUp
        }
        Err(e) => Storm::Refused(e),
    }
}

/// Plays `count` events of the hung instance from 16 threads; returns (given up, refused).
fn storm(socket: &Path, instance: u64, count: usize) -> (usize, usize) {
    let next = AtomicUsize::new(0);
    let (given_up, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return;
                    }
                    match storm_event(socket, instance, 2 * n as u64 + 1) {
                        Storm::GivenUp => given_up.fetch_add(1, Ordering::Relaxed),
                        Storm::Refused(e) => {
                            assert!(
                                e.starts_with("plugin blocker: event refused: instance")
                                    && e.contains(" of plugin blocker holds "),
                                "{e}"
                            );
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
        }
    });
    (given_up.into_inner(), refused.into_inner())
}

fn scrape_value(address: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics::scrape(address).value(name, labels)
}

#[test]
fn a_hung_service_holds_up_only_its_own_plugin_and_instance() {
    let (prefix, server) = serve(&[
        "-max-threads",
        MAX_THREADS,
        "-event-timeout",
        "1",
        "-thread-idle-seconds",
        "1",
    ]);
    let address = metrics::address(&server);
    let kong = server.kong();
    let gate = prefix.path().join("service-answers");
    let hung = Entity::new(&kong, "blocker", json!({"mode": "gate", "path": gate}));
    let sibling = Entity::new(&kong, "blocker", json!({"mode": "sleep", "ms": 10}));
    let other = Entity::new(&kong, "sleeper", json!({"ms": 10}));
    let hello = Entity::new(&kong, "hello", json!({"message": "hi"}));
    // The blocker's access phase has shown it is slow: its events run apart, as they do in
    // production long before a service hangs.
    assert_eq!(run_all(&sibling, 1, 20, "x-blocker", "slept"), 20);
    let hung_id = {
        // Its instance, started as Kong starts it.
        let outcome = hung.run("access", |call: &Call| {
            if call.method == "kong.request.get_header" {
                std::fs::write(&gate, b"open").unwrap();
            }
            Answer::Nil
        });
        assert_eq!(
            outcome.unwrap().response_header("x-blocker"),
            Some("opened")
        );
        std::fs::remove_file(&gate).unwrap();
        hung.id().expect("started")
    };

    // The service hangs: every event of the hung instance holds its thread until Kong gives
    // up on it, and then still.
    let (given_up, refused) = storm(server.socket(), hung_id, 300);
    assert_eq!(
        (given_up, refused),
        (HUNG_SHARE, 300 - HUNG_SHARE),
        "the instance held its share and no more; every other event was refused at once"
    );
    let held = || {
        scrape_value(
            &address,
            "pluginhost_threads_held",
            &[("plugin", "blocker")],
        )
    };
    assert_eq!(held(), HUNG_SHARE as f64);

    // Meanwhile another plugin, another instance of the same plugin and hello serve every
    // event, and each new event of the hung instance is answered at once.
    let (other_ok, sibling_ok, hello_ok, (more_given_up, more_refused)) = thread::scope(|s| {
        let other = s.spawn(|| run_all(&other, 4, 25, "x-sleeper", "answered"));
        let sibling = s.spawn(|| run_all(&sibling, 4, 25, "x-blocker", "slept"));
        let hello = s.spawn(|| run_all(&hello, 2, 100, "x-hello-from-rust", "Rust says hi"));
        let more = storm(server.socket(), hung_id, 100);
        (
            other.join().unwrap(),
            sibling.join().unwrap(),
            hello.join().unwrap(),
            more,
        )
    });
    assert_eq!(other_ok, 100, "every event of the other plugin");
    assert_eq!(sibling_ok, 100, "every event of the other instance");
    assert_eq!(hello_ok, 200, "every hello event");
    assert_eq!((more_given_up, more_refused), (0, 100));
    assert_eq!(
        scrape_value(
            &address,
            "pluginhost_events_refused_total",
            &[("plugin", "blocker"), ("reason", "instance_share")]
        ),
        (300 - HUNG_SHARE + 100) as f64
    );
    let log = server.wait_for_log("plugin blocker: its handlers hold");
    assert!(
        log.contains(&format!("(instance {hung_id}: ")),
        "the log names the instance and its threads:\n{log}"
    );
    let lines = log.matches("plugin blocker: its handlers hold").count();
    assert!(lines <= 3, "rate-limited, not a line per event: {lines}");

    // The service answers again: the handlers go on, Kong has given up on their events, so
    // they are reaped (-event-timeout), their threads return and retire, and the instance
    // serves again.
    std::fs::write(&gate, b"open").unwrap();
    wait::until("the held threads return", || held() == 0.0);
    wait::until("the threads apart retire", || {
        scrape_value(&address, "pluginhost_worker_threads", &[]) == 2.0
    });
    assert_eq!(run_all(&hung, 2, 10, "x-blocker", "opened"), 20);
}

#[test]
fn two_thousand_handlers_waiting_for_a_slow_service_all_complete() {
    // The default -max-threads (4096 where the machine allows it, as here): one instance may
    // hold 9/16 of the threads apart, 2302.
    let (_prefix, server) = serve(&[]);
    let kong = server.kong();
    let sibling = Entity::new(&kong, "blocker", json!({"mode": "sleep", "ms": 10}));
    let other = Entity::new(&kong, "sleeper", json!({"ms": 10}));
    assert_eq!(run_all(&sibling, 1, 20, "x-blocker", "slept"), 20);
    let slow = Kong::new(server.socket())
        .start_instance("blocker", &json!({"mode": "sleep", "ms": 2500}))
        .unwrap();
    let pid = server.pid();
    let most_threads = AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let (figures, other_ok, sibling_ok) = thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let n = procfs::threads(pid).unwrap_or(0) as usize;
                most_threads.fetch_max(n, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(50));
            }
        });
        let load = Load {
            socket: server.socket().to_owned(),
            in_flight: 2000,
            pool_size: 2000,
            warmup: Duration::from_millis(300),
            measure: Duration::from_secs(5),
            server_pid: Some(pid),
            authorization: None,
            exchange: Exchange::Event {
                instance: slow,
                phase: "access".into(),
            },
        };
        let slow = s.spawn(move || client::run(&load));
        thread::sleep(Duration::from_secs(2));
        let other = s.spawn(|| run_all(&other, 4, 25, "x-sleeper", "answered"));
        let sibling = s.spawn(|| run_all(&sibling, 4, 25, "x-blocker", "slept"));
        let figures = slow.join().unwrap();
        done.store(true, Ordering::Relaxed);
        (figures, other.join().unwrap(), sibling.join().unwrap())
    });
    let log = server.stderr();
    let figures =
        figures.unwrap_or_else(|e| panic!("an event of the slow service failed: {e}\n{log}"));
    assert!(
        figures.events >= 2000,
        "2000 in flight for 5 s of a 2.5 s service: {figures:?}\n{log}"
    );
    let most = most_threads.into_inner();
    assert!(
        most >= 2000,
        "2000 handlers blocked at once, each on a thread: {most} threads at most"
    );
    assert_eq!(other_ok, 100, "every event of the other plugin");
    assert_eq!(sibling_ok, 100, "every event of the other instance");
}
