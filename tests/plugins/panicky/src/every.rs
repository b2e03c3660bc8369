//! `every` mode: calls every typed PDK function once and records what each call gave, so
//! that a test can hold each one to the PDK's nil table in each dialect.

use std::collections::BTreeMap;

use plugin_abi::{
    Kong, PdkError, PdkResult,
    pdk::{Consumer, LogLevel, MultiMap},
};

/// What one call gave, in the words of the nil table: `absent` (`Ok(None)`), `done`
/// (`Ok(())`), `value` (any other `Ok`), `novalue` (`Err(NoValue)`), `refused` (the host
/// refused the call), `kong: <message>`, `ended`, or `other: <error>`.
fn outcome<T: std::fmt::Debug>(result: PdkResult<T>) -> String {
    match result {
        Ok(v) => match format!("{v:?}").as_str() {
            "None" => "absent".into(),
            "()" => "done".into(),
            _ => "value".into(),
        },
        Err(PdkError::NoValue { .. }) => "novalue".into(),
        Err(PdkError::Host(_)) => "refused".into(),
        Err(PdkError::Kong(message)) => format!("kong: {message}"),
        Err(PdkError::EventEnded(_)) => "ended".into(),
        Err(e) => format!("other: {e}"),
    }
}

fn headers() -> MultiMap {
    [("x-a".to_string(), vec!["1".to_string()])].into()
}

/// Every call by its method name (the last call of a method wins: one line per method).
pub fn every_call(kong: &Kong) -> BTreeMap<&'static str, String> {
    let consumer = Consumer {
        id: "c1".into(),
        ..Default::default()
    };
    let k = kong;
    let mut seen = BTreeMap::new();
    let mut record = |method: &'static str, outcome: String| {
        seen.insert(method, outcome);
    };
    record("kong.client.get_ip", outcome(k.client().get_ip()));
    record(
        "kong.client.get_forwarded_ip",
        outcome(k.client().get_forwarded_ip()),
    );
    record("kong.client.get_port", outcome(k.client().get_port()));
    record(
        "kong.client.get_forwarded_port",
        outcome(k.client().get_forwarded_port()),
    );
    record(
        "kong.client.get_credential",
        outcome(k.client().get_credential()),
    );
    record(
        "kong.client.load_consumer",
        outcome(k.client().load_consumer("foo", true)),
    );
    record(
        "kong.client.get_consumer",
        outcome(k.client().get_consumer()),
    );
    record(
        "kong.client.authenticate",
        outcome(k.client().authenticate(Some(&consumer), None)),
    );
    record(
        "kong.client.get_protocol",
        outcome(k.client().get_protocol(true)),
    );
    record("kong.ctx.shared.set", outcome(k.ctx().shared().set("k", 1)));
    record(
        "kong.ctx.shared.get",
        outcome(k.ctx().shared().get::<serde_json::Value>("k")),
    );
    record("kong.ip.is_trusted", outcome(k.ip().is_trusted("1.2.3.4")));
    record("kong.log.alert", outcome(k.log().alert("a")));
    record("kong.log.crit", outcome(k.log().crit("a")));
    record("kong.log.err", outcome(k.log().err("a")));
    record("kong.log.warn", outcome(k.log().warn("a")));
    record("kong.log.notice", outcome(k.log().notice("a")));
    record("kong.log.info", outcome(k.log().info("a")));
    record(
        "kong.log.debug",
        outcome(k.log().values(LogLevel::Debug, ("n: ", 5))),
    );
    record(
        "kong.log.set_serialize_value",
        outcome(k.log().set_serialize_value("a.b", 1)),
    );
    record("kong.log.serialize", outcome(k.log().serialize()));
    record("kong.nginx.get_var", outcome(k.nginx().get_var("v")));
    record(
        "kong.nginx.get_tls1_version_str",
        outcome(k.nginx().get_tls1_version_str()),
    );
    record("kong.nginx.set_ctx", outcome(k.nginx().set_ctx("k", "v")));
    record(
        "kong.nginx.get_ctx",
        outcome(k.nginx().get_ctx::<serde_json::Value>("k")),
    );
    record(
        "kong.nginx.req_start_time",
        outcome(k.nginx().req_start_time()),
    );
    record(
        "kong.nginx.get_subsystem",
        outcome(k.nginx().get_subsystem()),
    );
    record("kong.node.get_id", outcome(k.node().get_id()));
    record(
        "kong.node.get_memory_stats",
        outcome(k.node().get_memory_stats()),
    );
    record("kong.request.get_scheme", outcome(k.request().get_scheme()));
    record("kong.request.get_host", outcome(k.request().get_host()));
    record("kong.request.get_port", outcome(k.request().get_port()));
    record(
        "kong.request.get_forwarded_scheme",
        outcome(k.request().get_forwarded_scheme()),
    );
    record(
        "kong.request.get_forwarded_host",
        outcome(k.request().get_forwarded_host()),
    );
    record(
        "kong.request.get_forwarded_port",
        outcome(k.request().get_forwarded_port()),
    );
    record(
        "kong.request.get_http_version",
        outcome(k.request().get_http_version()),
    );
    record("kong.request.get_method", outcome(k.request().get_method()));
    record("kong.request.get_path", outcome(k.request().get_path()));
    record(
        "kong.request.get_path_with_query",
        outcome(k.request().get_path_with_query()),
    );
    record(
        "kong.request.get_raw_query",
        outcome(k.request().get_raw_query()),
    );
    record(
        "kong.request.get_query_arg",
        outcome(k.request().get_query_arg("a")),
    );
    record(
        "kong.request.get_query",
        outcome(k.request().get_query(None)),
    );
    record(
        "kong.request.get_header",
        outcome(k.request().get_header("h")),
    );
    record(
        "kong.request.get_headers",
        outcome(k.request().get_headers(Some(7))),
    );
    record(
        "kong.request.get_raw_body",
        outcome(k.request().get_raw_body()),
    );
    record(
        "kong.request.get_uri_captures",
        outcome(k.request().get_uri_captures()),
    );
    record(
        "kong.response.get_status",
        outcome(k.response().get_status()),
    );
    record(
        "kong.response.get_header",
        outcome(k.response().get_header("h")),
    );
    record(
        "kong.response.get_headers",
        outcome(k.response().get_headers(None)),
    );
    record(
        "kong.response.get_source",
        outcome(k.response().get_source()),
    );
    record(
        "kong.response.set_status",
        outcome(k.response().set_status(201)),
    );
    record(
        "kong.response.set_header",
        outcome(k.response().set_header("h", "v")),
    );
    record(
        "kong.response.add_header",
        outcome(k.response().add_header("h", "v")),
    );
    record(
        "kong.response.clear_header",
        outcome(k.response().clear_header("h")),
    );
    record(
        "kong.response.set_headers",
        outcome(k.response().set_headers(&headers())),
    );
    record("kong.router.get_route", outcome(k.router().get_route()));
    record("kong.router.get_service", outcome(k.router().get_service()));
    record(
        "kong.service.set_upstream",
        outcome(k.service().set_upstream("u")),
    );
    record(
        "kong.service.set_target",
        outcome(k.service().set_target("h", 81)),
    );
    let request = k.service().request();
    record(
        "kong.service.request.set_scheme",
        outcome(request.set_scheme("https")),
    );
    record(
        "kong.service.request.set_path",
        outcome(request.set_path("/p")),
    );
    record(
        "kong.service.request.set_raw_query",
        outcome(request.set_raw_query("a=1")),
    );
    record(
        "kong.service.request.set_method",
        outcome(request.set_method("PUT")),
    );
    record(
        "kong.service.request.set_query",
        outcome(request.set_query(&headers())),
    );
    record(
        "kong.service.request.set_header",
        outcome(request.set_header("h", "v")),
    );
    record(
        "kong.service.request.add_header",
        outcome(request.add_header("h", "v")),
    );
    record(
        "kong.service.request.clear_header",
        outcome(request.clear_header("h")),
    );
    record(
        "kong.service.request.set_headers",
        outcome(request.set_headers(&headers())),
    );
    record(
        "kong.service.request.set_raw_body",
        outcome(request.set_raw_body(&[0xff])),
    );
    let response = k.service().response();
    record(
        "kong.service.response.get_status",
        outcome(response.get_status()),
    );
    record(
        "kong.service.response.get_headers",
        outcome(response.get_headers(None)),
    );
    record(
        "kong.service.response.get_header",
        outcome(response.get_header("h")),
    );
    record(
        "kong.service.response.get_raw_body",
        outcome(response.get_raw_body()),
    );
    // Terminal over MsgPack:1: last.
    record(
        "kong.response.error",
        outcome(k.response().error(500, None, None)),
    );
    seen
}
