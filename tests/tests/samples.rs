//! The sample plugins served end to end, as Kong drives them.

use std::{collections::HashSet, thread};

use kong_sim::{
    Value,
    kong::{Answer, Call, Entity},
    server::{Dialect, Prefix},
};
use serde_json::json;

fn hello_prefix() -> Prefix {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    prefix
}

#[test]
fn hello_answers_an_access_event_with_its_header_in_both_dialects() {
    let prefix = hello_prefix();
    for dialect in Dialect::BOTH {
        let server = prefix.serve_in(dialect, &[]);
        let kong = server.client(dialect);
        let entity = Entity::new(
            &*kong,
            "hello",
            json!({"message": "Kong!", "__seq__": 7, "route_id": null}),
        );
        // As go-hello does, event after event.
        for _ in 0..3 {
            let outcome = entity
                .run("access", |call| match call.method.as_str() {
                    "kong.request.get_header" => Answer::Value(Value::from("localhost:8000")),
                    _ => Answer::Nil,
                })
                .unwrap();
            assert!(!outcome.exited);
            assert_eq!(
                outcome.calls,
                vec![
                    Call {
                        method: "kong.request.get_header".into(),
                        args: vec![Value::from("host")],
                    },
                    Call {
                        method: "kong.response.set_header".into(),
                        args: vec![
                            Value::from("x-hello-from-rust"),
                            Value::from("Rust says Kong! to localhost:8000"),
                        ],
                    },
                ],
                "{dialect:?}"
            );
        }
    }
}

#[test]
fn hello_defaults_its_message_and_survives_a_missing_host() {
    let prefix = hello_prefix();
    let server = prefix.serve(&[]);
    let kong = server.kong();
    // Kong sends absent optional fields as null.
    let entity = Entity::new(&kong, "hello", json!({"message": null}));
    let outcome = entity.run("access", |_| Answer::Nil).unwrap();
    assert_eq!(
        outcome.calls[1].args,
        vec![
            Value::from("x-hello-from-rust"),
            Value::from("Rust says hello to ")
        ]
    );
    // A Kong 2.x StepError for the header: go-hello logs it and greets anyway.
    let outcome = entity
        .run("access", |call| match call.method.as_str() {
            "kong.request.get_header" => Answer::Error("no request".into()),
            _ => Answer::Nil,
        })
        .unwrap();
    assert_eq!(outcome.calls.len(), 2);
    assert_eq!(outcome.calls[1].args[1], Value::from("Rust says hello to "));
}

#[test]
fn log_appends_one_json_line_per_event_even_concurrently() {
    let runs = [
        (Dialect::MsgPack, false),
        (Dialect::MsgPack, true),
        (Dialect::BOTH[1], false),
    ];
    for (dialect, reopen) in runs {
        let prefix = Prefix::new();
        prefix.add_plugin("log", "liblog.so");
        let server = prefix.serve_in(dialect, &[]);
        let path = prefix.path().join("out.log");
        let kong = server.client(dialect);
        let entity = Entity::new(&*kong, "log", json!({"path": path, "reopen": reopen}));
        thread::scope(|s| {
            for worker in 0..8 {
                let entity = &entity;
                s.spawn(move || {
                    for n in 0..25 {
                        // A large entry, so that torn writes would show.
                        let serialized = json!({"worker": worker, "n": n, "pad": "x".repeat(5000)});
                        let outcome = entity
                            .run("log", |call| {
                                assert_eq!(call.method, "kong.log.serialize");
                                Answer::Value(Value::from(serialized.to_string()))
                            })
                            .unwrap();
                        assert!(!outcome.exited);
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let mut seen = HashSet::new();
        for line in text.lines() {
            let entry: serde_json::Value = serde_json::from_str(line).expect("whole JSON lines");
            seen.insert((
                entry["worker"].as_u64().unwrap(),
                entry["n"].as_u64().unwrap(),
            ));
        }
        assert_eq!(
            seen.len(),
            200,
            "{dialect:?}, reopen={reopen}: every event logged exactly once"
        );
        assert_eq!(text.lines().count(), 200);
    }
}

#[test]
fn log_refuses_a_config_without_path() {
    let prefix = Prefix::new();
    prefix.add_plugin("log", "liblog.so");
    let server = prefix.serve(&[]);
    let kong = server.kong();
    let e = kong
        .start_instance("log", &json!({"reopen": true}))
        .unwrap_err();
    assert!(
        e.starts_with("Decoding config: missing field `path`"),
        "{e}"
    );
}

#[test]
fn token_introspection_lets_active_tokens_through_and_fails_closed_when_its_service_is_down() {
    let prefix = Prefix::new();
    prefix.add_plugin("token-introspection", "libtoken_introspection.so");
    let up = kong_sim::introspection::Endpoint::answering(r#"{"active":true,"sub":"u-7"}"#)
        .unwrap()
        .url;
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/introspect", listener.local_addr().unwrap())
    };
    let config =
        |url: &str| json!({"introspection_url": url, "client_id": "k", "client_secret": "s"});
    let bearer = |call: &Call| match call.method.as_str() {
        "kong.request.get_header" => Answer::Value(Value::from("Bearer t-1")),
        _ => Answer::Nil,
    };
    for dialect in Dialect::BOTH {
        let server = prefix.serve_in(dialect, &[]);
        let kong = server.client(dialect);
        let result = Entity::new(&*kong, "token-introspection", config(&up)).run("access", bearer);
        assert_eq!(kong.status_of(&result), 200, "{dialect:?}: {result:?}");
        let outcome = result.unwrap();
        assert_eq!(
            outcome.response_header("x-credential-sub"),
            None,
            "a service header"
        );
        assert!(
            outcome
                .calls
                .iter()
                .any(|c| c.method == "kong.service.request.set_header"
                    && c.args == [Value::from("x-credential-sub"), Value::from("u-7")]),
            "{dialect:?}: {outcome:?}"
        );
        let result =
            Entity::new(&*kong, "token-introspection", config(&down)).run("access", bearer);
        assert_eq!(kong.status_of(&result), 503, "{dialect:?}: {result:?}");
        let no_token =
            Entity::new(&*kong, "token-introspection", config(&up)).run("access", |_| Answer::Nil);
        assert_eq!(kong.status_of(&no_token), 401, "{dialect:?}: {no_token:?}");
    }
}
