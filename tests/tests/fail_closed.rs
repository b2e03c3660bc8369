//! A plugin that fails closed (`fail_closed = 503`): whatever makes its access handler fail
//! (an error, a panic, a PDK call's error passed on, no thread to run it on) ends the request
//! with its declared response through the client of every Kong generation in both dialects,
//! where a plugin that fails open lets the request through. Its log handler's failures stay
//! errors: the response is sent by then.

use std::thread;

use kong_sim::{
    Value,
    kong::{Answer, Client, Entity, Kong, Outcome, get, nil},
    protobuf::ProtoBufKong,
    server::{Dialect, Prefix, Server},
};
use plugin_abi::schema::KongVersion;
use serde_json::json;

const MESSAGE: &str = "authentication is unavailable";

fn serve(dialect: Dialect, extra: &[&str]) -> (Prefix, Server) {
    let prefix = Prefix::new();
    prefix.add_plugin("guard", "libguard.so");
    prefix.add_plugin("panicky", "libpanicky.so");
    let server = prefix.serve_in(dialect, extra);
    (prefix, server)
}

/// A client of each generation whose behaviour differs: MsgPack:1 as Kong 2.0, 2.3, 2.5 and
/// 3.9 speak it, ProtoBuf:1 as 2.8, 3.0 and 3.9.
fn generations(dialect: Dialect, server: &Server) -> Vec<(String, Box<dyn Client>)> {
    let versions: &[KongVersion] = match dialect {
        Dialect::MsgPack => &[
            KongVersion::new(2, 0, 0),
            KongVersion::new(2, 3, 0),
            KongVersion::new(2, 5, 0),
            KongVersion::new(3, 9, 0),
        ],
        Dialect::ProtoBuf(_) => &[
            KongVersion::new(2, 8, 0),
            KongVersion::new(3, 0, 0),
            KongVersion::new(3, 9, 0),
        ],
    };
    versions
        .iter()
        .map(|&kong| {
            let client: Box<dyn Client> = match dialect {
                Dialect::MsgPack => Box::new(Kong::of(server.socket(), kong)),
                Dialect::ProtoBuf(_) => Box::new(ProtoBufKong::new(server.socket(), kong)),
            };
            (format!("{dialect:?} as Kong {kong}"), client)
        })
        .collect()
}

/// The `message` of an exit's JSON body: a table over MsgPack:1, its JSON text over
/// ProtoBuf:1.
fn message(outcome: &Outcome) -> Option<String> {
    let body = outcome.calls.last()?.args.get(1)?;
    match body {
        Value::String(text) => {
            let json: serde_json::Value = serde_json::from_str(text.as_str()?).ok()?;
            json["message"].as_str().map(str::to_owned)
        }
        table => get(table, "message")?.as_str().map(str::to_owned),
    }
}

/// Kong's answer to one `guard` event in `mode`, with `pdk` as Kong's answers.
fn guard(kong: &dyn Client, mode: &str, phase: &str) -> Result<Outcome, String> {
    // `pdk` mode reads a number Kong answers with text: the PDK call fails to decode.
    Entity::new(kong, "guard", json!({"mode": mode})).run(phase, |call| {
        match call.method.as_str() {
            "kong.ctx.shared.get" => Answer::Value(Value::from("many")),
            _ => Answer::Nil,
        }
    })
}

#[test]
fn every_failure_of_the_access_handler_ends_the_request_with_the_declared_response() {
    for dialect in Dialect::BOTH {
        let (_prefix, server) = serve(dialect, &[]);
        for (who, kong) in generations(dialect, &server) {
            for mode in ["error", "panic", "pdk"] {
                let result = guard(&*kong, mode, "access");
                assert_eq!(kong.status_of(&result), 503, "{who}, {mode}: {result:?}");
                let outcome = result.unwrap();
                assert_eq!(outcome.calls.last().unwrap().method, "kong.response.exit");
                assert_eq!(message(&outcome).as_deref(), Some(MESSAGE), "{who}, {mode}");
                // Kong's error log says why, before the response.
                let logged = &outcome.calls[outcome.calls.len() - 2];
                assert_eq!(logged.method, "kong.log.err", "{who}, {mode}");
            }
            // Its own answers are its own; a request it lets through goes on.
            assert_eq!(
                kong.status_of(&guard(&*kong, "deny", "access")),
                401,
                "{who}"
            );
            assert_eq!(
                kong.status_of(&guard(&*kong, "pass", "access")),
                200,
                "{who}"
            );
            // A plugin that fails open lets the failed request through, as Kong does.
            for mode in ["error", "panic"] {
                let result =
                    Entity::new(&*kong, "panicky", json!({"mode": mode})).run("access", nil);
                assert_eq!(kong.status_of(&result), 200, "{who}: panicky {mode}");
                assert!(!result.is_ok_and(|o| o.exited), "{who}: panicky {mode}");
            }
        }
    }
}

#[test]
fn a_failure_where_the_response_is_under_way_stays_an_error() {
    let (_prefix, server) = serve(Dialect::MsgPack, &[]);
    let kong = server.kong();
    for mode in ["error", "panic", "pdk"] {
        let result = guard(&kong, mode, "log");
        assert!(result.is_err(), "{mode}: {result:?}");
    }
}

#[test]
fn a_declared_phase_runs_apart_from_its_first_event_however_quick() {
    let (_prefix, server) = serve(Dialect::MsgPack, &["-threads", "1"]);
    let kong = server.kong();
    let entity = Entity::new(&kong, "guard", json!({"mode": "pass"}));
    // A phase not declared comes inline after some quick events; this one never does.
    let inline = (0..200)
        .map(|_| entity.run("access", nil).expect("runs"))
        .filter(|o| o.response_header("x-thread") == Some("pluginhost-0"))
        .count();
    assert_eq!(inline, 0, "events on the serving thread");
}

#[test]
fn an_event_refused_for_lack_of_threads_ends_the_request_too() {
    let (_prefix, server) = serve(Dialect::MsgPack, &["-threads", "1", "-max-threads", "8"]);
    let kong = server.kong();
    let entity = Entity::new(&kong, "guard", json!({"mode": "hold", "ms": 1500}));
    entity.run("access", nil).expect("an instance");
    let outcomes: Vec<Result<Outcome, String>> = thread::scope(|s| {
        let runs: Vec<_> = (0..24)
            .map(|_| s.spawn(|| entity.run("access", nil)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let refused = outcomes
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|o| o.status() == 503))
        .count();
    let served = outcomes
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|o| o.status() == 200))
        .count();
    assert!(refused > 0, "{outcomes:?}");
    assert!(served > 0, "{outcomes:?}");
    assert_eq!(refused + served, outcomes.len(), "{outcomes:?}");
    server.wait_for_log("event refused");
    server.wait_for_log("the request ends with 503 (fail_closed)");
}
