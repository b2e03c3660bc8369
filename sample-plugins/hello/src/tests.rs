use plugin_abi::{
    Plugin,
    testkit::{Answer, ScriptedKong, SimulatedKong, TestRequest, configure},
};
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

/// go-hello's two calls, whatever Kong answers to the first: a value, nil (no `host`), a
/// Kong 2.x error, or something that is not a string.
#[test]
fn every_answer_to_get_header_still_greets_as_go_hello_does() {
    let plugin: Hello = configure(json!({"message": "hi"})).unwrap();
    for (answer, host) in [
        (Answer::from("example.com"), "example.com"),
        (Answer::Nil, ""),
        (Answer::Error("header name must be a string".into()), ""),
        (Answer::from(42), ""),
    ] {
        let kong = ScriptedKong::new(move |call| match call.method.as_str() {
            "kong.request.get_header" => answer.clone(),
            _ => Answer::Nil,
        });
        kong.run(|k| plugin.access(k)).unwrap();
        let calls = kong.calls();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[1].method, "kong.response.set_header");
        assert_eq!(
            calls[1].args[1].as_str(),
            Some(format!("Rust says hi to {host}").as_str())
        );
    }
}

#[test]
fn a_failed_set_header_does_not_fail_the_event() {
    let plugin: Hello = configure(json!({})).unwrap();
    let kong = ScriptedKong::new(|call| match call.method.as_str() {
        "kong.response.set_header" => Answer::Error("headers already sent".into()),
        _ => Answer::from("a.test"),
    });
    assert!(kong.run(|k| plugin.access(k)).is_ok());
}
