//! What only ProtoBuf:1 has: its frames byte for byte, no `serverPid`, an error as a closed
//! connection, int32 instance ids, a frame's declared length against the limit, and its
//! methods counted in the metrics. What both dialects share is in `dialects.rs`.

use std::thread;

use kong_sim::{
    Value,
    kong::{Answer, Entity},
    metrics,
    protobuf::ProtoBufKong,
    server::{Dialect, Prefix, Server},
};
use plugin_abi::schema::KongVersion;
use pluginhost::wire::protobuf::messages::{
    Call, CmdHandleEvent, CmdStartInstance, InstanceRef, Return, RpcCall, RpcReturn,
};
use prost::Message;
use serde_json::json;

const KONG: KongVersion = KongVersion::new(3, 9, 0);

fn serve(extra: &[&str]) -> (Prefix, Server) {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    prefix.add_plugin("panicky", "libpanicky.so");
    prefix.add_plugin("blocker", "libblocker.so");
    let server = prefix.serve_in(Dialect::ProtoBuf(KONG), extra);
    (prefix, server)
}

fn call(sequence: i64, call: Call) -> Vec<u8> {
    RpcCall {
        sequence,
        call: Some(call),
    }
    .encode_to_vec()
}

#[test]
fn hello_speaks_the_frames_of_the_protocol_byte_for_byte() {
    let (_prefix, server) = serve(&[]);
    let kong = ProtoBufKong::new(server.socket(), KONG);
    let mut conn = kong.acquire();
    conn.send(&call(
        2,
        Call::CmdStartInstance(CmdStartInstance {
            name: "hello".into(),
            config: br#"{"message":"Kong!"}"#.to_vec(),
        }),
    ))
    .unwrap();
    let ret = RpcReturn::decode(conn.read().unwrap().as_slice()).unwrap();
    assert_eq!(ret.sequence, 2);
    let Some(Return::InstanceStatus(status)) = ret.r#return else {
        panic!("an instance_status");
    };
    assert_eq!(status.name, "hello");
    assert!(status.instance_id > 0 && status.started_at > 0);
    conn.send(&call(
        3,
        Call::CmdHandleEvent(CmdHandleEvent {
            instance_id: status.instance_id,
            event_name: "access".into(),
        }),
    ))
    .unwrap();
    assert_eq!(conn.read().unwrap(), b"kong.request.get_header");
    assert_eq!(conn.read().unwrap(), [0x0a, 0x04, b'h', b'o', b's', b't']);
    // String{v: "localhost:8000"}
    let mut answer = vec![0x0a, 14];
    answer.extend_from_slice(b"localhost:8000");
    conn.send(&answer).unwrap();
    assert_eq!(conn.read().unwrap(), b"kong.response.set_header");
    let kv = conn.read().unwrap();
    assert!(kv.starts_with(b"\x0a\x11x-hello-from-rust"), "{kv:?}");
    conn.send(&[]).unwrap();
    // The handler is done: an empty frame, then RpcReturn{sequence: 3}.
    assert_eq!(conn.read().unwrap(), b"");
    assert_eq!(conn.read().unwrap(), [0x08, 0x03]);
}

#[test]
fn no_server_pid_and_errors_close_the_connection_while_the_server_serves_on() {
    let (_prefix, server) = serve(&["-max-request-bytes", "4096"]);
    let kong = ProtoBufKong::new(server.socket(), KONG);
    // An unknown instance: closed, which Kong 3.0+ takes as a lost instance.
    let mut conn = kong.acquire();
    conn.send(&call(
        2,
        Call::CmdHandleEvent(CmdHandleEvent {
            instance_id: 12345,
            event_name: "access".into(),
        }),
    ))
    .unwrap();
    assert_eq!(conn.read(), Err("closed".into()));
    // Not an RpcCall.
    let mut conn = kong.acquire();
    conn.send(&[0xff, 0xff, 0xff]).unwrap();
    assert!(conn.is_closed());
    // A frame declaring more than -max-request-bytes: closed at its prefix.
    let mut conn = kong.acquire();
    conn.send(&vec![0u8; 8192]).unwrap();
    assert!(conn.is_closed());
    server.wait_for_log("declares 8192 bytes, beyond the limit of 4096 (-max-request-bytes)");
    // Closing an instance that is not there.
    let mut conn = kong.acquire();
    conn.send(&call(
        2,
        Call::CmdCloseInstance(InstanceRef { instance_id: 1 }),
    ))
    .unwrap();
    assert!(conn.is_closed());
    // The server serves on.
    Entity::new(&kong, "hello", json!({}))
        .run("access", |_| Answer::Nil)
        .unwrap();
}

#[test]
fn a_failing_handler_keeps_its_connection_and_ids_are_int32() {
    let (_prefix, server) = serve(&[]);
    let kong = ProtoBufKong::new(server.socket(), KONG);
    let mut ids = Vec::new();
    for mode in ["panic", "error", "nothing", "panic"] {
        let entity = Entity::new(&kong, "panicky", json!({"mode": mode}));
        entity.run("access", |_| Answer::Nil).unwrap();
        ids.push(entity.id().unwrap());
    }
    // Every event, failing or not, went over the one pooled connection.
    assert_eq!(kong.opened.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(ids.iter().all(|&id| id > 0 && id <= i32::MAX as u64));
    ids.dedup();
    assert_eq!(ids.len(), 4, "never reused");
}

#[test]
fn handlers_that_wait_on_each_other_run_apart() {
    let (_prefix, server) = serve(&[]);
    let kong = ProtoBufKong::new(server.socket(), KONG);
    let entity = Entity::new(&kong, "blocker", json!({"mode": "rendezvous"}));
    // Deadlocks if the two events ran one after the other on one thread.
    thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| entity.run("access", |_| Answer::Nil).unwrap()))
            .collect();
        for run in runs {
            let outcome = run.join().unwrap();
            let met = outcome.calls.iter().any(|c| {
                c.method == "kong.response.set_header"
                    && c.args == [Value::from("x-blocker"), Value::from("met")]
            });
            assert!(met, "{:?}", outcome.calls);
        }
    });
}

#[test]
fn its_methods_are_counted_by_name() {
    let (_prefix, server) = serve(&metrics::LISTEN_ANY);
    let address = metrics::address(&server);
    let kong = ProtoBufKong::new(server.socket(), KONG);
    let entity = Entity::new(&kong, "hello", json!({}));
    for _ in 0..5 {
        entity.run("access", |_| Answer::Nil).unwrap();
    }
    let m = metrics::scrape(&address);
    let rpcs = |method: &str| m.value("pluginhost_rpcs_total", &[("method", method)]);
    assert_eq!(rpcs("cmd_start_instance"), 1.0);
    assert_eq!(rpcs("cmd_handle_event"), 5.0);
    assert_eq!(rpcs("pdk_answer"), 10.0);
    assert_eq!(rpcs("plugin.HandleEvent"), 0.0);
    let calls = m.value(
        "pluginhost_pdk_calls_total",
        &[("plugin", "hello"), ("method", "kong.request.get_header")],
    );
    assert_eq!(calls, 5.0);
}

#[test]
fn a_new_version_loaded_while_serving_serves_new_instances() {
    let (prefix, server) = serve(&[]);
    let kong = ProtoBufKong::new(server.socket(), KONG);
    let greeting = |entity: &Entity| {
        let outcome = entity
            .run("access", |call| match call.method.as_str() {
                "kong.request.get_header" => Answer::Value(Value::from("example.com")),
                _ => Answer::Nil,
            })
            .unwrap();
        outcome.calls[1].args[1].as_str().unwrap().to_owned()
    };
    let old = Entity::new(&kong, "hello", json!({"message": "hi"}));
    assert_eq!(greeting(&old), "Rust says hi to example.com");
    // Deployed as the guide says: a temporary name, then a rename over the old file.
    let temp = prefix.plugins().join(".libhello.so.tmp");
    std::fs::copy(kong_sim::paths::plugin("hello_v2"), &temp).unwrap();
    std::fs::rename(&temp, prefix.plugins().join("libhello.so")).unwrap();
    server.wait_for_log("generation=2");
    let new = Entity::new(&kong, "hello", json!({"message": "hi"}));
    assert_eq!(greeting(&new), "VERSION 2 GREETS example.com");
    // The instance started before keeps the code it started with.
    assert_eq!(greeting(&old), "Rust says hi to example.com");
}
