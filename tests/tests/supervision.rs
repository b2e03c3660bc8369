//! The process Kong starts supervises the engine that serves: a plugin that aborts ends only
//! the events in flight, and SIGUSR2 replaces the code under the same pid. Both under a steady
//! stream of events from several Kong workers, counted.

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use kong_sim::{
    kong::{Conn, Entity, Kong, map, nil},
    metrics, paths,
    server::{Dialect, Prefix},
    steady::{StopOnDrop, Tally, hello_workers},
};
use rmpv::Value;
use rustix::process::Signal;
use serde_json::json;

/// Kong workers sending events meanwhile.
const WORKERS: usize = 3;

/// The file `pid` runs, as the kernel names it (with " (deleted)" once replaced).
fn exe_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn a_plugin_that_aborts_costs_only_the_events_in_flight() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    prefix.add_plugin("panicky", "libpanicky.so");
    let server = prefix.serve(&metrics::LISTEN_ANY);
    let address = metrics::address(&server);
    let socket = prefix.socket();
    let first_engine = server.pid();
    let kong = server.kong();
    let old_instance = kong.start_instance("hello", &json!({})).unwrap();
    let stop = AtomicBool::new(false);
    let (before, after) = (Tally::default(), Tally::default());
    let after_stop = AtomicBool::new(false);
    thread::scope(|s| {
        hello_workers(s, WORKERS, &socket, &stop, &before);
        let _stop = (StopOnDrop(&stop), StopOnDrop(&after_stop));
        thread::sleep(Duration::from_millis(300));
        // Kong sees the connection close in the middle of the event.
        let tolerant = Kong::tolerant(&socket);
        let aborting = Entity::new(&tolerant, "panicky", json!({"mode": "abort"}));
        assert!(
            aborting.run("access", nil).is_err(),
            "the aborting event was answered"
        );
        server.wait_for_log("plugin panicky crashed the engine");
        stop.store(true, Ordering::Relaxed);
        // Events sent from now on reach the new engine.
        hello_workers(s, WORKERS, &socket, &after_stop, &after);
        thread::sleep(Duration::from_millis(500));
        after_stop.store(true, Ordering::Relaxed);
    });
    // At most one event per worker was in flight when the engine died.
    let lost = before.failed.load(Ordering::Relaxed);
    assert!(lost <= WORKERS as u64, "{lost} lost: {:?}", before.errors);
    assert_eq!(before.connects_failed(), 0, "{:?}", before.errors);
    after.check_all_answered("after the crash");
    let engine = server.pid();
    assert_ne!(engine, first_engine, "a new engine serves");
    assert!(
        after
            .last_pids
            .lock()
            .unwrap()
            .iter()
            .all(|&pid| pid == u64::from(engine)),
        "Kong was told the new engine's pid"
    );
    // Kong's instance ids of the dead engine are unknown to the new one, never reused.
    let err = server
        .kong()
        .call("plugin.InstanceStatus", Value::from(old_instance))
        .unwrap_err();
    assert_eq!(err, format!("No plugin instance {old_instance}"));
    let scraped = metrics::scrape(&address);
    assert_eq!(
        scraped.value("pluginhost_engine_crashes_total", &[("plugin", "panicky")]),
        1.0
    );
    eprintln!(
        "{} events before the crash, {lost} lost; {} after",
        before.ok.load(Ordering::Relaxed),
        after.ok.load(Ordering::Relaxed)
    );
}

#[test]
fn sigusr2_replaces_the_code_under_the_same_pid_and_loses_nothing() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    let bin = prefix.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let exe = bin.join("pluginhost");
    std::fs::copy(paths::pluginhost(), &exe).unwrap();
    let mut server = prefix.serve_from(&exe, &metrics::LISTEN_ANY);
    let address = metrics::address(&server);
    let socket = prefix.socket();
    let supervisor = server.supervisor_pid();
    let old_engine = server.pid();
    let stop = AtomicBool::new(false);
    let tally = Tally::default();
    thread::scope(|s| {
        hello_workers(s, WORKERS, &socket, &stop, &tally);
        let _stop = StopOnDrop(&stop);
        thread::sleep(Duration::from_millis(300));
        install_over(&exe);
        assert!(exe_of(supervisor).ends_with(" (deleted)"));
        server.signal(Signal::USR2);
        server.wait_for_log("the new engine serves");
        // Kong keeps sending over the connections it has: the old engine hands them on and
        // leaves while the stream goes on.
        kong_sim::wait::until("the old engine left", || {
            server.engines() == vec![server.pid()]
        });
        thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    tally.check_all_answered("Kong's");
    assert_eq!(tally.connects_failed(), 0);
    let last_pids = tally.last_pids.lock().unwrap().clone();
    let engine = server.pid();
    assert_ne!(engine, old_engine);
    assert!(
        last_pids.iter().all(|&pid| pid == u64::from(engine)),
        "Kong's connections were handed to the new engine, which told its pid: {last_pids:?}"
    );
    assert_eq!(server.supervisor_pid(), supervisor);
    assert_eq!(
        exe_of(supervisor),
        exe.display().to_string(),
        "the supervisor runs the new file"
    );
    assert_eq!(
        exe_of(engine),
        exe.display().to_string(),
        "the engine runs the new file"
    );
    // A new connection reaches the new engine, whose metrics are where they were.
    let kong = server.kong();
    kong.start_instance("hello", &json!({})).unwrap();
    assert_eq!(
        kong.server_pids.lock().unwrap().last(),
        Some(&u64::from(engine))
    );
    // (It counts the connections handed over, and this one.)
    let scraped = metrics::scrape(&address);
    assert!(scraped.value("pluginhost_connections_accepted_total", &[]) >= 1.0);
    assert!(server.terminate().success());
    assert!(!socket.exists(), "the socket is removed at the stop");
}

/// Replaces the file at `exe` as a package manager does: a new file renamed over it.
fn install_over(exe: &Path) {
    let next = exe.with_extension("new");
    std::fs::copy(paths::pluginhost(), &next).unwrap();
    std::fs::set_permissions(&next, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&next, exe).unwrap();
}

#[test]
fn the_steps_of_the_old_engines_events_reach_it_through_the_new_one() {
    let (_prefix, server) = Prefix::serving(&[("hello", "libhello.so")], &[]);
    let old_engine = server.pid();
    let mut started_on = Conn::open(server.socket()).unwrap();
    let mut idle = Conn::open(server.socket()).unwrap();
    started_on
        .send(
            1,
            "plugin.StartInstance",
            map([
                ("Name", Value::from("hello")),
                ("Config", Value::from("{}")),
            ]),
        )
        .unwrap();
    let id = started_on.read_response(1).unwrap()["Id"].clone();
    idle.send(1, "plugin.GetStatus", Value::Nil).unwrap();
    idle.read_response(1).unwrap();
    // The event calls kong.request.get_header and waits for Kong's answer.
    started_on
        .send(
            2,
            "plugin.HandleEvent",
            map([("InstanceId", id), ("EventName", Value::from("access"))]),
        )
        .unwrap();
    let first = started_on.read_response(2).unwrap();
    let event = first["EventId"].clone();
    assert_eq!(
        first["Data"]["Method"].as_str(),
        Some("kong.request.get_header")
    );

    server.signal(Signal::USR2);
    server.wait_for_log("the new engine serves");
    // Both connections were idle: the new engine has them now, and the event's next Step
    // reaches the old one through it.
    let mut msgid = 2;
    let mut answer = Value::from("example.test");
    let greeting = loop {
        idle.send(
            msgid,
            "plugin.Step",
            map([("EventId", event.clone()), ("Data", answer)]),
        )
        .unwrap();
        let reply = idle.read_response(msgid).unwrap();
        msgid += 1;
        let data = &reply["Data"];
        if data.as_str() == Some("ret") {
            panic!("the event ended without setting its header");
        }
        if data["Method"].as_str() == Some("kong.response.set_header") {
            break data["Args"][1].as_str().unwrap_or_default().to_owned();
        }
        answer = Value::Nil;
    };
    assert_eq!(greeting, "Rust says hello to example.test");
    let new_engine = server.pid();
    assert_ne!(new_engine, old_engine);
    assert_eq!(
        idle.server_pids,
        vec![u64::from(old_engine), u64::from(new_engine)],
        "the new engine greeted the connection it was handed"
    );
    // The event's last Step on the other connection: its end, answered by the old engine.
    started_on
        .send(
            msgid,
            "plugin.Step",
            map([("EventId", event), ("Data", Value::Nil)]),
        )
        .unwrap();
    let end = started_on.read_response(msgid).unwrap();
    assert_eq!(end["Data"].as_str(), Some("ret"));
    kong_sim::wait::until("the old engine left", || {
        server.engines() == vec![new_engine]
    });
    eprintln!("{}", server.stderr());
}

#[test]
fn an_upgrade_hands_idle_pooled_connections_over_in_both_dialects() {
    for dialect in Dialect::BOTH {
        let prefix = Prefix::new();
        prefix.add_plugin("hello", "libhello.so");
        let server = prefix.serve_in(dialect, &["-shutdown-grace", "30"]);
        let old_engine = server.pid();
        let kong = server.client(dialect);
        let entity = Entity::new(kong.as_ref(), "hello", json!({}));
        entity.run("access", nil).unwrap();
        server.signal(Signal::USR2);
        server.wait_for_log("the new engine serves");
        // Kong's pooled connection went to the new engine: the old one leaves long before its
        // grace is over, and the next event is answered.
        kong_sim::wait::until("the old engine left", || {
            !server.engines().contains(&old_engine)
        });
        server.wait_for_log("handed Kong's connections to the new engine connections=1");
        entity.run("access", nil).unwrap();
        assert_ne!(server.pid(), old_engine, "{dialect:?}");
    }
}

#[test]
fn an_engine_dies_with_its_supervisor_and_the_next_server_serves() {
    let (prefix, server) = Prefix::serving(&[("hello", "libhello.so")], &[]);
    let engine = server.pid();
    server.signal(Signal::KILL);
    // Its socket is refused once every thread of the engine has exited.
    let refused = || std::os::unix::net::UnixStream::connect(prefix.socket()).is_err();
    kong_sim::wait::until("the engine died", refused);
    assert!(
        prefix.socket().exists(),
        "a killed engine leaves its socket, as a killed server did"
    );
    // Kong starts another; it replaces the stale socket and serves.
    let next = prefix.serve(&[]);
    assert!(next.kong().start_instance("hello", &json!({})).is_ok());
    assert!(!next.engines().contains(&engine));
}
