use plugin_abi::{
    pdk::Consumer,
    testkit::{SimulatedKong, TestRequest, configure},
};
use serde_json::json;

use super::KeyAuth;

fn plugin(extra: serde_json::Value) -> KeyAuth {
    let mut config = json!({"keys": {"k-alice": "alice", "k-ghost": "ghost"}});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    configure(config).unwrap()
}

fn kong(request: TestRequest) -> SimulatedKong {
    let alice = Consumer {
        id: "c-alice".into(),
        username: Some("alice".into()),
        ..Default::default()
    };
    SimulatedKong::new(request).with_consumer(alice)
}

#[test]
fn a_key_in_a_header_authenticates_its_consumer() {
    let kong = kong(TestRequest::get("http://a/").header("apikey", "k-alice"));
    kong.run_request(&plugin(json!({}))).unwrap();
    assert_eq!(kong.consumer().unwrap().id, "c-alice");
    assert_eq!(kong.credential().unwrap().consumer_id(), Some("c-alice"));
    let sent = kong.service_request();
    assert_eq!(sent.headers.get("x-consumer-username"), Some("alice"));
    assert_eq!(sent.headers.get("apikey"), Some("k-alice"));
    assert_eq!(kong.response().status, 200);
}

#[test]
fn a_key_in_the_query_works_and_can_be_hidden() {
    let kong = kong(TestRequest::get("http://a/?apikey=k-alice&page=2"));
    kong.run_request(&plugin(json!({"hide_credentials": true})))
        .unwrap();
    assert!(kong.consumer().is_some());
    let sent = kong.service_request();
    assert_eq!(sent.query_arg("apikey"), None);
    assert_eq!(sent.query_arg("page").as_deref(), Some("2"));
}

#[test]
fn a_hidden_header_key_is_not_sent_to_the_service() {
    let kong = kong(TestRequest::get("http://a/").header("X-Key", "k-alice"));
    kong.run_request(&plugin(
        json!({"key_names": ["x-key"], "hide_credentials": true}),
    ))
    .unwrap();
    assert!(!kong.service_request().headers.contains("x-key"));
}

#[test]
fn no_key_is_a_401_with_kongs_message() {
    let kong = kong(TestRequest::get("http://a/"));
    kong.run_request(&plugin(json!({}))).unwrap();
    let response = kong.response();
    assert_eq!(response.status, 401);
    assert_eq!(
        response.json(),
        json!({"message": "No API key found in request"})
    );
    assert_eq!(
        response.headers.get("www-authenticate"),
        Some("Key realm=\"kong\"")
    );
    assert!(!kong.proxied());
}

#[test]
fn query_keys_are_ignored_when_disabled() {
    let kong = kong(TestRequest::get("http://a/?apikey=k-alice"));
    kong.run_request(&plugin(json!({"key_in_query": false})))
        .unwrap();
    assert_eq!(kong.response().status, 401);
}

#[test]
fn unknown_keys_and_missing_consumers_are_refused_alike() {
    for key in ["wrong", "k-ghost"] {
        let kong = kong(TestRequest::get("http://a/").header("apikey", key));
        kong.run_request(&plugin(json!({}))).unwrap();
        assert_eq!(kong.response().status, 401, "{key}");
        assert_eq!(
            kong.response().json()["message"],
            "Invalid authentication credentials"
        );
        assert!(kong.consumer().is_none());
    }
}

#[test]
fn the_config_needs_keys_and_key_names() {
    let err = configure::<KeyAuth>(json!({})).err().unwrap();
    assert!(err.contains("missing field `keys`"), "{err}");
    let err = configure::<KeyAuth>(json!({"keys": {}, "key_names": []}))
        .err()
        .unwrap();
    assert!(err.contains("key_names"), "{err}");
}
