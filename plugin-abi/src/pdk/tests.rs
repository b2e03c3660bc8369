//! Every PDK function against the scripted Kong: the exact method string and argument array it
//! sends (spec §6.1), and the decoding of the answer shapes Kong sends.

use std::collections::BTreeMap;

use rmpv::Value;

use super::nil_table::{self, NilMeans};
use crate::{
    Kong, PdkError,
    pdk::{Consumer, MultiMap},
    testkit::{Answer, ScriptedKong},
};

/// Runs `f` against a Kong answering `answer`, and returns the one call it made.
fn sent<T>(answer: Answer, f: impl FnOnce(&Kong<'_>) -> T) -> (String, Vec<Value>) {
    let kong = ScriptedKong::answering(answer);
    kong.run(f);
    let calls = kong.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    (calls[0].method.clone(), calls[0].args.clone())
}

fn s(v: &str) -> Value {
    Value::from(v)
}

/// What a call returned, in the words of the nil table of `crate::pdk`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// `Err(PdkError::Kong(message))`.
    Kong(String),
    /// `Ok(None)`.
    Absent,
    /// `Err(PdkError::NoValue)`.
    Failed,
    /// `Ok(())`.
    Done,
    /// Anything else.
    Other,
}

/// The outcome of one PDK call's result, for any return type.
fn outcome<T: std::fmt::Debug>(result: crate::PdkResult<T>) -> Outcome {
    match result {
        Ok(v) => match format!("{v:?}").as_str() {
            "None" => Outcome::Absent,
            "()" => Outcome::Done,
            _ => Outcome::Other,
        },
        Err(PdkError::NoValue { .. }) => Outcome::Failed,
        Err(PdkError::Kong(message)) => Outcome::Kong(message),
        Err(_) => Outcome::Other,
    }
}

/// Every PDK function with a fixed argument: the call, its method, its argument array.
type Case = (Box<dyn Fn(&Kong<'_>) -> Outcome>, &'static str, Vec<Value>);

fn headers() -> MultiMap {
    [("x-a".to_string(), vec!["1".to_string()])].into()
}

fn consumer() -> Consumer {
    Consumer {
        id: "c1".into(),
        ..Default::default()
    }
}

fn every_function() -> Vec<Case> {
    let map = || Value::Map(vec![(s("x-a"), Value::Array(vec![s("1")]))]);
    vec![
        (
            Box::new(|k| outcome(k.client().get_ip())),
            "kong.client.get_ip",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.client().get_forwarded_ip())),
            "kong.client.get_forwarded_ip",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.client().get_port())),
            "kong.client.get_port",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.client().get_forwarded_port())),
            "kong.client.get_forwarded_port",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.client().get_credential())),
            "kong.client.get_credential",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.client().load_consumer("foo", true))),
            "kong.client.load_consumer",
            vec![s("foo"), Value::from(true)],
        ),
        (
            Box::new(|k| outcome(k.client().get_consumer())),
            "kong.client.get_consumer",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.client().authenticate(Some(&consumer()), None))),
            "kong.client.authenticate",
            vec![Value::Map(vec![
                (s("id"), s("c1")),
                (s("created_at"), Value::Nil),
                (s("username"), Value::Nil),
                (s("custom_id"), Value::Nil),
                (s("tags"), Value::Array(vec![])),
            ])],
        ),
        (
            Box::new(|k| outcome(k.client().get_protocol(true))),
            "kong.client.get_protocol",
            vec![Value::from(true)],
        ),
        (
            Box::new(|k| outcome(k.ctx().shared().set("k", 1))),
            "kong.ctx.shared.set",
            vec![s("k"), Value::from(1)],
        ),
        (
            Box::new(|k| outcome(k.ctx().shared().get::<serde_json::Value>("k"))),
            "kong.ctx.shared.get",
            vec![s("k")],
        ),
        (
            Box::new(|k| outcome(k.ip().is_trusted("1.2.3.4"))),
            "kong.ip.is_trusted",
            vec![s("1.2.3.4")],
        ),
        (
            Box::new(|k| outcome(k.log().alert("a"))),
            "kong.log.alert",
            vec![s("a")],
        ),
        (
            Box::new(|k| outcome(k.log().crit("a"))),
            "kong.log.crit",
            vec![s("a")],
        ),
        (
            Box::new(|k| outcome(k.log().err("a"))),
            "kong.log.err",
            vec![s("a")],
        ),
        (
            Box::new(|k| outcome(k.log().warn("a"))),
            "kong.log.warn",
            vec![s("a")],
        ),
        (
            Box::new(|k| outcome(k.log().notice("a"))),
            "kong.log.notice",
            vec![s("a")],
        ),
        (
            Box::new(|k| outcome(k.log().info("a"))),
            "kong.log.info",
            vec![s("a")],
        ),
        (
            Box::new(|k| outcome(k.log().debug("a"))),
            "kong.log.debug",
            vec![s("a")],
        ),
        (
            Box::new(|k| outcome(k.log().values(crate::pdk::LogLevel::Debug, ("n: ", 5)))),
            "kong.log.debug",
            vec![s("n: "), Value::from(5)],
        ),
        (
            Box::new(|k| outcome(k.log().set_serialize_value("a.b", 1))),
            "kong.log.set_serialize_value",
            vec![s("a.b"), Value::from(1)],
        ),
        (
            Box::new(|k| outcome(k.log().serialize())),
            "kong.log.serialize",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.nginx().get_var("v"))),
            "kong.nginx.get_var",
            vec![s("v")],
        ),
        (
            Box::new(|k| outcome(k.nginx().get_tls1_version_str())),
            "kong.nginx.get_tls1_version_str",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.nginx().set_ctx("k", "v"))),
            "kong.nginx.set_ctx",
            vec![s("k"), s("v")],
        ),
        (
            Box::new(|k| outcome(k.nginx().get_ctx::<serde_json::Value>("k"))),
            "kong.nginx.get_ctx",
            vec![s("k")],
        ),
        (
            Box::new(|k| outcome(k.nginx().req_start_time())),
            "kong.nginx.req_start_time",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.nginx().get_subsystem())),
            "kong.nginx.get_subsystem",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.node().get_id())),
            "kong.node.get_id",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.node().get_memory_stats())),
            "kong.node.get_memory_stats",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_scheme())),
            "kong.request.get_scheme",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_host())),
            "kong.request.get_host",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_port())),
            "kong.request.get_port",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_forwarded_scheme())),
            "kong.request.get_forwarded_scheme",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_forwarded_host())),
            "kong.request.get_forwarded_host",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_forwarded_port())),
            "kong.request.get_forwarded_port",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_http_version())),
            "kong.request.get_http_version",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_method())),
            "kong.request.get_method",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_path())),
            "kong.request.get_path",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_path_with_query())),
            "kong.request.get_path_with_query",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_raw_query())),
            "kong.request.get_raw_query",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_query_arg("a"))),
            "kong.request.get_query_arg",
            vec![s("a")],
        ),
        (
            Box::new(|k| outcome(k.request().get_query(Some(5)))),
            "kong.request.get_query",
            vec![Value::from(5)],
        ),
        (
            Box::new(|k| outcome(k.request().get_query(None))),
            "kong.request.get_query",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_header("h"))),
            "kong.request.get_header",
            vec![s("h")],
        ),
        (
            Box::new(|k| outcome(k.request().get_headers(Some(7)))),
            "kong.request.get_headers",
            vec![Value::from(7)],
        ),
        (
            Box::new(|k| outcome(k.request().get_raw_body())),
            "kong.request.get_raw_body",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.request().get_uri_captures())),
            "kong.request.get_uri_captures",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.response().get_status())),
            "kong.response.get_status",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.response().get_header("h"))),
            "kong.response.get_header",
            vec![s("h")],
        ),
        (
            Box::new(|k| outcome(k.response().get_headers(None))),
            "kong.response.get_headers",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.response().get_source())),
            "kong.response.get_source",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.response().set_status(201))),
            "kong.response.set_status",
            vec![Value::from(201)],
        ),
        (
            Box::new(|k| outcome(k.response().set_header("h", "v"))),
            "kong.response.set_header",
            vec![s("h"), s("v")],
        ),
        (
            Box::new(|k| outcome(k.response().add_header("h", "v"))),
            "kong.response.add_header",
            vec![s("h"), s("v")],
        ),
        (
            Box::new(|k| outcome(k.response().clear_header("h"))),
            "kong.response.clear_header",
            vec![s("h")],
        ),
        (
            Box::new(|k| outcome(k.response().set_headers(&headers()))),
            "kong.response.set_headers",
            vec![map()],
        ),
        (
            Box::new(|k| outcome(k.response().exit(403, Some("no"), Some(&headers())))),
            "kong.response.exit",
            vec![Value::from(403), s("no"), map()],
        ),
        (
            Box::new(|k| outcome(k.response().exit(403, None, Some(&headers())))),
            "kong.response.exit",
            vec![Value::from(403), s(""), map()],
        ),
        (
            Box::new(|k| outcome(k.response().exit(204, None, None))),
            "kong.response.exit",
            vec![Value::from(204)],
        ),
        (
            Box::new(|k| {
                outcome(
                    k.response().exit_json(
                        401,
                        &[("message", "no")]
                            .into_iter()
                            .collect::<std::collections::BTreeMap<_, _>>(),
                        Some(&headers()),
                    ),
                )
            }),
            "kong.response.exit",
            vec![
                Value::from(401),
                Value::Map(vec![(s("message"), s("no"))]),
                map(),
            ],
        ),
        (
            Box::new(|k| outcome(k.response().error(500, None, None))),
            "kong.response.error",
            vec![Value::from(500)],
        ),
        (
            Box::new(|k| outcome(k.router().get_route())),
            "kong.router.get_route",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.router().get_service())),
            "kong.router.get_service",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.service().set_upstream("u"))),
            "kong.service.set_upstream",
            vec![s("u")],
        ),
        (
            Box::new(|k| outcome(k.service().set_target("h", 81))),
            "kong.service.set_target",
            vec![s("h"), Value::from(81)],
        ),
        (
            Box::new(|k| outcome(k.service().request().set_scheme("https"))),
            "kong.service.request.set_scheme",
            vec![s("https")],
        ),
        (
            Box::new(|k| outcome(k.service().request().set_path("/p"))),
            "kong.service.request.set_path",
            vec![s("/p")],
        ),
        (
            Box::new(|k| outcome(k.service().request().set_raw_query("a=1"))),
            "kong.service.request.set_raw_query",
            vec![s("a=1")],
        ),
        (
            Box::new(|k| outcome(k.service().request().set_method("PUT"))),
            "kong.service.request.set_method",
            vec![s("PUT")],
        ),
        (
            Box::new(|k| outcome(k.service().request().set_query(&headers()))),
            "kong.service.request.set_query",
            vec![map()],
        ),
        (
            Box::new(|k| outcome(k.service().request().set_header("h", "v"))),
            "kong.service.request.set_header",
            vec![s("h"), s("v")],
        ),
        (
            Box::new(|k| outcome(k.service().request().add_header("h", "v"))),
            "kong.service.request.add_header",
            vec![s("h"), s("v")],
        ),
        (
            Box::new(|k| outcome(k.service().request().clear_header("h"))),
            "kong.service.request.clear_header",
            vec![s("h")],
        ),
        (
            Box::new(|k| outcome(k.service().request().set_headers(&headers()))),
            "kong.service.request.set_headers",
            vec![map()],
        ),
        (
            Box::new(|k| outcome(k.service().request().set_raw_body(&[0xff]))),
            "kong.service.request.set_raw_body",
            vec![Value::Binary(vec![0xff])],
        ),
        (
            Box::new(|k| outcome(k.service().response().get_status())),
            "kong.service.response.get_status",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.service().response().get_headers(None))),
            "kong.service.response.get_headers",
            vec![],
        ),
        (
            Box::new(|k| outcome(k.service().response().get_header("h"))),
            "kong.service.response.get_header",
            vec![s("h")],
        ),
        (
            Box::new(|k| outcome(k.service().response().get_raw_body())),
            "kong.service.response.get_raw_body",
            vec![],
        ),
    ]
}

#[test]
fn method_strings_and_argument_shapes() {
    let cases = every_function();
    for (f, method, args) in cases {
        assert_eq!(sent(Answer::Nil, f), (method.to_owned(), args), "{method}");
    }
}

/// The nil table of `crate::pdk`'s docs: method → what a nil answer gives.
fn documented_nil_outcomes() -> BTreeMap<String, Outcome> {
    nil_table::read(include_str!("mod.rs"), "nil")
        .into_iter()
        .map(|(method, means)| {
            let outcome = match means {
                NilMeans::Absent => Outcome::Absent,
                NilMeans::NoValue => Outcome::Failed,
                NilMeans::Done => Outcome::Done,
                other => panic!("{method}: MsgPack:1 sends nil itself, not {other:?}"),
            };
            (method, outcome)
        })
        .collect()
}

#[test]
fn a_nil_answer_means_what_the_table_in_the_docs_says() {
    let mut seen = BTreeMap::new();
    for (f, method, _) in every_function() {
        let kong = ScriptedKong::answering(Answer::Nil);
        let got = kong.run(|k| f(k));
        assert_ne!(got, Outcome::Other, "{method} on nil");
        // Some functions appear twice (with and without optional arguments): one meaning.
        if let Some(before) = seen.insert(method.to_owned(), got.clone()) {
            assert_eq!(before, got, "{method}");
        }
    }
    // `exit_json` sends kong.response.exit too; every function is in the table.
    assert_eq!(seen, documented_nil_outcomes());
}

#[test]
fn a_step_error_is_kongs_message_as_kong_wrote_it() {
    for (f, method, _) in every_function() {
        let kong = ScriptedKong::answering(Answer::Error("bad header".into()));
        assert_eq!(
            kong.run(|k| f(k)),
            Outcome::Kong("bad header".into()),
            "{method}"
        );
    }
}

#[test]
fn answers_in_every_shape_kong_sends() {
    let run = |answer: Answer| ScriptedKong::answering(answer);
    // Strings: str or bin.
    assert_eq!(
        run(Answer::Value(Value::Binary(b"GET".to_vec())))
            .run(|k| k.request().get_method())
            .unwrap(),
        "GET"
    );
    // Integers as floats, floats as integers.
    assert_eq!(
        run(Answer::Value(Value::F64(200.0)))
            .run(|k| k.response().get_status())
            .unwrap(),
        200
    );
    assert_eq!(
        run(Answer::from(2))
            .run(|k| k.request().get_http_version())
            .unwrap(),
        2.0
    );
    // Nothing: None where the answer is optional, an error where it is not (Kong 3.x failure).
    assert_eq!(
        run(Answer::Nil)
            .run(|k| k.request().get_header("h"))
            .unwrap(),
        None
    );
    let e = run(Answer::Nil)
        .run(|k| k.request().get_path())
        .unwrap_err();
    assert!(matches!(e, PdkError::NoValue { .. }), "{e}");
    // Kong 2.x StepError.
    let e = run(Answer::Error("bad".into()))
        .run(|k| k.request().get_path())
        .unwrap_err();
    assert_eq!(e, PdkError::Kong("bad".into()));
    // Multimaps: [] for empty, single strings, flags, integer keys.
    let m = run(Answer::Value(Value::Array(vec![])))
        .run(|k| k.request().get_headers(None))
        .unwrap();
    assert!(m.is_empty());
    let m = run(Answer::Value(Value::Map(vec![
        (s("a"), s("1")),
        (s("flag"), Value::from(true)),
        (Value::from(3), Value::Array(vec![s("x"), s("y")])),
    ])))
    .run(|k| k.request().get_query(None))
    .unwrap();
    assert_eq!(m["a"], ["1"]);
    assert!(m["flag"].is_empty());
    assert_eq!(m["3"], ["x", "y"]);
    // Query args: a value, a flag, several values, none.
    let arg = |a: Answer| run(a).run(|k| k.request().get_query_arg("q")).unwrap();
    assert_eq!(arg(Answer::from("v")).as_deref(), Some("v"));
    assert_eq!(arg(Answer::from(true)).as_deref(), Some(""));
    assert_eq!(
        arg(Answer::Value(Value::Array(vec![s("1"), s("2")]))).as_deref(),
        Some("1")
    );
    assert_eq!(arg(Answer::Nil), None);
    // Entities in Kong's real shapes, with unknown fields and nulls.
    let route = Value::Map(vec![
        (s("id"), s("r")),
        (
            s("headers"),
            Value::Map(vec![(s("x-v"), Value::Array(vec![s("1")]))]),
        ),
        (
            s("sources"),
            Value::Array(vec![Value::Map(vec![
                (s("ip"), s("10.0.0.1")),
                (s("port"), Value::from(80)),
            ])]),
        ),
        (s("name"), Value::Nil),
        (s("ws_id"), s("w")),
        (s("request_buffering"), Value::from(true)),
    ]);
    let r = run(Answer::Value(route))
        .run(|k| k.router().get_route())
        .unwrap();
    assert_eq!(r.headers["x-v"], ["1"]);
    assert_eq!(r.sources[0]["ip"], "10.0.0.1");
    assert_eq!(r.name, None);
    assert_eq!(r.extra["ws_id"], "w");
    let empty_headers = Value::Map(vec![
        (s("id"), s("r")),
        (s("headers"), Value::Array(vec![])),
    ]);
    assert!(
        run(Answer::Value(empty_headers))
            .run(|k| k.router().get_route())
            .unwrap()
            .headers
            .is_empty()
    );
    let credential = Value::Map(vec![
        (s("id"), s("k")),
        (s("consumer"), Value::Map(vec![(s("id"), s("c"))])),
    ]);
    let c = run(Answer::Value(credential))
        .run(|k| k.client().get_credential())
        .unwrap()
        .unwrap();
    assert_eq!(c.consumer_id(), Some("c"));
    // Raw bodies: bin or str, any bytes.
    let body = run(Answer::Value(Value::Binary(vec![0, 0xff])))
        .run(|k| k.request().get_raw_body())
        .unwrap();
    assert_eq!(body, vec![0, 0xff]);
}

#[test]
fn nothing_is_sent_after_exit() {
    let kong = ScriptedKong::answering(Answer::Nil);
    let after = kong.run(|k| {
        k.response().exit(401, None, None).unwrap();
        k.request().get_header("h")
    });
    assert!(matches!(after, Err(PdkError::EventEnded(_))), "{after:?}");
    assert_eq!(
        kong.calls().len(),
        1,
        "the call after exit never reached Kong"
    );
}
