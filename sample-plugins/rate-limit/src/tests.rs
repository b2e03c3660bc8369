use plugin_abi::{
    pdk::Consumer,
    testkit::{Answer, SimulatedKong, TestRequest, configure},
};
use serde_json::json;

use super::RateLimit;

/// The counters are process-wide, so each test uses its own client IPs.
fn from(ip: &str) -> SimulatedKong {
    SimulatedKong::new(TestRequest::get("http://a/").client_ip(ip))
}

#[test]
fn the_limit_holds_within_a_window_then_429() {
    let plugin: RateLimit = configure(json!({"limit": 2, "window_seconds": 60})).unwrap();
    for remaining in ["1", "0"] {
        let kong = from("192.0.2.1");
        kong.run_request(&plugin).unwrap();
        let response = kong.response();
        assert_eq!(response.status, 200);
        assert_eq!(response.headers.get("ratelimit-limit"), Some("2"));
        assert_eq!(response.headers.get("ratelimit-remaining"), Some(remaining));
    }
    let kong = from("192.0.2.1");
    kong.run_request(&plugin).unwrap();
    let response = kong.response();
    assert_eq!(response.status, 429);
    assert_eq!(
        response.json(),
        json!({"message": "API rate limit exceeded"})
    );
    assert_eq!(response.headers.get("ratelimit-remaining"), Some("0"));
    assert!(response.headers.contains("retry-after"));
    assert!(!kong.proxied());
    // Another client has its own counter.
    let kong = from("192.0.2.2");
    kong.run_request(&plugin).unwrap();
    assert_eq!(kong.response().status, 200);
}

#[test]
fn a_new_window_starts_a_new_count() {
    let plugin: RateLimit = configure(json!({"limit": 1, "window_seconds": 10})).unwrap();
    let at =
        |time: f64| from("192.0.2.10").answering("kong.nginx.req_start_time", Answer::from(time));
    let kong = at(1000.0);
    kong.run_request(&plugin).unwrap();
    assert_eq!(kong.response().headers.get("ratelimit-reset"), Some("10"));
    let kong = at(1004.0);
    kong.run_request(&plugin).unwrap();
    assert_eq!(kong.response().status, 429);
    assert_eq!(kong.response().headers.get("retry-after"), Some("6"));
    let kong = at(1010.0);
    kong.run_request(&plugin).unwrap();
    assert_eq!(kong.response().status, 200);
}

#[test]
fn consumers_are_counted_across_addresses() {
    let plugin: RateLimit = configure(json!({"limit": 1})).unwrap();
    let bob = Consumer {
        id: "c-bob".into(),
        ..Default::default()
    };
    let kong = from("198.51.100.1").authenticated_as(bob.clone());
    kong.run_request(&plugin).unwrap();
    assert_eq!(kong.response().status, 200);
    let kong = from("198.51.100.2").authenticated_as(bob);
    kong.run_request(&plugin).unwrap();
    assert_eq!(kong.response().status, 429);
}

#[test]
fn limit_by_ip_ignores_the_consumer() {
    let plugin: RateLimit = configure(json!({"limit": 1, "limit_by": "ip"})).unwrap();
    for (id, status) in [("c-1", 200), ("c-2", 429)] {
        let consumer = Consumer {
            id: id.into(),
            ..Default::default()
        };
        let kong = from("203.0.113.7").authenticated_as(consumer);
        kong.run_request(&plugin).unwrap();
        assert_eq!(kong.response().status, status, "{id}");
    }
}

#[test]
fn bad_configs_are_refused() {
    assert!(configure::<RateLimit>(json!({"limit": 0})).is_err());
    let err = configure::<RateLimit>(json!({"limit": 1, "limit_by": "moon"}))
        .err()
        .unwrap();
    assert!(err.contains("unknown variant `moon`"), "{err}");
}

#[test]
fn windows_are_fixed_and_shared_by_every_node() {
    use crate::window::{Decision, Window};
    assert_eq!(
        Window::of(1000, 60),
        Window {
            start: 960,
            reset: 20
        }
    );
    assert_eq!(Window::of(960, 60).reset, 60);
    assert_eq!(Window::of(1019, 10).start, 1010);
    let window = Window::of(1000, 60);
    let at = |count| Decision::for_count(count, 10, window);
    assert!(at(10).allowed && at(10).remaining == 0);
    assert!(at(9).allowed && at(9).remaining == 1);
    assert!(!at(11).allowed && at(11).remaining == 0);
    assert_eq!(at(11).reset, 20);
}

/// A Redis nobody answers on: its socket path does not exist. Outages are logged once per
/// Redis, so each test has its own.
fn down_redis(fault_tolerant: bool) -> RateLimit {
    let path = format!("/nonexistent/{fault_tolerant}/redis.sock");
    configure(json!({
        "limit": 1,
        "policy": "redis",
        "redis": {"path": path, "timeout": 100},
        "fault_tolerant": fault_tolerant,
    }))
    .unwrap()
}

#[test]
fn a_failing_redis_lets_requests_through_when_fault_tolerant_and_logs_once() {
    let plugin = down_redis(true);
    let mut errors = 0;
    for _ in 0..3 {
        let kong = from("192.0.2.50");
        kong.run_request(&plugin).unwrap();
        assert_eq!(kong.response().status, 200);
        assert!(kong.proxied());
        assert!(!kong.response().headers.contains("ratelimit-limit"));
        errors += kong
            .logs()
            .iter()
            .filter(|l| {
                l.message
                    .contains("redis at /nonexistent/true/redis.sock failed")
            })
            .count();
    }
    assert_eq!(errors, 1, "one log line per outage");
}

#[test]
fn a_failing_redis_answers_500_when_not_fault_tolerant() {
    let plugin = down_redis(false);
    let kong = from("192.0.2.51");
    kong.run_request(&plugin).unwrap();
    assert_eq!(kong.response().status, 500);
    assert!(!kong.proxied());
}
