//! Every core serves: the connections of each Kong worker process stay on one serving thread,
//! different processes spread over the serving threads, an idle server sleeps, and a cold
//! burst starts a bounded number of threads. Nothing here measures time: each test counts
//! threads, events or context switches.

use std::{collections::BTreeSet, process::Command, thread, time::Duration};

use kong_sim::{
    kong::{Answer, Entity},
    load::procfs,
    server::{Prefix, Server},
};
use serde_json::json;

fn serve(extra: &[&str]) -> (Prefix, Server) {
    Prefix::serving(&[("blocker", "blocker.so"), ("hello", "hello.so")], extra)
}

#[test]
fn each_kong_process_stays_on_one_serving_thread_and_processes_spread() {
    // Two threads at most, both serving: every event runs inline, on the serving thread of
    // its process. With more, a phase's first events run apart, each on a thread of its own,
    // until it has shown it is quick, which is another test's matter.
    let (_prefix, server) = serve(&["-threads", "2", "-max-threads", "2"]);
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_loadgen"))
                .arg("threads")
                .arg(server.socket())
                .args(["--events", "100", "--concurrency", "4"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("cannot start loadgen")
        })
        .collect();
    let mut all = BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().expect("loadgen runs");
        assert!(out.status.success(), "{out:?}");
        let threads: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let events = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(events, 100, "every event answered");
        assert_eq!(
            threads.len(),
            1,
            "every event of one process ran on one thread: {threads:?}"
        );
        all.extend(threads);
    }
    assert!(all.len() >= 2, "the processes spread: {all:?}");
}

#[test]
fn an_idle_server_sleeps() {
    let (_prefix, server) = serve(&[]);
    let kong = server.kong();
    let hello = Entity::new(&kong, "hello", json!({"message": "hi"}));
    for _ in 0..50 {
        hello.run("access", |_| Answer::Nil).expect("hello runs");
    }
    drop(kong);
    thread::sleep(Duration::from_millis(500));
    let before = procfs::context_switches(server.pid()).unwrap();
    thread::sleep(Duration::from_secs(3));
    let woke = procfs::context_switches(server.pid()).unwrap() - before;
    // At most ~10 wake-ups a second, all threads together.
    assert!(woke <= 30, "{woke} context switches in 3 idle seconds");
}

#[test]
fn a_cold_burst_starts_a_bounded_number_of_threads() {
    let (_prefix, server) = serve(&["-threads", "2"]);
    // Answered once every thread the server starts with runs.
    server
        .kong()
        .call("plugin.GetStatus", kong_sim::Value::Nil)
        .unwrap();
    let before = procfs::threads(server.pid()).unwrap();
    let socket = server.socket().to_owned();
    let instance = kong_sim::load::client::start_instance(&socket, "hello", &json!({})).unwrap();
    // 300 events at once, each on a connection of its own, on a phase never seen before.
    kong_sim::load::client::run(&kong_sim::load::client::Load {
        socket,
        in_flight: 300,
        pool_size: 300,
        warmup: Duration::ZERO,
        measure: Duration::from_millis(300),
        server_pid: None,
        authorization: None,
        exchange: kong_sim::load::client::Exchange::Event {
            instance,
            phase: "access".into(),
        },
    })
    .expect("the burst is served");
    let after = procfs::threads(server.pid()).unwrap();
    // The phase's probation starts at most 4 threads per serving thread; without that bound a
    // thread per event would start, up to -max-threads (256).
    assert!(
        after <= before + 2 * 4,
        "{before} threads before the burst, {after} after:\n{}",
        server.stderr()
    );
}
