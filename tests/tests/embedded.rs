//! One plugin per process: a plugin crate's own executable (its `embedded` feature) serves
//! that plugin as Kong's embedded servers do, with pluginhost's engine. Kong reads its `-dump`,
//! starts it, and starts it again when it exits; a crash stays in its process, and upgrading
//! is a restart.

use std::{
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::Duration,
};

use kong_sim::{
    Value,
    kong::{Answer, Call, Entity, Kong, map},
    paths,
    protobuf::ProtoBufKong,
    schema_loader::kong_loads,
    server::Server,
};
use plugin_abi::schema::KongVersion;
use serde_json::json;

/// A private prefix holding a copy of the executable of plugin crate `name` under `as_name`.
fn install(prefix: &Path, name: &str, as_name: &str) -> PathBuf {
    let bin = prefix.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join(as_name);
    std::fs::copy(paths::embedded(name), &exe).unwrap();
    exe
}

/// Starts `exe` as Kong does: no argument but the prefix; it listens on
/// `<prefix>/<name>.socket`.
fn start(exe: &Path, prefix: &Path, extra: &[&str]) -> Server {
    let name = exe.file_name().unwrap().to_string_lossy().into_owned();
    let mut command = Command::new(exe);
    command.arg("-kong-prefix").arg(prefix).args(extra);
    Server::spawn(command, prefix.join(format!("{name}.socket")))
}

fn host_answer(call: &Call) -> Answer {
    match call.method.as_str() {
        "kong.request.get_header" => Answer::Value(Value::from("example.test")),
        _ => Answer::Nil,
    }
}

/// The greeting hello's access event set.
fn greeting(kong: &Kong) -> String {
    let entity = Entity::new(kong, "hello", json!({"message": "hi"}));
    let outcome = entity.run("access", host_answer).expect("hello runs");
    outcome.calls[1].args[1].as_str().unwrap().to_owned()
}

/// An event of hello suspended at its first PDK call, on a connection of its own: the
/// connection and the event's id.
fn suspended_event(kong: &Kong) -> (kong_sim::kong::Conn, Value) {
    let id = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();
    let mut conn = kong.open();
    conn.send(
        1,
        "plugin.HandleEvent",
        map([
            ("InstanceId", Value::from(id)),
            ("EventName", Value::from("access")),
        ]),
    )
    .unwrap();
    let step = conn.read_response(1).unwrap();
    let event_id = kong_sim::kong::get(&step, "EventId").unwrap().clone();
    (conn, event_id)
}

/// Answers the suspended event's `get_header` with the host, and gives the greeting its
/// handler then sets (msgid 2).
fn greeting_of(conn: &mut kong_sim::kong::Conn, event_id: &Value) -> String {
    conn.send(
        2,
        "plugin.Step",
        map([
            ("EventId", event_id.clone()),
            ("Data", Value::from("example.test")),
        ]),
    )
    .unwrap();
    let next = conn.read_response(2).unwrap();
    let data = kong_sim::kong::get(&next, "Data").unwrap();
    let args = kong_sim::kong::get(data, "Args").unwrap();
    args[1].as_str().unwrap_or_default().to_owned()
}

/// Replaces the installed `exe` with the `hello-v2` build, as package managers do: a new file
/// renamed over it.
fn install_v2_over(exe: &Path) {
    let staged = exe.with_file_name(".hello.new");
    std::fs::copy(paths::embedded("hello-v2"), &staged).unwrap();
    std::fs::rename(&staged, exe).unwrap();
}

#[test]
fn help_version_and_dump_are_what_kong_and_people_read() {
    let exe = paths::embedded("hello");
    for flag in ["-h", "-help", "--help"] {
        let out = Command::new(&exe).arg(flag).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{flag}");
        for shared in [
            "-dump",
            "-kong-prefix",
            "-max-request-bytes",
            "-max-events",
            "-log-format",
        ] {
            assert!(help.contains(shared), "{flag} lists {shared}: {help}");
        }
    }
    let out = Command::new(&exe).arg("-version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.starts_with("Plugin: hello 0.1.0"), "{version}");
    assert!(version.contains("one plugin per process"), "{version}");

    let out = Command::new(&exe).arg("-dump").output().unwrap();
    assert!(out.status.success());
    let dump: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dump["Protocol"], "MsgPack:1");
    assert_eq!(dump["Plugins"][0]["Name"], "hello");
    assert_eq!(dump["Plugins"].as_array().unwrap().len(), 1);
    assert!(out.stdout.ends_with(b"\n"));
}

#[test]
fn every_kong_generation_reads_the_dump_and_is_served() {
    let prefix = tempfile::tempdir().unwrap();
    let exe = install(prefix.path(), "hello", "hello");
    for (major, minor, patch) in [(2, 3, 4), (2, 8, 4), (3, 4, 2), (3, 8, 0), (3, 9, 1)] {
        let kong = KongVersion::new(major, minor, patch);
        let version = kong.to_string();
        let out = Command::new(&exe)
            .args(["-dump", "-kong-version", &version])
            .output()
            .unwrap();
        assert!(out.status.success());
        let names = kong_loads(kong, &out.stdout).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(names, ["hello"], "Kong {kong}");
    }
    let server = start(&exe, prefix.path(), &[]);
    let kong = server.kong();
    assert_eq!(greeting(&kong), "Rust says hi to example.test");
    // The engine's serverPid greeting, and its instance ids' errors.
    assert_eq!(
        kong.server_pids.lock().unwrap().first(),
        Some(&u64::from(server.pid()))
    );
    let err = kong
        .call(
            "plugin.HandleEvent",
            map([
                ("InstanceId", Value::from(12345)),
                ("EventName", Value::from("access")),
            ]),
        )
        .unwrap_err();
    assert_eq!(err, "No plugin instance 12345");
}

#[test]
fn a_crash_stays_in_its_process_and_a_fresh_engine_serves_again() {
    let prefix = tempfile::tempdir().unwrap();
    let hello = install(prefix.path(), "hello", "hello");
    let panicky = install(prefix.path(), "panicky", "panicky");
    let hello_server = start(&hello, prefix.path(), &[]);
    let mut crashing = start(&panicky, prefix.path(), &[]);
    let first_engine = crashing.pid();
    let hello_kong = hello_server.kong();
    let panicky_kong = Kong::tolerant(crashing.socket());
    let aborting = Entity::new(&panicky_kong, "panicky", json!({"mode": "abort"}));
    let old_id = panicky_kong
        .start_instance("panicky", &json!({"mode": "nothing"}))
        .unwrap();
    thread::scope(|s| {
        let greetings = s.spawn(|| {
            (0..200)
                .filter(|_| greeting(&hello_kong) == "Rust says hi to example.test")
                .count()
        });
        // Kong sees the connection close in the middle of the event.
        assert!(
            aborting.run("access", |_| Answer::Nil).is_err(),
            "the event did not end with an answer"
        );
        assert_eq!(greetings.join().unwrap(), 200, "hello served every event");
    });
    crashing.wait_for_log("plugin panicky crashed the engine");
    assert!(
        crashing.wait_exit(Duration::from_millis(200)).is_none(),
        "the process Kong started lives on"
    );
    assert_eq!(greeting(&hello_kong), "Rust says hi to example.test");

    // A fresh engine serves on the same socket, with none of the old instances.
    let kong = crashing.kong();
    let err = kong
        .call("plugin.InstanceStatus", Value::from(old_id))
        .unwrap_err();
    assert_eq!(err, format!("No plugin instance {old_id}"));
    assert_ne!(crashing.pid(), first_engine);
    let new_id = kong
        .start_instance("panicky", &json!({"mode": "nothing"}))
        .unwrap();
    assert_ne!(new_id, old_id, "instance ids are never reused");
    let entity = Entity::new(&kong, "panicky", json!({"mode": "nothing"}));
    assert!(entity.run("access", |_| Answer::Nil).is_ok());
}

#[test]
fn upgrading_is_a_restart_and_running_events_finish() {
    let prefix = tempfile::tempdir().unwrap();
    let exe = install(prefix.path(), "hello", "hello");
    let mut old = start(&exe, prefix.path(), &["-shutdown-grace", "10"]);
    let kong = old.kong();
    assert_eq!(greeting(&kong), "Rust says hi to example.test");

    // An event suspended at its first PDK call when the upgrade comes.
    let (mut conn, event_id) = suspended_event(&kong);
    install_v2_over(&exe);
    old.signal(rustix::process::Signal::TERM);
    // The running event is answered, and finishes within the grace time.
    assert_eq!(
        greeting_of(&mut conn, &event_id),
        "Rust says hi to example.test",
        "the old code"
    );
    conn.send(3, "plugin.Step", map([("EventId", event_id)]))
        .unwrap();
    let done = conn.read_response(3).unwrap();
    assert_eq!(
        kong_sim::kong::get(&done, "Data").and_then(Value::as_str),
        Some("ret")
    );
    let status = old.wait_exit(Duration::from_secs(20)).expect("it stops");
    assert!(status.success(), "{status}");

    // Kong starts the program again: the new version serves on the same socket.
    let new = start(&exe, prefix.path(), &[]);
    let kong = new.kong();
    assert_eq!(greeting(&kong), "VERSION 2 GREETS example.test");
    let out = Command::new(&exe).arg("-dump").output().unwrap();
    let dump: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dump["Plugins"][0]["Version"], "2.0.0");
}

#[test]
fn sigusr2_upgrades_an_embedded_plugin_in_place_and_its_event_finishes_on_the_old_code() {
    let prefix = tempfile::tempdir().unwrap();
    let exe = install(prefix.path(), "hello", "hello");
    let server = start(&exe, prefix.path(), &[]);
    let supervisor = server.supervisor_pid();
    let kong = server.kong();
    // An event suspended at its first PDK call when the upgrade comes.
    let (mut conn, event_id) = suspended_event(&kong);
    install_v2_over(&exe);
    server.signal(rustix::process::Signal::USR2);
    server.wait_for_log("the new engine serves");
    // The connection went to the new engine; the event's Step reaches the old code through it.
    assert_eq!(
        greeting_of(&mut conn, &event_id),
        "Rust says hi to example.test",
        "the old code"
    );
    // New events run the new code, under the pid Kong started.
    assert_eq!(greeting(&kong), "VERSION 2 GREETS example.test");
    assert_eq!(server.supervisor_pid(), supervisor);
}

#[test]
fn an_embedded_server_speaks_protobuf_when_asked() {
    let prefix = tempfile::tempdir().unwrap();
    let exe = install(prefix.path(), "hello", "hello");
    for (major, minor, patch) in [(2, 4, 0), (2, 8, 4), (3, 8, 0), (3, 9, 1)] {
        let kong = KongVersion::new(major, minor, patch);
        let version = kong.to_string();
        let out = Command::new(&exe)
            .args([
                "-dump",
                "-protocol",
                "ProtoBuf:1",
                "-kong-version",
                &version,
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let dump: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(dump["Protocol"], "ProtoBuf:1");
        assert_eq!(kong_loads(kong, &out.stdout), Ok(vec!["hello".to_owned()]));
    }
    let out = Command::new(&exe)
        .args(["-dump", "-protocol", "protobuf", "-kong-version", "2.3.0"])
        .output()
        .unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    let server = start(&exe, prefix.path(), &["-protocol", "ProtoBuf:1"]);
    let kong = ProtoBufKong::new(server.socket(), KongVersion::new(3, 9, 1));
    let entity = Entity::new(&kong, "hello", json!({"message": "hi"}));
    let outcome = entity.run("access", host_answer).unwrap();
    assert_eq!(
        outcome.calls[1].args[1],
        Value::from("Rust says hi to example.test")
    );
}
