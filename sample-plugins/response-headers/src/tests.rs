use plugin_abi::{
    Phase,
    testkit::{SimulatedKong, TestRequest, UpstreamResponse, configure},
};
use serde_json::json;

use super::ResponseHeaders;

fn plugin() -> ResponseHeaders {
    configure(json!({
        "from_service": {"x-upstream-server": "server", "x-upstream-missing": "x-nope"},
        "status_header": "x-upstream-status",
        "body_size_header": "x-upstream-size",
    }))
    .unwrap()
}

#[test]
fn the_service_response_shows_in_the_client_headers() {
    let kong = SimulatedKong::new(TestRequest::get("http://a/")).with_upstream_response(
        UpstreamResponse::new(503)
            .header("Server", "gunicorn")
            .body("unavailable"),
    );
    kong.run_request(&plugin()).unwrap();
    let response = kong.response();
    assert_eq!(response.status, 503);
    assert_eq!(response.headers.get("x-upstream-server"), Some("gunicorn"));
    assert_eq!(response.headers.get("x-upstream-status"), Some("503"));
    assert_eq!(response.headers.get("x-upstream-size"), Some("11"));
    assert!(!response.headers.contains("x-upstream-missing"));
    assert_eq!(response.text(), "unavailable");
}

#[test]
fn nothing_is_added_when_another_plugin_ended_the_request() {
    let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    kong.run(|k| k.response().exit(403, None, None)).unwrap();
    kong.run_phase(&plugin(), Phase::Response).unwrap();
    assert!(!kong.response().headers.contains("x-upstream-status"));
}

#[test]
fn an_empty_config_is_valid() {
    let kong = SimulatedKong::new(TestRequest::get("http://a/"));
    kong.run_request(&configure::<ResponseHeaders>(json!({})).unwrap())
        .unwrap();
    assert_eq!(kong.response().status, 200);
}
