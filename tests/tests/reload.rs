//! Hot reload: plugin files added, replaced and removed while pluginhost serves.

use std::{path::Path, thread, time::Duration};

use kong_sim::{
    Value,
    fixtures::raise_glibc,
    kong::{Answer, Conn, Kong, get, map, step_method},
    paths,
    server::{Prefix, Server},
    wait,
};
use serde_json::json;

fn serve_hello(extra: &[&str]) -> (Prefix, Server) {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    let server = prefix.serve(extra);
    (prefix, server)
}

fn bytes_of(krate: &str) -> Vec<u8> {
    std::fs::read(paths::plugin(krate)).unwrap()
}

/// The recommended deploy: write under a hidden temporary name, then rename into place.
fn deploy(prefix: &Prefix, file_name: &str, bytes: &[u8]) {
    let temp = prefix.plugins().join(format!(".{file_name}.tmp"));
    std::fs::write(&temp, bytes).unwrap();
    std::fs::rename(&temp, prefix.plugins().join(file_name)).unwrap();
}

fn status_of(kong: &Kong, plugin: &str) -> Option<Value> {
    let status = kong.call("plugin.GetStatus", Value::Nil).unwrap();
    get(get(&status, "Plugins")?, plugin).cloned()
}

fn generation(kong: &Kong, plugin: &str) -> Option<u64> {
    status_of(kong, plugin).and_then(|s| get(&s, "Generation")?.as_u64())
}

/// Runs hello's access phase on `instance` and returns the greeting it set.
fn greeting(kong: &Kong, instance: u64) -> String {
    let outcome = kong
        .handle_event(instance, "access", |call| match call.method.as_str() {
            "kong.request.get_header" => Answer::Value(Value::from("example.com")),
            _ => Answer::Nil,
        })
        .unwrap();
    outcome.calls[1].args[1].as_str().unwrap().to_owned()
}

const V1: &str = "Rust says hi to example.com";
const V2: &str = "VERSION 2 GREETS example.com";

#[test]
fn a_plugin_added_while_serving_is_served_and_dumped() {
    let (prefix, server) = serve_hello(&[]);
    let kong = server.kong();
    assert!(
        kong.call("plugin.GetPluginInfo", Value::from("log"))
            .is_err()
    );
    deploy(&prefix, "log.so", &bytes_of("log"));
    wait::until("log to be served", || {
        kong.call("plugin.GetPluginInfo", Value::from("log"))
            .is_ok()
    });
    let log_file = prefix.path().join("out.log");
    kong.start_instance("log", &json!({"path": log_file}))
        .unwrap();
    assert_eq!(generation(&kong, "log"), Some(1));
    let dump = prefix.run(&["-dump-all-plugins"]);
    let dump: serde_json::Value = serde_json::from_slice(&dump.stdout).unwrap();
    assert_eq!(dump[1]["Name"], "log");
    server.wait_for_log("loaded plugin plugin=\"log\"");
}

#[test]
fn a_new_version_serves_new_instances_while_old_events_finish_on_old_code() {
    let (prefix, server) = serve_hello(&[]);
    let kong = server.kong();
    let old = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();

    // An event of the first version, suspended at its first PDK call.
    let mut conn = Conn::open(server.socket()).unwrap();
    let event = map([
        ("InstanceId", Value::from(old)),
        ("EventName", Value::from("access")),
    ]);
    conn.send(1, "plugin.HandleEvent", event).unwrap();
    let step = conn.read_response(1).unwrap();
    let event_id = get(&step, "EventId").cloned().unwrap();

    deploy(&prefix, "hello.so", &bytes_of("hello_v2"));
    wait::until("generation 2", || generation(&kong, "hello") == Some(2));
    let status = status_of(&kong, "hello").unwrap();
    assert_eq!(get(&status, "Sha256").unwrap().as_str().unwrap().len(), 64);

    // The suspended event finishes on the code it started with.
    let answer = map([
        ("EventId", event_id.clone()),
        ("Data", Value::from("example.com")),
    ]);
    conn.send(
        2,
        step_method("kong.request.get_header", &Answer::Nil),
        answer,
    )
    .unwrap();
    let set = conn.read_response(2).unwrap();
    let args = get(get(&set, "Data").unwrap(), "Args").unwrap();
    assert_eq!(args[1].as_str(), Some(V1));
    conn.send(3, "plugin.Step", map([("EventId", event_id)]))
        .unwrap();
    assert_eq!(
        get(&conn.read_response(3).unwrap(), "Data")
            .unwrap()
            .as_str(),
        Some("ret")
    );

    // The instance started before keeps its code; a new one gets the new version.
    assert_eq!(greeting(&kong, old), V1);
    let new = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();
    assert_eq!(greeting(&kong, new), V2);
    let info = kong
        .call("plugin.GetPluginInfo", Value::from("hello"))
        .unwrap();
    assert_eq!(get(&info, "Version").unwrap().as_str(), Some("2.0.0"));
    server.wait_for_log("generation=2");
}

#[test]
fn a_file_copied_in_place_is_never_loaded_half_written() {
    let (prefix, server) = serve_hello(&[]);
    let kong = server.kong();
    let bytes = bytes_of("log");
    let target = prefix.plugins().join("log.so");
    let half = bytes.len() / 2;
    std::fs::write(&target, &bytes[..half]).unwrap();
    // Long enough for the half file to settle and be looked at.
    server.wait_for_log("refused plugin");
    assert!(
        kong.call("plugin.GetPluginInfo", Value::from("log"))
            .is_err()
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&target)
        .unwrap();
    std::io::Write::write_all(&mut file, &bytes[half..]).unwrap();
    drop(file);
    wait::until("the completed log.so to be served", || {
        kong.call("plugin.GetPluginInfo", Value::from("log"))
            .is_ok()
    });
    // hello served all along.
    let id = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();
    assert_eq!(greeting(&kong, id), V1);
}

#[test]
fn a_refused_new_version_leaves_the_old_one_serving() {
    let (prefix, server) = serve_hello(&[]);
    let kong = server.kong();
    deploy(&prefix, "hello.so", &raise_glibc(&bytes_of("hello")));
    let log = server.wait_for_log("keeps serving");
    assert!(log.contains("GLIBC_2.99"), "{log}");
    assert!(log.contains("generation 1 of hello keeps serving"), "{log}");
    assert_eq!(generation(&kong, "hello"), Some(1));
    let id = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();
    assert_eq!(greeting(&kong, id), V1);
}

#[test]
fn a_deleted_plugin_refuses_new_instances_and_keeps_started_ones() {
    let (prefix, server) = serve_hello(&[]);
    let kong = server.kong();
    let old = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();
    std::fs::remove_file(prefix.plugins().join("hello.so")).unwrap();
    wait::until("hello to be removed", || {
        kong.start_instance("hello", &json!({})).is_err()
    });
    let err = kong.start_instance("hello", &json!({})).unwrap_err();
    assert!(
        err.contains("was removed while pluginhost served it"),
        "{err}"
    );
    assert_eq!(greeting(&kong, old), V1);
    server.wait_for_log("plugin removed");
    // Putting it back serves it again, as the same generation.
    deploy(&prefix, "hello.so", &bytes_of("hello"));
    wait::until("hello to be back", || generation(&kong, "hello") == Some(1));
}

#[test]
fn rapid_repeated_writes_settle_on_the_last_version() {
    let (prefix, server) = serve_hello(&[]);
    let kong = server.kong();
    let (v1, v2) = (bytes_of("hello"), bytes_of("hello_v2"));
    for round in 0..6 {
        let bytes = if round % 2 == 0 { &v1 } else { &v2 };
        std::fs::write(prefix.plugins().join("hello.so.part"), bytes).unwrap();
        deploy(&prefix, "hello.so", bytes);
        thread::sleep(Duration::from_millis(15));
    }
    wait::until("the last version", || {
        kong.start_instance("hello", &json!({"message": "hi"}))
            .is_ok_and(|id| greeting(&kong, id) == V2)
    });
    assert!(!server.stderr().contains("refused"), "{}", server.stderr());
    assert!(generation(&kong, "hello").unwrap() <= 7);
}

#[test]
fn a_file_moved_in_from_another_directory_is_loaded() {
    let (prefix, server) = serve_hello(&[]);
    let kong = server.kong();
    let staging = prefix.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("log.so"), bytes_of("log")).unwrap();
    std::fs::rename(staging.join("log.so"), prefix.plugins().join("log.so")).unwrap();
    wait::until("log to be served", || {
        kong.call("plugin.GetPluginInfo", Value::from("log"))
            .is_ok()
    });
}

#[test]
fn past_max_generations_a_new_version_asks_for_a_restart() {
    let (prefix, server) = serve_hello(&["-max-generations", "2"]);
    let kong = server.kong();
    deploy(&prefix, "hello.so", &bytes_of("hello_v2"));
    wait::until("generation 2", || generation(&kong, "hello") == Some(2));
    let mut v3 = bytes_of("hello");
    v3.extend_from_slice(b"trailing bytes make another file");
    deploy(&prefix, "hello.so", &v3);
    let log = server.wait_for_log("restart pluginhost");
    assert!(log.contains("-max-generations"), "{log}");
    assert_eq!(generation(&kong, "hello"), Some(2));
}

#[test]
fn plugins_are_mapped_from_private_copies() {
    let (prefix, server) = serve_hello(&[]);
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", server.pid())).unwrap();
    let served = prefix.plugins().join("hello.so");
    assert!(
        !maps.contains(&*served.to_string_lossy()),
        "the watched file is mapped"
    );
    let cache = prefix.path().join(".pluginhost-cache");
    assert!(maps.contains(&*cache.to_string_lossy()), "{maps}");
    // Overwriting the watched file in place cannot touch the mapped code.
    std::fs::write(&served, b"garbage").unwrap();
    let kong = server.kong();
    let id = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();
    assert_eq!(greeting(&kong, id), V1);
    assert!(Path::new(&cache).is_dir());
}

#[test]
fn a_renamed_file_keeps_serving_its_plugin() {
    let (prefix, server) = serve_hello(&[]);
    let kong = server.kong();
    std::fs::rename(
        prefix.plugins().join("hello.so"),
        prefix.plugins().join("greeter.so"),
    )
    .unwrap();
    wait::until("hello served from greeter.so", || {
        status_of(&kong, "hello")
            .and_then(|s| get(&s, "File")?.as_str().map(str::to_owned))
            .is_some_and(|f| f.ends_with("greeter.so"))
    });
    assert_eq!(generation(&kong, "hello"), Some(1));
    let id = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();
    assert_eq!(greeting(&kong, id), V1);
}
