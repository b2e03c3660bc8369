//! The plugin against a real endpoint on loopback: HTTPS with a certificate the test makes,
//! plain HTTP, and endpoints that are down, slow or failing.

mod service;

use std::{
    thread,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use plugin_abi::{
    serde_json::{Value, json},
    testkit::{SimulatedKong, TestRequest, configure},
};

use self::service::{Reply, Service, down};
use super::TokenIntrospection;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An instance for `url`, trusting `service`'s authority when it has one.
fn plugin(url: &str, extra: Value) -> Result<TokenIntrospection, String> {
    let mut config = json!({
        "introspection_url": url,
        "client_id": "gateway",
        "client_secret": "s3cret",
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    configure(config)
}

fn with_ca(service: &Service) -> Value {
    json!({"ca_certificates": service.ca_file()})
}

/// A request with `token` as its bearer token, through one instance.
fn request(
    plugin: &TokenIntrospection,
    token: Option<&str>,
) -> (SimulatedKong, Result<(), String>) {
    let mut request = TestRequest::get("http://api.example/orders");
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    let kong = SimulatedKong::new(request);
    let result = kong.run_request(plugin).map_err(|e| e.to_string());
    (kong, result)
}

fn active(exp: u64) -> Reply {
    Reply::json(json!({
        "active": true, "sub": "u-42", "username": "alice", "client_id": "mobile",
        "scope": "orders:read", "exp": exp,
    }))
}

#[test]
fn an_active_token_over_https_goes_through_with_its_claims_asked_once_for_every_instance() {
    let exp = now() + 300;
    let service = Service::https(move |_| active(exp));
    let first = plugin(service.url(), with_ca(&service)).unwrap();
    let (kong, result) = request(&first, Some("t-1"));
    result.unwrap();
    assert!(kong.proxied());
    let sent = kong.service_request();
    for (header, value) in [
        ("x-credential-sub", "u-42"),
        ("x-credential-username", "alice"),
        ("x-credential-client-id", "mobile"),
        ("x-credential-scope", "orders:read"),
        ("x-credential-exp", &exp.to_string()),
    ] {
        assert_eq!(sent.headers.get(header), Some(value), "{header}");
    }
    let asked = service.asked();
    assert_eq!(asked.len(), 1);
    // HTTP Basic for gateway:s3cret, and RFC 7662's form.
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some("Basic Z2F0ZXdheTpzM2NyZXQ=")
    );
    assert_eq!(asked[0].body, "token=t-1&token_type_hint=access_token");

    // Another worker's instance of the same configuration: the answer is shared.
    let second = plugin(service.url(), with_ca(&service)).unwrap();
    let (kong, result) = request(&second, Some("t-1"));
    result.unwrap();
    assert!(kong.proxied());
    assert_eq!(service.asked().len(), 1, "answered from the shared cache");
}

#[test]
fn plain_http_works_the_same() {
    let service = Service::http(|_| active(now() + 300));
    let (kong, result) = request(&plugin(service.url(), json!({})).unwrap(), Some("t-2"));
    result.unwrap();
    assert_eq!(
        kong.service_request().headers.get("x-credential-sub"),
        Some("u-42")
    );
}

#[test]
fn no_token_or_an_inactive_one_is_401_with_the_bearer_challenge() {
    let service = Service::http(|_| Reply::json(json!({"active": false})));
    let plugin = plugin(service.url(), json!({})).unwrap();
    let (kong, result) = request(&plugin, None);
    result.unwrap();
    assert!(!kong.proxied());
    assert_eq!(kong.response().status, 401);
    assert_eq!(
        kong.response().headers.get("www-authenticate"),
        Some("Bearer")
    );
    assert!(service.asked().is_empty(), "no token, nothing to ask");

    let (kong, result) = request(&plugin, Some("revoked"));
    result.unwrap();
    assert_eq!(kong.response().status, 401);
    assert_eq!(kong.response().json()["message"], "the token is not active");
    assert_eq!(
        kong.response().headers.get("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
}

#[test]
fn an_answer_is_kept_no_longer_than_its_token_lives() {
    // The token expires in 2 s; the cache would keep answers a minute.
    let exp = now() + 2;
    let service = Service::http(move |_| active(exp));
    let plugin = plugin(service.url(), json!({"cache_seconds": 60})).unwrap();
    request(&plugin, Some("t-3")).1.unwrap();
    request(&plugin, Some("t-3")).1.unwrap();
    assert_eq!(service.asked().len(), 1, "kept while the token lives");
    thread::sleep(Duration::from_millis(2100));
    let (kong, result) = request(&plugin, Some("t-3"));
    result.unwrap();
    assert_eq!(service.asked().len(), 2, "asked again once it expired");
    // The endpoint still says active with an `exp` now past: the token is refused.
    assert_eq!(kong.response().status, 401);
}

#[test]
fn with_no_cache_every_request_asks_even_when_another_configuration_keeps_the_answer() {
    let service = Service::http(|_| active(now() + 300));
    let keeping = plugin(service.url(), json!({})).unwrap();
    let not_keeping = plugin(service.url(), json!({"cache_seconds": 0})).unwrap();
    request(&keeping, Some("t-6")).1.unwrap();
    request(&not_keeping, Some("t-6")).1.unwrap();
    request(&not_keeping, Some("t-6")).1.unwrap();
    assert_eq!(service.asked().len(), 3);
}

#[test]
fn a_service_that_is_down_slow_or_failing_fails_the_request() {
    let slow = Service::http(|_| Reply {
        delay: Duration::from_millis(1500),
        ..active(now() + 300)
    });
    let failing = Service::http(|_| Reply {
        status: 500,
        body: "{}".into(),
        delay: Duration::ZERO,
    });
    let garbled = Service::http(|_| Reply {
        status: 200,
        body: "<html>".into(),
        delay: Duration::ZERO,
    });
    let down = down();
    for (url, why) in [
        (down.as_str(), "onnect"),
        (slow.url(), "imeout"),
        (failing.url(), "500"),
        (garbled.url(), "json"),
    ] {
        let plugin = plugin(url, json!({"timeout_ms": 300})).unwrap();
        let (_, result) = request(&plugin, Some("t-4"));
        let error = result.unwrap_err();
        assert!(
            error.contains(&format!("introspection at {url} failed")) && error.contains(why),
            "{url}: {error}"
        );
    }
}

#[test]
fn served_as_pluginhost_serves_it_a_failure_ends_the_request_with_503() {
    let kong = SimulatedKong::new(
        TestRequest::get("http://api.example/").header("authorization", "Bearer t-7"),
    );
    let config = json!({"introspection_url": down(), "client_id": "g", "client_secret": "s"});
    let error = kong.run_request_as_served::<TokenIntrospection>(&config);
    assert!(error.unwrap_err().to_string().contains("introspection at"));
    assert!(
        !kong.proxied(),
        "an unauthenticated request never reaches the service"
    );
    assert_eq!(kong.response().status, 503);
    assert_eq!(
        kong.response().json()["message"],
        "the token cannot be checked now"
    );
}

#[test]
fn https_is_checked_against_the_configured_authorities_only() {
    let service = Service::https(|_| active(now() + 300));
    // Mozilla's roots do not know the test's authority.
    let (_, result) = request(&plugin(service.url(), json!({})).unwrap(), Some("t-5"));
    assert!(result.unwrap_err().contains("failed"));
    assert!(
        service.asked().is_empty(),
        "no request on an untrusted connection"
    );
    // An authorities file that cannot be read fails the instance, naming it.
    let e = plugin(
        service.url(),
        json!({"ca_certificates": "/nonexistent/ca.pem"}),
    )
    .err()
    .unwrap();
    assert!(e.contains("ca_certificates /nonexistent/ca.pem"), "{e}");
}

#[test]
fn a_config_kong_would_refuse_is_refused_here_too() {
    let e = plugin("idp.example/introspect", json!({})).err().unwrap();
    assert!(e.contains("is not a URL"), "{e}");
    let schema = plugin_abi::schema::kong_schema::<super::Config>("token-introspection").unwrap();
    let fields = &schema["fields"][0]["config"]["fields"];
    assert_eq!(
        fields[0]["introspection_url"]["match"],
        "^https?://[^/?#%s]+"
    );
    // Required strings: Kong's Admin API refuses them empty.
    assert!(fields[1]["client_id"].get("len_min").is_none());
    assert_eq!(fields[1]["client_id"]["required"], true);
}
