use plugin_abi::testkit::{SimulatedKong, TestRequest, configure};
use serde_json::json;

use super::Hello;

#[test]
fn greets_the_host_on_the_response() {
    let plugin: Hello = configure(json!({"message": "hi"})).unwrap();
    let kong = SimulatedKong::new(TestRequest::get("http://example.com/"));
    kong.run_request(&plugin).unwrap();
    assert_eq!(
        kong.response().headers.get("x-hello-from-rust"),
        Some("Rust says hi to example.com")
    );
    assert!(kong.proxied());
}

#[test]
fn an_unset_message_says_hello() {
    // Kong sends every unset field as null.
    let plugin: Hello = configure(json!({"message": null})).unwrap();
    let kong = SimulatedKong::new(TestRequest::get("http://a.test:8000/"));
    kong.run_request(&plugin).unwrap();
    assert_eq!(
        kong.response().headers.get("x-hello-from-rust"),
        Some("Rust says hello to a.test:8000")
    );
}
