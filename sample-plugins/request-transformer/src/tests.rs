use plugin_abi::testkit::{SimulatedKong, TestRequest, configure};
use serde_json::json;

use super::RequestTransformer;

#[test]
fn headers_are_removed_renamed_and_added() {
    let plugin: RequestTransformer = configure(json!({
        "remove": {"headers": ["X-Debug"]},
        "rename": {"headers": {"x-old": "x-new"}},
        "add": {"headers": {"x-added": "yes", "x-present": "no"}},
    }))
    .unwrap();
    let kong = SimulatedKong::new(
        TestRequest::get("http://a/")
            .header("x-debug", "1")
            .header("X-Old", "a")
            .header("x-old", "b")
            .header("x-present", "kept"),
    );
    kong.run_request(&plugin).unwrap();
    let sent = kong.service_request().headers;
    assert!(!sent.contains("x-debug"));
    assert!(!sent.contains("x-old"));
    assert_eq!(sent.get_all("x-new"), ["a", "b"]);
    assert_eq!(sent.get("x-added"), Some("yes"));
    assert_eq!(sent.get("x-present"), Some("kept"));
}

#[test]
fn query_arguments_are_removed_renamed_and_added() {
    let plugin: RequestTransformer = configure(json!({
        "remove": {"querystring": ["debug"]},
        "rename": {"querystring": {"q": "search"}},
        "add": {"querystring": {"page": "1", "lang": "en"}},
    }))
    .unwrap();
    let kong = SimulatedKong::new(TestRequest::get("http://a/?q=rust+abi&debug&lang=fr"));
    kong.run_request(&plugin).unwrap();
    let sent = kong.service_request();
    assert_eq!(sent.query_arg("debug"), None);
    assert_eq!(sent.query_arg("q"), None);
    assert_eq!(sent.query_arg("search").as_deref(), Some("rust abi"));
    assert_eq!(sent.query_arg("page").as_deref(), Some("1"));
    assert_eq!(sent.query_arg("lang").as_deref(), Some("fr"));
}

#[test]
fn an_empty_config_changes_nothing() {
    let plugin: RequestTransformer = configure(json!({"remove": null})).unwrap();
    let kong = SimulatedKong::new(TestRequest::get("http://a/?a=1").header("x", "y"));
    kong.run_request(&plugin).unwrap();
    let sent = kong.service_request();
    assert_eq!(sent.raw_query, "a=1");
    assert_eq!(sent.headers.get("x"), Some("y"));
    assert!(
        !kong
            .calls()
            .iter()
            .any(|c| c.method.starts_with("kong.service.request.")),
        "nothing was sent to change"
    );
}
