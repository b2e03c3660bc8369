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
    paths,
    server::{Dialect, Prefix, Server, wait_for_file},
};
use plugin_abi::schema::KongVersion;
use pluginhost::protobuf::messages::{Call as RpcCommand, CmdHandleEvent, RpcCall};
use prost::Message;
use nil_table::NilMeans;
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
