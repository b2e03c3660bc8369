//! Events: interleaving over pooled connections, abandonment, terminal calls, misbehaving
//! plugins. The server must keep serving through all of it.

use std::{thread, time::Duration};

use kong_sim::{
    Value,
    kong::{Answer, Conn, Entity, get, map},
    server::{Prefix, Server, wait_for_file},
};
use serde_json::json;

fn serve(extra: &[&str]) -> (Prefix, Server) {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    prefix.add_plugin("panicky", "libpanicky.so");
    let server = prefix.serve(extra);
    (prefix, server)
}

fn event(instance: u64, phase: &str) -> Value {
    map([
        ("InstanceId", Value::from(instance)),
        ("EventName", Value::from(phase)),
    ])
}

fn step(event_id: &Value, data: Option<Value>) -> Value {
    let mut entries = vec![(Value::from("EventId"), event_id.clone())];
    if let Some(data) = data {
        entries.push((Value::from("Data"), data));
    }
    Value::Map(entries)
}

fn header_of(step: &Value) -> Option<String> {
    let args = get(get(step, "Data")?, "Args")?.as_array()?;
    args.get(1)?.as_str().map(str::to_owned)
}

#[test]
fn interleaved_events_continue_on_swapped_connections() {
    let (_prefix, server) = serve(&[]);
    let kong = server.kong();
    let id = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();
    let mut a = Conn::open(server.socket()).unwrap();
    let mut b = Conn::open(server.socket()).unwrap();

    a.send(1, "plugin.HandleEvent", event(id, "access"))
        .unwrap();
    let first = a.read_response(1).unwrap();
    b.send(2, "plugin.HandleEvent", event(id, "access"))
        .unwrap();
    let second = b.read_response(2).unwrap();
    let (e1, e2) = (
        get(&first, "EventId").cloned().unwrap(),
        get(&second, "EventId").cloned().unwrap(),
    );
    assert_ne!(e1, e2);

    // Each event's answer arrives on the *other* connection.
    b.send(
        3,
        "plugin.Step",
        step(&e1, Some(Value::from("one.example"))),
    )
    .unwrap();
    a.send(
        4,
        "plugin.Step",
        step(&e2, Some(Value::from("two.example"))),
    )
    .unwrap();
    assert_eq!(
        header_of(&b.read_response(3).unwrap()).unwrap(),
        "Rust says hi to one.example"
    );
    assert_eq!(
        header_of(&a.read_response(4).unwrap()).unwrap(),
        "Rust says hi to two.example"
    );
    for (conn, msgid, e) in [(&mut a, 5, &e1), (&mut b, 6, &e2)] {
        conn.send(msgid, "plugin.Step", step(e, None)).unwrap();
        assert_eq!(
            get(&conn.read_response(msgid).unwrap(), "Data"),
            Some(&Value::from("ret"))
        );
    }
}

#[test]
fn many_concurrent_events_with_many_steps() {
    let (_prefix, server) = serve(&[]);
    let kong = server.kong();
    let entity = Entity::new(&kong, "panicky", json!({"mode": "sum", "count": 10}));
    thread::scope(|s| {
        for worker in 0..16i64 {
            let entity = &entity;
            s.spawn(move || {
                for _ in 0..20 {
                    let outcome = entity
                        .run("access", |call| match call.method.as_str() {
                            "kong.request.get_header" => {
                                Answer::Value(Value::from(worker.to_string()))
                            }
                            _ => Answer::Nil,
                        })
                        .unwrap();
                    let last = outcome.calls.last().unwrap();
                    assert_eq!(last.args[1], Value::from((worker * 10).to_string()));
                }
            });
        }
    });
}

#[test]
fn a_client_that_disconnects_mid_event_can_continue_elsewhere() {
    let (_prefix, server) = serve(&[]);
    let kong = server.kong();
    let id = kong.start_instance("hello", &json!({})).unwrap();
    let mut a = Conn::open(server.socket()).unwrap();
    a.send(1, "plugin.HandleEvent", event(id, "access"))
        .unwrap();
    let e = get(&a.read_response(1).unwrap(), "EventId")
        .cloned()
        .unwrap();
    drop(a);
    let mut b = Conn::open(server.socket()).unwrap();
    b.send(2, "plugin.Step", step(&e, Some(Value::from("h"))))
        .unwrap();
    assert_eq!(
        header_of(&b.read_response(2).unwrap()).unwrap(),
        "Rust says hello to h"
    );
}

#[test]
fn abandoned_events_are_reaped() {
    let (prefix, server) = serve(&["-event-timeout", "0.3"]);
    let kong = server.kong();
    let out = prefix.path().join("echo.json");
    let id = kong
        .start_instance("panicky", &json!({"mode": "echo", "path": out}))
        .unwrap();
    let first = kong
        .call("plugin.HandleEvent", event(id, "access"))
        .unwrap();
    let e = get(&first, "EventId").cloned().unwrap();
    server.wait_for_log("reaped events Kong abandoned");
    // Kong comes back too late: the event is gone...
    let late = kong.call("plugin.Step", step(&e, Some(Value::from(1))));
    assert_eq!(
        late,
        Err(format!("No running event {}", e.as_u64().unwrap()))
    );
    // ...and the handler's pending call was failed, so it returned and freed its stack.
    let recorded = wait_for_file(&out);
    let recorded: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    assert!(
        recorded["err"].as_str().unwrap().contains("abandoned"),
        "{recorded}"
    );
    // And new events still work.
    assert!(
        Entity::new(&kong, "hello", json!({}))
            .run("access", |_| Answer::Nil)
            .is_ok()
    );
}

#[test]
fn exit_is_terminal_and_later_calls_fail_in_the_plugin() {
    let (prefix, server) = serve(&[]);
    let kong = server.kong();
    let out = prefix.path().join("after-exit.txt");
    let entity = Entity::new(
        &kong,
        "panicky",
        json!({"mode": "exit_then_call", "path": out}),
    );
    let outcome = entity.run("access", |_| Answer::Nil).unwrap();
    assert!(outcome.exited);
    let exit = &outcome.calls[0];
    assert_eq!(exit.method, "kong.response.exit");
    assert_eq!(exit.args, vec![Value::from(403), Value::from("forbidden")]);
    // The plugin's next call was refused instead of being sent.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(&out) {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the plugin never recorded its call"
        );
        thread::sleep(Duration::from_millis(10));
    };
    assert!(text.contains("after kong.response.exit"), "{text}");
}

#[test]
fn a_step_after_exit_is_an_unknown_event() {
    let (prefix, server) = serve(&[]);
    let kong = server.kong();
    let out = prefix.path().join("x.txt");
    let id = kong
        .start_instance("panicky", &json!({"mode": "exit_then_call", "path": out}))
        .unwrap();
    let first = kong
        .call("plugin.HandleEvent", event(id, "access"))
        .unwrap();
    let e = get(&first, "EventId").cloned().unwrap();
    assert_eq!(
        get(get(&first, "Data").unwrap(), "Method"),
        Some(&Value::from("kong.response.exit"))
    );
    let again = kong.call("plugin.Step", step(&e, None));
    assert_eq!(
        again,
        Err(format!("No running event {}", e.as_u64().unwrap()))
    );
}

#[test]
fn a_panicking_plugin_gets_an_error_reply_and_the_server_lives() {
    let (_prefix, server) = serve(&[]);
    let kong = server.kong();
    for _ in 0..3 {
        let e = Entity::new(&kong, "panicky", json!({"mode": "panic"}))
            .run("access", |_| Answer::Nil)
            .unwrap_err();
        assert_eq!(e, "panicky panicked in access: panicky was asked to panic");
    }
    let e = Entity::new(&kong, "panicky", json!({"mode": "error"}))
        .run("access", |_| Answer::Nil)
        .unwrap_err();
    assert_eq!(
        e,
        "panicky access handler failed: panicky was asked to fail"
    );
    let ok = Entity::new(&kong, "hello", json!({}))
        .run("access", |_| Answer::Nil)
        .unwrap();
    assert_eq!(ok.calls.len(), 2);
}

#[test]
fn bad_arguments_from_a_plugin_are_refused_by_the_host() {
    let (prefix, server) = serve(&[]);
    let kong = server.kong();
    let out = prefix.path().join("bad-args.txt");
    let outcome = Entity::new(&kong, "panicky", json!({"mode": "bad_args", "path": out}))
        .run("access", |_| Answer::Nil)
        .unwrap();
    assert!(outcome.calls.is_empty(), "nothing reached Kong");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("not one MessagePack array"), "{text}");
}

#[test]
fn every_answer_shape_reaches_the_plugin() {
    let (prefix, server) = serve(&[]);
    let kong = server.kong();
    let out = prefix.path().join("echo.json");
    let entity = Entity::new(&kong, "panicky", json!({"mode": "echo", "path": out}));
    let cases = [
        (Answer::Nil, json!({"ok": null})),
        (Answer::Value(Value::Array(vec![])), json!({"ok": []})),
        (
            Answer::Value(Value::Binary(b"bytes".to_vec())),
            json!({"ok": "bytes"}),
        ),
        (Answer::Value(Value::F64(2.0)), json!({"ok": 2})),
        (Answer::Value(Value::F64(1.5)), json!({"ok": 1.5})),
        (
            Answer::Value(Value::Map(vec![(Value::from(1), Value::from("a"))])),
            json!({"ok": {"1": "a"}}),
        ),
        (
            Answer::Error("kong says no".into()),
            // Kong's message as Kong wrote it.
            json!({"err": "kong says no"}),
        ),
    ];
    for (answer, expected) in cases {
        let outcome = entity.run("access", |_| answer.clone()).unwrap();
        assert_eq!(outcome.calls[0].method, "kong.ctx.shared.get");
        let recorded: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(recorded, expected, "answer {answer:?}");
    }
}

#[test]
fn kong_retries_a_lost_instance() {
    let (_prefix, server) = serve(&[]);
    let kong = server.kong();
    let entity = Entity::new(&kong, "hello", json!({}));
    entity.run("access", |_| Answer::Nil).unwrap();
    // The server forgets the instance (as after a restart or collection)...
    let status = kong.call("plugin.GetStatus", Value::Nil).unwrap();
    let instances = get(
        get(get(&status, "Plugins").unwrap(), "hello").unwrap(),
        "Instances",
    )
    .unwrap();
    let id = get(&instances.as_array().unwrap()[0], "Id")
        .cloned()
        .unwrap();
    kong.call("plugin.CloseInstance", id).unwrap();
    // ...and Kong's retry starts a new one.
    entity.run("access", |_| Answer::Nil).unwrap();
    assert_eq!(entity.starts.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[test]
fn idle_instances_are_collected_but_not_while_an_event_runs() {
    let (_prefix, server) = serve(&["-instance-ttl", "0.3"]);
    let kong = server.kong();
    let busy = kong.start_instance("hello", &json!({})).unwrap();
    let idle = kong.start_instance("hello", &json!({})).unwrap();
    let first = kong
        .call("plugin.HandleEvent", event(busy, "access"))
        .unwrap();
    let e = get(&first, "EventId").cloned().unwrap();
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        kong.call("plugin.InstanceStatus", Value::from(idle)),
        Err(format!("No plugin instance {idle}"))
    );
    assert!(
        kong.call("plugin.InstanceStatus", Value::from(busy))
            .is_ok()
    );
    let next = kong
        .call("plugin.Step", step(&e, Some(Value::from("h"))))
        .unwrap();
    assert_eq!(header_of(&next).unwrap(), "Rust says hello to h");
}
