//! Every `plugin.*` method and every error text of spec §4.1, over the wire.

use std::sync::atomic::Ordering;

use kong_sim::{
    Value,
    encode::kong_pack,
    kong::{Answer, Conn, Entity, Kong, get, map},
    server::{Prefix, Server},
};
use plugin_abi::schema::KongVersion;
use serde_json::json;

fn serve_samples() -> (Prefix, Server) {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    prefix.add_plugin("log", "liblog.so");
    let server = prefix.serve(&[]);
    (prefix, server)
}

fn request(msgid: Value, method: &str, params: Value) -> Vec<u8> {
    kong_pack(&Value::Array(vec![
        Value::from(0),
        msgid,
        Value::from(method),
        params,
    ]))
}

#[test]
fn server_pid_comes_first_on_every_connection() {
    let (_prefix, server) = serve_samples();
    for _ in 0..2 {
        let mut conn = Conn::open(server.socket()).unwrap();
        conn.send(1, "plugin.GetStatus", Value::Nil).unwrap();
        conn.read_response(1).unwrap();
        assert_eq!(conn.server_pids, vec![u64::from(server.pid())]);
    }
}

#[test]
fn status_info_and_plugin_dir() {
    let (prefix, server) = serve_samples();
    let kong = server.kong();

    let status = kong.call("plugin.GetStatus", Value::Nil).unwrap();
    assert_eq!(
        get(&status, "Pid").and_then(Value::as_u64),
        Some(u64::from(server.pid()))
    );
    let plugins = get(&status, "Plugins").unwrap();
    let hello = get(plugins, "hello").expect("hello in GetStatus");
    for key in [
        "Name",
        "Modtime",
        "LoadTime",
        "Instances",
        "LastStartInstance",
        "LastCloseInstance",
    ] {
        assert!(
            get(hello, key).is_some(),
            "GetStatus entry lacks {key}: {hello}"
        );
    }

    let info = kong
        .call("plugin.GetPluginInfo", Value::from("log"))
        .unwrap();
    assert_eq!(get(&info, "Name"), Some(&Value::from("log")));
    assert_eq!(
        get(&info, "Phases"),
        Some(&Value::Array(vec![Value::from("log")]))
    );
    assert_eq!(get(&info, "Version"), Some(&Value::from("0.1.0")));
    assert_eq!(get(&info, "Priority"), Some(&Value::from(1)));
    assert!(get(&info, "Schema").is_some_and(|s| get(s, "fields").is_some()));

    let e = kong
        .call("plugin.GetPluginInfo", Value::from("nope"))
        .unwrap_err();
    assert!(e.starts_with("failed to open plugin nope: "), "{e}");

    // Its own directory again: what is new there is loaded.
    std::fs::copy(
        kong_sim::paths::plugin("panicky"),
        prefix.plugins().join("panicky.so"),
    )
    .unwrap();
    let ok = kong
        .call(
            "plugin.SetPluginDir",
            Value::from(prefix.plugins().to_str().unwrap()),
        )
        .unwrap();
    assert_eq!(ok, Value::from("ok"));
    assert!(
        kong.call("plugin.GetPluginInfo", Value::from("panicky"))
            .is_ok()
    );
    // Any other directory is refused, and nothing of it is loaded: whoever can connect must
    // not be able to make the server run code from elsewhere.
    let extra = prefix.path().join("more");
    std::fs::create_dir(&extra).unwrap();
    std::fs::copy(kong_sim::paths::plugin("blocker"), extra.join("blocker.so")).unwrap();
    let e = kong
        .call("plugin.SetPluginDir", Value::from(extra.to_str().unwrap()))
        .unwrap_err();
    assert!(e.contains("only from its plugins directory"), "{e}");
    assert!(
        kong.call("plugin.GetPluginInfo", Value::from("blocker"))
            .is_err()
    );
    assert!(
        kong.call("plugin.GetPluginInfo", Value::from("hello"))
            .is_ok()
    );
    let e = kong
        .call("plugin.SetPluginDir", Value::from("/no/such/dir"))
        .unwrap_err();
    assert!(e.contains("/no/such/dir"), "{e}");
}

#[test]
fn instance_lifecycle_and_error_texts() {
    let (_prefix, server) = serve_samples();
    let kong = server.kong();

    let param = map([
        ("Name", Value::from("hello")),
        (
            "Config",
            Value::from(r#"{"message":"hi","__key__":"plugins:hello:1"}"#),
        ),
    ]);
    let status = kong.call("plugin.StartInstance", param).unwrap();
    let id = get(&status, "Id").and_then(Value::as_u64).unwrap();
    assert_eq!(get(&status, "Name"), Some(&Value::from("hello")));
    assert!(get(&status, "StartTime").and_then(Value::as_u64).unwrap() > 1_700_000_000);
    assert_eq!(
        get(get(&status, "Config").unwrap(), "message"),
        Some(&Value::from("hi"))
    );

    let same = kong.call("plugin.InstanceStatus", Value::from(id)).unwrap();
    assert_eq!(get(&same, "Id"), Some(&Value::from(id)));

    let closed = kong.call("plugin.CloseInstance", Value::from(id)).unwrap();
    assert_eq!(get(&closed, "Id"), Some(&Value::from(id)));

    let no_instance = format!("No plugin instance {id}");
    assert_eq!(
        kong.call("plugin.InstanceStatus", Value::from(id)),
        Err(no_instance.clone())
    );
    assert_eq!(
        kong.call("plugin.CloseInstance", Value::from(id)),
        Err(no_instance.clone())
    );
    let event = map([
        ("InstanceId", Value::from(id)),
        ("EventName", Value::from("access")),
    ]);
    assert_eq!(kong.call("plugin.HandleEvent", event), Err(no_instance));

    // A phase the plugin does not handle.
    let id = kong.start_instance("hello", &json!({})).unwrap();
    let event = map([
        ("InstanceId", Value::from(id)),
        ("EventName", Value::from("log")),
    ]);
    assert_eq!(
        kong.call("plugin.HandleEvent", event),
        Err("undefined method log on plugin hello".into())
    );

    // Unknown events, for every Step variant.
    for method in [
        "plugin.Step",
        "plugin.StepError",
        "plugin.StepMultiMap",
        "plugin.StepCredential",
        "plugin.StepConsumer",
        "plugin.StepRoute",
        "plugin.StepService",
        "plugin.StepMemoryStats",
        "plugin.StepPlugin",
    ] {
        let step = map([
            ("EventId", Value::from(424242u64)),
            ("Data", Value::from("x")),
        ]);
        assert_eq!(
            kong.call(method, step),
            Err("No running event 424242".into()),
            "{method}"
        );
    }

    // Bad config JSON, a config that does not fit, an unknown plugin.
    let bad = map([
        ("Name", Value::from("hello")),
        ("Config", Value::from("{not json")),
    ]);
    let e = kong.call("plugin.StartInstance", bad).unwrap_err();
    assert!(e.starts_with("Decoding config: "), "{e}");
    let e = kong
        .start_instance("hello", &json!({"message": 5}))
        .unwrap_err();
    assert!(e.starts_with("Decoding config: "), "{e}");
    let e = kong.start_instance("nope", &json!({})).unwrap_err();
    assert!(e.starts_with("failed to open plugin nope"), "{e}");

    assert_eq!(
        kong.call("plugin.NoSuchMethod", Value::Nil),
        Err("rpc: can't find method plugin.NoSuchMethod".into())
    );
}

#[test]
fn instance_ids_differ_across_restarts() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    let first = {
        let server = prefix.serve(&[]);
        server.kong().start_instance("hello", &json!({})).unwrap()
    };
    let server = prefix.serve(&[]);
    let second = server.kong().start_instance("hello", &json!({})).unwrap();
    assert_ne!(
        first, second,
        "a restarted server must not reuse instance ids"
    );
    assert!(second < 1 << 53, "ids must fit a Lua number");
}

/// What each Kong generation does after the server restarted: the `serverPid` of the new
/// process makes it forget every id it held, and the one event that used a stale id before
/// learning of it gets `No plugin instance` and is tried again with a new instance.
#[test]
fn every_generation_recovers_from_a_restart() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    for version in ["2.2.0", "2.4.0", "3.9.0"] {
        let kong_version: KongVersion = version.parse().unwrap();
        let server = prefix.serve(&[]);
        let kong = Kong::of(server.socket(), kong_version);
        let first = Entity::new(&kong, "hello", json!({}));
        let second = Entity::new(&kong, "hello", json!({"message": "hi"}));
        for entity in [&first, &second] {
            entity.run("access", |_| Answer::Nil).unwrap();
        }
        drop(server);
        let _server = prefix.serve(&[]);
        for entity in [&first, &second] {
            entity.run("access", |_| Answer::Nil).unwrap();
            assert_eq!(entity.starts.load(Ordering::Relaxed), 2, "Kong {version}");
        }
        assert_eq!(first.retried.load(Ordering::Relaxed), 1, "Kong {version}");
        assert_eq!(
            second.retried.load(Ordering::Relaxed),
            0,
            "Kong {version}: the serverPid came first"
        );
        assert_eq!(kong.server_pids.lock().unwrap().len(), 2, "Kong {version}");
    }
}

#[test]
fn tolerant_decoding_of_kong_encodings() {
    let (_prefix, server) = serve_samples();
    let mut conn = Conn::open(server.socket()).unwrap();

    // Config as bin, method as bin, extra and integer keys, float msgid-free ids.
    let param = Value::Map(vec![
        (
            Value::Binary(b"Name".to_vec()),
            Value::Binary(b"hello".to_vec()),
        ),
        (
            Value::from("Config"),
            Value::Binary(br#"{"message":"bin"}"#.to_vec()),
        ),
        (Value::from("Extra"), Value::from(1)),
        (Value::from(7), Value::from("integer key")),
    ]);
    let frame = kong_pack(&Value::Array(vec![
        Value::from(0),
        Value::from(1),
        Value::Binary(b"plugin.StartInstance".to_vec()),
        Value::Array(vec![param]),
    ]));
    conn.send_raw(&frame).unwrap();
    let status = conn.read_response(1).unwrap();
    let id = get(&status, "Id").and_then(Value::as_u64).unwrap();

    // The id as a float64, as a Lua number can arrive.
    conn.send(2, "plugin.InstanceStatus", Value::F64(id as f64))
        .unwrap();
    assert!(conn.read_response(2).is_ok());

    // An empty array where a map is expected, and a missing Config: both are "{}".
    let frame = request(Value::from(3), "plugin.GetStatus", Value::Array(vec![]));
    conn.send_raw(&frame).unwrap();
    assert!(conn.read_response(3).is_ok());
    conn.send(
        4,
        "plugin.StartInstance",
        map([("Name", Value::from("hello"))]),
    )
    .unwrap();
    assert!(conn.read_response(4).is_ok());

    // Step data with non-UTF-8 bytes and integer keys reaches the handler.
    let event = map([
        ("InstanceId", Value::from(id)),
        ("EventName", Value::from("access")),
    ]);
    conn.send(5, "plugin.HandleEvent", event).unwrap();
    let step = conn.read_response(5).unwrap();
    let event_id = get(&step, "EventId").cloned().unwrap();
    // A str that is not UTF-8, as header values can be.
    let weird_host = rmpv::decode::read_value(&mut &[0xa3, b'h', 0xff, b'x'][..]).unwrap();
    conn.send(
        6,
        "plugin.Step",
        map([("EventId", event_id.clone()), ("Data", weird_host)]),
    )
    .unwrap();
    let step = conn.read_response(6).unwrap();
    let args = get(get(&step, "Data").unwrap(), "Args")
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(args[1], Value::from("Rust says bin to h\u{fffd}x"));
    conn.send(7, "plugin.Step", map([("EventId", event_id)]))
        .unwrap();
    let done = conn.read_response(7).unwrap();
    assert_eq!(get(&done, "Data"), Some(&Value::from("ret")));
}

#[test]
fn msgids_are_echoed_exactly() {
    let (_prefix, server) = serve_samples();
    let mut conn = Conn::open(server.socket()).unwrap();
    for msgid in [0u64, 1 << 32, (1 << 32) + 5, (1 << 53) - 1, u64::MAX] {
        conn.send(msgid, "plugin.GetStatus", Value::Nil).unwrap();
        conn.read_response(msgid).unwrap();
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_prefix, server) = serve_samples();
    let mut conn = Conn::open(server.socket()).unwrap();
    let mut bytes = Vec::new();
    for msgid in 1..=50u64 {
        bytes.extend(request(
            Value::from(msgid),
            "plugin.GetPluginInfo",
            Value::Array(vec![Value::from("hello")]),
        ));
    }
    // Split at an awkward place: the server must reassemble.
    let (a, b) = bytes.split_at(bytes.len() / 2 + 3);
    conn.send_raw(a).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    conn.send_raw(b).unwrap();
    for msgid in 1..=50u64 {
        let info = conn.read_response(msgid).unwrap();
        assert_eq!(get(&info, "Name"), Some(&Value::from("hello")));
    }
}

#[test]
fn malformed_input_never_stops_the_server() {
    let (_prefix, server) = serve_samples();

    // Ill-formed but with a msgid: an error response, and the connection goes on.
    let mut conn = Conn::open(server.socket()).unwrap();
    conn.send_raw(&kong_pack(&Value::Array(vec![
        Value::from(0),
        Value::from(9),
        Value::from(1),
    ])))
    .unwrap();
    let e = conn.read_response(9).unwrap_err();
    assert!(
        e.starts_with("rpc: service/method request ill-formed"),
        "{e}"
    );
    conn.send(10, "plugin.GetStatus", Value::Nil).unwrap();
    assert!(conn.read_response(10).is_ok());

    // Wrong parameter types get errors naming the problem.
    conn.send(11, "plugin.HandleEvent", Value::from("x"))
        .unwrap();
    assert!(conn.read_response(11).unwrap_err().contains("InstanceId"));
    conn.send(12, "plugin.CloseInstance", Value::from("x"))
        .unwrap();
    assert!(conn.read_response(12).unwrap_err().contains("instance id"));

    // Not MessagePack at all: that connection is closed...
    let mut bad = Conn::open(server.socket()).unwrap();
    bad.send_raw(&[0xc1, 0xc1]).unwrap();
    assert!(bad.is_closed());
    // ...a request that is not an array too...
    let mut bad = Conn::open(server.socket()).unwrap();
    bad.send_raw(&kong_pack(&Value::from("hello"))).unwrap();
    assert!(bad.is_closed());
    // ...and a client that hangs up mid-request changes nothing.
    let mut bad = Conn::open(server.socket()).unwrap();
    bad.send_raw(&request(Value::from(1), "plugin.GetStatus", Value::Nil)[..5])
        .unwrap();
    drop(bad);

    // The server still serves everyone.
    let kong = server.kong();
    assert!(kong.call("plugin.GetStatus", Value::Nil).is_ok());
}
