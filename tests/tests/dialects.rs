//! The conformance tests that hold in both dialects, MsgPack:1 and ProtoBuf:1, each run in
//! both: the same plugins, the same answers from Kong, the same outcomes, except where the
//! PDK's nil table says the dialects differ. (hello as go-hello and `log`'s serialize in
//! concurrent events run in both dialects in `samples.rs`.)

use std::{collections::BTreeMap, thread};

#[path = "../../plugin-abi/src/pdk/nil_table.rs"]
mod nil_table;

use kong_sim::protobuf::ProtoBufKong;
use kong_sim::{
    Value,
    kong::{Answer, Client, Entity, map},
    kong_proto::Schema,
    metrics, paths,
    server::{Dialect, Prefix, Server, wait_for_file},
    wait,
};
use nil_table::NilMeans;
use plugin_abi::schema::KongVersion;
use pluginhost::wire::protobuf::messages::{Call as RpcCommand, CmdHandleEvent, RpcCall};
use prost::Message;
use serde_json::json;

fn serve(dialect: Dialect, extra: &[&str]) -> (Prefix, Server) {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    prefix.add_plugin("panicky", "libpanicky.so");
    let server = prefix.serve_in(dialect, extra);
    (prefix, server)
}

/// The nil tables of the PDK's docs: for each dialect, method → what Kong's nil gives.
fn documented(dialect: Dialect) -> BTreeMap<String, String> {
    let docs = std::fs::read_to_string(paths::workspace().join("plugin-abi/src/pdk/mod.rs"))
        .expect("the PDK's docs");
    let table = match dialect {
        Dialect::MsgPack => "nil",
        Dialect::ProtoBuf(_) => "nil, ProtoBuf:1",
    };
    // The words the panicky plugin's `every` mode records for each outcome.
    nil_table::read(&docs, table)
        .into_iter()
        .map(|(method, means)| {
            let word = match means {
                NilMeans::Absent => "absent",
                NilMeans::NoValue => "novalue",
                NilMeans::Done => "done",
                NilMeans::Zero => "value",
                NilMeans::Refused => "refused",
            };
            (method, word.to_owned())
        })
        .collect()
}

#[test]
fn every_typed_call_gives_what_the_nil_table_of_its_dialect_says() {
    for dialect in Dialect::BOTH {
        let (prefix, server) = serve(dialect, &[]);
        let kong = server.client(dialect);
        let out = prefix.path().join("every.json");
        let entity = Entity::new(&*kong, "panicky", json!({"mode": "every", "path": out}));
        let outcome = entity.run("access", |_| Answer::Nil).unwrap();
        let recorded: BTreeMap<String, String> =
            serde_json::from_str(&wait_for_file(&out)).unwrap();
        let table = documented(dialect);
        // Every method of the nil table but `kong.response.exit` (see the exit test).
        assert_eq!(recorded.len(), 74, "{dialect:?}: every typed call made");
        for (method, got) in &recorded {
            assert_eq!(
                Some(got),
                table.get(method),
                "{dialect:?}: {method} gave {got}"
            );
        }
        // Over ProtoBuf:1 nothing outside `service Kong` reached Kong.
        if let Dialect::ProtoBuf(_) = dialect {
            assert!(
                outcome
                    .calls
                    .iter()
                    .all(|c| c.method != "kong.response.error")
            );
            assert_eq!(outcome.calls.len(), 73);
        }
    }
}

#[test]
fn exit_ends_the_event_and_later_calls_fail_in_the_plugin() {
    for dialect in Dialect::BOTH {
        let (prefix, server) = serve(dialect, &[]);
        let kong = server.client(dialect);
        let out = prefix.path().join("after-exit.txt");
        let entity = Entity::new(
            &*kong,
            "panicky",
            json!({"mode": "exit_then_call", "path": out}),
        );
        let outcome = entity.run("access", |_| Answer::Nil).unwrap();
        assert!(outcome.exited, "{dialect:?}");
        assert_eq!(outcome.calls.len(), 1, "{dialect:?}: nothing after exit");
        assert_eq!(
            outcome.calls[0].args,
            vec![Value::from(403), Value::from("forbidden")],
            "{dialect:?}"
        );
        let text = wait_for_file(&out);
        assert!(
            text.contains("after kong.response.exit"),
            "{dialect:?}: {text}"
        );
        // The server serves on.
        Entity::new(&*kong, "hello", json!({}))
            .run("access", |_| Answer::Nil)
            .unwrap();
    }
}

#[test]
fn a_stale_instance_is_started_again() {
    for dialect in Dialect::BOTH {
        let (_prefix, server) = serve(dialect, &[]);
        let kong = server.client(dialect);
        let entity = Entity::new(&*kong, "hello", json!({}));
        entity.run("access", |_| Answer::Nil).unwrap();
        // The server forgets the instance Kong holds (closed, collected, or restarted).
        kong.close_instance(entity.id().unwrap()).unwrap();
        entity.run("access", |_| Answer::Nil).unwrap();
        assert_eq!(
            entity.starts.load(std::sync::atomic::Ordering::Relaxed),
            2,
            "{dialect:?}"
        );
    }
}

#[test]
fn over_protobuf_a_stale_instance_closes_the_connection_and_each_kong_does_its_own() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    let server = prefix.serve_in(Dialect::ProtoBuf(KongVersion::new(3, 9, 0)), &[]);
    for (kong_version, retries) in [
        (KongVersion::new(2, 8, 0), false),
        (KongVersion::new(3, 0, 0), true),
        (KongVersion::new(3, 8, 0), true),
    ] {
        let kong = ProtoBufKong::new(server.socket(), kong_version);
        let entity = Entity::new(&kong, "hello", json!({}));
        entity.run("access", |_| Answer::Nil).unwrap();
        kong.close_instance(entity.id().unwrap()).unwrap();
        let result = entity.run("access", |_| Answer::Nil);
        if retries {
            assert!(result.is_ok(), "Kong {kong_version}: {result:?}");
            assert_eq!(kong.status_of(&result), 200);
        } else {
            // Kong 2.4 - 2.8 logs "closed" and the plugin stays broken (Kong #8293).
            assert_eq!(result, Err("closed".into()), "Kong {kong_version}");
        }
    }
}

#[test]
fn concurrent_events_with_many_calls_each_get_their_own_answers() {
    for dialect in Dialect::BOTH {
        let (_prefix, server) = serve(dialect, &[]);
        let kong = server.client(dialect);
        let entity = Entity::new(&*kong, "panicky", json!({"mode": "sum", "count": 20}));
        thread::scope(|s| {
            for t in 0..8i64 {
                let entity = &entity;
                s.spawn(move || {
                    for _ in 0..20 {
                        let outcome = entity
                            .run("access", |_| Answer::Value(Value::from(t.to_string())))
                            .unwrap();
                        let last = outcome.calls.last().unwrap();
                        assert_eq!(last.method, "kong.response.set_header");
                        assert_eq!(last.args[1], Value::from((20 * t).to_string()));
                    }
                });
            }
        });
    }
}

#[test]
fn a_failing_handler_ends_its_event_and_kong_goes_on() {
    for dialect in Dialect::BOTH {
        let (_prefix, server) = serve(dialect, &[]);
        let kong = server.client(dialect);
        for mode in ["panic", "error"] {
            let result = Entity::new(&*kong, "panicky", json!({"mode": mode}))
                .run("access", |_| Answer::Nil);
            match dialect {
                // An error answer, which Kong logs.
                Dialect::MsgPack => assert!(result.is_err(), "{mode}"),
                // The event ends normally: Kong 3.8+ would answer 500 for anything else.
                Dialect::ProtoBuf(_) => assert!(result.is_ok(), "{mode}: {result:?}"),
            }
        }
        server.wait_for_log("panicky was asked to panic");
        Entity::new(&*kong, "hello", json!({}))
            .run("access", |_| Answer::Nil)
            .unwrap();
    }
}

#[test]
fn an_abandoned_event_is_reaped() {
    for dialect in Dialect::BOTH {
        let timeout = match dialect {
            Dialect::MsgPack => "0.3",
            Dialect::ProtoBuf(_) => "600",
        };
        let (prefix, server) = serve(dialect, &["-event-timeout", timeout]);
        let out = prefix.path().join("echo.json");
        let config = json!({"mode": "echo", "path": out});
        match dialect {
            Dialect::MsgPack => {
                let kong = server.kong();
                let id = kong.start_instance("panicky", &config).unwrap();
                kong.call(
                    "plugin.HandleEvent",
                    map([
                        ("InstanceId", Value::from(id)),
                        ("EventName", Value::from("access")),
                    ]),
                )
                .unwrap();
                // Kong never comes back: reaped after the timeout.
            }
            Dialect::ProtoBuf(kong_version) => {
                let kong = kong_sim::protobuf::ProtoBufKong::new(server.socket(), kong_version);
                let id = kong.start_instance("panicky", &config).unwrap();
                let mut conn = kong.acquire();
                let call = RpcCall {
                    sequence: 9,
                    call: Some(RpcCommand::CmdHandleEvent(CmdHandleEvent {
                        instance_id: id as i32,
                        event_name: "access".into(),
                    })),
                };
                conn.send(&call.encode_to_vec()).unwrap();
                assert_eq!(conn.read().unwrap(), b"kong.ctx.shared.get");
                conn.read().unwrap();
                // Kong gives up on the request mid-event: its connection closes, and the
                // event ends at once, long before the timeout.
                drop(conn);
            }
        }
        let recorded: serde_json::Value = serde_json::from_str(&wait_for_file(&out)).unwrap();
        let err = recorded["err"].as_str().unwrap_or_default();
        assert!(
            err.contains("abandoned") || err.contains("closed the event's"),
            "{dialect:?}: {recorded}"
        );
    }
}

/// One connection written byte by byte, as a client that sends a large request slowly does.
enum Raw {
    MsgPack(kong_sim::kong::Conn),
    ProtoBuf(kong_sim::protobuf::Conn),
}

impl Raw {
    fn open(dialect: Dialect, server: &Server) -> Raw {
        match dialect {
            Dialect::MsgPack => Raw::MsgPack(kong_sim::kong::Conn::open(server.socket()).unwrap()),
            Dialect::ProtoBuf(kong) => {
                Raw::ProtoBuf(ProtoBufKong::new(server.socket(), kong).acquire())
            }
        }
    }

    /// A request of about 700 KiB (a config padded with spaces) starting a hello instance,
    /// framed as the dialect frames it; `id` is its msgid or sequence.
    fn start_request(&self, id: u8) -> Vec<u8> {
        let mut config = String::from(r#"{"message":"hi"}"#);
        config.extend(std::iter::repeat_n(' ', 700 * 1024));
        match self {
            Raw::MsgPack(_) => {
                let param = map([("Name", Value::from("hello")), ("Config", config.into())]);
                let request = Value::Array(vec![
                    Value::from(0),
                    Value::from(id),
                    Value::from("plugin.StartInstance"),
                    Value::Array(vec![param]),
                ]);
                let mut frame = Vec::new();
                rmpv::encode::write_value(&mut frame, &request).unwrap();
                frame
            }
            Raw::ProtoBuf(_) => {
                let args = map([("name", Value::from("hello")), ("config", config.into())]);
                let payload =
                    Schema::of(PROTOBUF_KONG).rpc_call(i64::from(id), "cmd_start_instance", &args);
                let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
                frame.extend_from_slice(&payload);
                frame
            }
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self {
            Raw::MsgPack(conn) => conn.send_raw(bytes).map_err(|e| e.to_string()),
            Raw::ProtoBuf(conn) => conn.send_raw(bytes),
        }
    }

    fn is_closed(&mut self) -> bool {
        match self {
            Raw::MsgPack(conn) => conn.is_closed(),
            Raw::ProtoBuf(conn) => conn.is_closed(),
        }
    }

    /// Whether request `id` was answered with the instance it started.
    fn started(&mut self, id: u8) -> bool {
        match self {
            Raw::MsgPack(conn) => conn
                .read_response(u64::from(id))
                .is_ok_and(|status| kong_sim::kong::get(&status, "Id").is_some()),
            Raw::ProtoBuf(conn) => {
                let frame = conn.read().unwrap();
                let (sequence, returned) = Schema::of(PROTOBUF_KONG).rpc_return(&frame).unwrap();
                sequence == i64::from(id)
                    && returned.is_some_and(|(field, _)| field == "instance_status")
            }
        }
    }
}

const PROTOBUF_KONG: KongVersion = KongVersion::new(3, 9, 0);

#[test]
fn all_connections_share_one_budget_of_buffered_bytes() {
    for dialect in [Dialect::MsgPack, Dialect::ProtoBuf(PROTOBUF_KONG)] {
        let (_prefix, server) = serve(
            dialect,
            &[
                "-max-request-bytes",
                "1048576",
                "-max-buffered-bytes",
                "1048576",
                metrics::LISTEN_ANY[0],
                metrics::LISTEN_ANY[1],
            ],
        );
        let address = metrics::address(&server);
        // Two requests of about 700 KiB each, each allowed alone, both sent but their last
        // 100 KiB.
        let mut first = Raw::open(dialect, &server);
        let (a, b) = (first.start_request(1), first.start_request(2));
        let cut = a.len() - 100 * 1024;
        first.send_raw(&a[..cut]).unwrap();
        // Part of it may still be in the kernel: the second starts once the server holds all
        // of it, or it could be the first one that crosses the budget.
        wait::until("the first request's bytes to be buffered", || {
            metrics::buffered_bytes(&address) == cut as f64
        });
        let mut second = Raw::open(dialect, &server);
        // The server may close it before it has all of it.
        let _ = second.send_raw(&b[..cut]);
        assert!(
            second.is_closed(),
            "{dialect:?}: the connection past the budget stays open"
        );
        server.wait_for_log("past the budget of 1048576 bytes");
        first.send_raw(&a[cut..]).unwrap();
        assert!(
            first.started(1),
            "{dialect:?}: the first request is answered"
        );
        // The server goes on: a new connection is served.
        let kong = server.client(dialect);
        assert!(
            kong.start_instance("hello", &json!({})).is_ok(),
            "{dialect:?}"
        );
    }
}
