//! `rate-limit` with `policy = redis` against a real redis-server: two pluginhost processes
//! play two Kong nodes sharing one Redis. The tests count requests let through and refused.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
};

use kong_sim::{
    Value,
    kong::{Answer, Call, Kong, map},
    redis::RedisServer,
    server::{Prefix, Server},
};
use serde_json::json;

/// A Kong node: a pluginhost serving rate-limit and hello.
fn node() -> (Prefix, Server) {
    let prefix = Prefix::new();
    prefix.add_plugin("rate-limit", "rate-limit.so");
    prefix.add_plugin("hello", "hello.so");
    let server = prefix.serve(&[]);
    (prefix, server)
}

fn limit(redis: &RedisServer, limit: u32, fault_tolerant: bool) -> serde_json::Value {
    json!({
        "limit": limit,
        "limit_by": "ip",
        "policy": "redis",
        "redis": {"path": redis.socket(), "timeout": 5000},
        "fault_tolerant": fault_tolerant,
    })
}

/// What became of one request.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Proxied, with the remaining count its headers said (`None`: no headers, uncounted).
    Through(Option<String>),
    /// Answered by the plugin with this status.
    Refused(u64),
}

/// One request from `ip` at the fixed moment `now` (so no window boundary falls inside a
/// test), as Kong runs the access phase.
fn request(kong: &Kong, instance: u64, ip: &str, now: f64) -> Verdict {
    let mut remaining = None;
    let outcome = kong
        .handle_event(instance, "access", |call: &Call| {
            match call.method.as_str() {
                "kong.nginx.req_start_time" => Answer::Value(Value::F64(now)),
                "kong.router.get_route" => Answer::Value(map([("id", Value::from("route-1"))])),
                "kong.client.get_forwarded_ip" => Answer::Value(Value::from(ip)),
                "kong.response.set_headers" => {
                    remaining = call.args[0].as_map().and_then(|headers| {
                        headers
                            .iter()
                            .find(|(k, _)| k.as_str() == Some("ratelimit-remaining"))
                            .and_then(|(_, v)| v.as_array()?.first()?.as_str().map(str::to_owned))
                    });
                    Answer::Nil
                }
                _ => Answer::Nil,
            }
        })
        .unwrap();
    if outcome.exited {
        let exit = outcome.calls.last().unwrap();
        return Verdict::Refused(exit.args[0].as_u64().unwrap());
    }
    Verdict::Through(remaining)
}

#[test]
fn the_limit_holds_across_two_nodes() {
    let redis = RedisServer::start();
    let (_a, node_a) = node();
    let (_b, node_b) = node();
    let (kong_a, kong_b) = (node_a.kong(), node_b.kong());
    let config = limit(&redis, 10, true);
    let on_a = kong_a.start_instance("rate-limit", &config).unwrap();
    let on_b = kong_b.start_instance("rate-limit", &config).unwrap();
    // Six requests on each node, taking turns: the eleventh and twelfth are refused.
    let mut verdicts = Vec::new();
    for _ in 0..6 {
        verdicts.push(request(&kong_a, on_a, "198.51.100.1", 1_000_000_000.0));
        verdicts.push(request(&kong_b, on_b, "198.51.100.1", 1_000_000_000.0));
    }
    let refused = verdicts
        .iter()
        .filter(|v| **v == Verdict::Refused(429))
        .count();
    assert_eq!(refused, 2, "{verdicts:?}");
    assert_eq!(verdicts[9], Verdict::Through(Some("0".into())));
    assert_eq!(verdicts[10], Verdict::Refused(429));
}

#[test]
fn redis_down_then_back_both_fault_tolerant_behaviours() {
    let mut redis = RedisServer::start();
    let (_prefix, server) = node();
    let kong = server.kong();
    let tolerant = kong
        .start_instance("rate-limit", &limit(&redis, 100, true))
        .unwrap();
    let strict = kong
        .start_instance("rate-limit", &limit(&redis, 100, false))
        .unwrap();
    let now = 1_000_000_100.0;
    assert_eq!(
        request(&kong, tolerant, "203.0.113.1", now),
        Verdict::Through(Some("99".into()))
    );

    redis.stop();
    for _ in 0..3 {
        assert_eq!(
            request(&kong, tolerant, "203.0.113.1", now),
            Verdict::Through(None)
        );
        assert_eq!(
            request(&kong, strict, "203.0.113.2", now),
            Verdict::Refused(500)
        );
    }
    // One line per outage and instance, not one per request.
    let log = server.stderr();
    assert!(log.matches("failed").count() <= 2, "{log}");

    // Back, with an empty Redis: counting starts again, with no restart of pluginhost.
    redis.restart();
    assert_eq!(
        request(&kong, tolerant, "203.0.113.1", now),
        Verdict::Through(Some("99".into()))
    );
    assert_eq!(
        request(&kong, strict, "203.0.113.2", now),
        Verdict::Through(Some("99".into()))
    );
}

#[test]
fn a_slow_redis_holds_up_only_the_events_waiting_on_it() {
    let redis = RedisServer::start();
    let (_prefix, server) = node();
    let kong = server.kong();
    let instance = kong
        .start_instance("rate-limit", &limit(&redis, 100, true))
        .unwrap();
    let hello = kong
        .start_instance("hello", &json!({"message": "hi"}))
        .unwrap();
    // Redis answers nothing for two seconds.
    let _sleeping = redis.send("DEBUG SLEEP 2");
    let done = Arc::new(AtomicBool::new(false));
    let waiting = {
        let done = Arc::clone(&done);
        let kong = server.kong();
        thread::spawn(move || {
            let verdict = request(&kong, instance, "192.0.2.9", 1_000_000_200.0);
            done.store(true, Ordering::Release);
            verdict
        })
    };
    // Meanwhile hello keeps serving on the same server.
    for _ in 0..50 {
        let outcome = kong
            .handle_event(hello, "access", |call: &Call| match call.method.as_str() {
                "kong.request.get_header" => Answer::Value(Value::from("example.com")),
                _ => Answer::Nil,
            })
            .unwrap();
        assert!(!outcome.calls.is_empty());
    }
    assert!(
        !done.load(Ordering::Acquire),
        "the rate-limit event was not held up by Redis, so this test shows nothing"
    );
    assert_eq!(waiting.join().unwrap(), Verdict::Through(Some("99".into())));
}
