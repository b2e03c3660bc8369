//! The simulated Kong behaves as Kong does across phases.

use serde_json::json;

use super::{SimulatedKong, TestRequest, UpstreamResponse};
use crate::{HandlerResult, Kong, Phase, Plugin};

/// A plugin whose handlers are closures, to script what a test needs.
#[derive(Default)]
struct Scripted {
    rewrite: Option<fn(&Kong) -> HandlerResult>,
    access: Option<fn(&Kong) -> HandlerResult>,
    response: Option<fn(&Kong) -> HandlerResult>,
    log: Option<fn(&Kong) -> HandlerResult>,
}

impl Plugin for Scripted {
    type Config = ();
    fn new(_: ()) -> Result<Self, String> {
        Ok(Scripted::default())
    }
    fn rewrite(&self, kong: &Kong) -> HandlerResult {
        self.rewrite.map_or(Ok(()), |f| f(kong))
    }
    fn access(&self, kong: &Kong) -> HandlerResult {
        self.access.map_or(Ok(()), |f| f(kong))
    }
    fn response(&self, kong: &Kong) -> HandlerResult {
        self.response.map_or(Ok(()), |f| f(kong))
    }
    fn log(&self, kong: &Kong) -> HandlerResult {
        self.log.map_or(Ok(()), |f| f(kong))
    }
}

fn get(url: &str) -> SimulatedKong {
    SimulatedKong::new(TestRequest::get(url))
}

#[test]
fn exit_in_access_skips_the_service_and_the_response_phase_but_not_log() {
    let plugin = Scripted {
        access: Some(|k| {
            k.response().set_header("x-early", "1")?;
            k.response().exit(418, Some("teapot"), None)?;
            Ok(())
        }),
        response: Some(|k| Ok(k.response().set_header("x-response-ran", "1")?)),
        log: Some(|k| {
            Ok(k.log()
                .info(format!("status {}", k.response().get_status()?))?)
        }),
        ..Default::default()
    };
    let kong = get("http://a/");
    kong.run_request(&plugin).unwrap();
    let response = kong.response();
    assert_eq!((response.status, response.source), (418, "exit"));
    assert_eq!(response.text(), "teapot");
    assert_eq!(response.headers.get("x-early"), Some("1"));
    assert!(!response.headers.contains("x-response-ran"));
    assert!(!kong.proxied());
    assert_eq!(kong.logs()[0].message, "status 418");
}

#[test]
fn calls_after_exit_fail_in_the_plugin() {
    let plugin = Scripted {
        access: Some(|k| {
            k.response().exit(403, None, None)?;
            k.response().set_header("x", "y")?;
            Ok(())
        }),
        ..Default::default()
    };
    let kong = get("http://a/");
    let err = kong.run_request(&plugin).unwrap_err();
    assert!(
        err.to_string().contains("after kong.response.exit"),
        "{err}"
    );
    assert_eq!(kong.response().status, 403);
}

#[test]
fn a_failed_handler_is_logged_and_the_request_goes_on() {
    let plugin = Scripted {
        access: Some(|_| Err("boom".into())),
        log: Some(|k| Ok(k.log().info("logged")?)),
        ..Default::default()
    };
    let kong = get("http://a/");
    assert_eq!(kong.run_request(&plugin).unwrap_err().to_string(), "boom");
    assert_eq!(kong.response().status, 200);
    assert!(kong.proxied());
    let logs: Vec<String> = kong.logs().iter().map(ToString::to_string).collect();
    assert_eq!(logs, ["[err] boom", "[info] logged"]);
}

#[test]
fn response_headers_set_before_proxying_win_over_the_service() {
    let plugin = Scripted {
        access: Some(|k| Ok(k.response().set_header("server", "kong")?)),
        response: Some(|k| {
            let etag = k
                .service()
                .response()
                .get_header("etag")?
                .unwrap_or_default();
            k.response().set_header("x-etag-was", &etag)?;
            Ok(())
        }),
        ..Default::default()
    };
    let kong = get("http://a/").with_upstream_response(
        UpstreamResponse::new(201)
            .header("Server", "nginx")
            .header("ETag", "v1")
            .body("made"),
    );
    kong.run_request(&plugin).unwrap();
    let response = kong.response();
    assert_eq!(response.status, 201);
    assert_eq!(response.headers.get_all("server"), ["kong"]);
    assert_eq!(response.headers.get("x-etag-was"), Some("v1"));
    assert_eq!(response.text(), "made");
}

#[test]
fn kong_refuses_functions_outside_their_phases() {
    let plugin = Scripted {
        access: Some(|k| {
            k.service().response().get_status()?;
            Ok(())
        }),
        log: Some(|k| Ok(k.service().request().set_path("/late")?)),
        ..Default::default()
    };
    let kong = get("http://a/");
    let err = kong.run_phase(&plugin, Phase::Access).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot be called in access phase (only in: response, log)"),
        "{err}"
    );
    let kong = get("http://a/");
    let err = kong.run_phase(&plugin, Phase::Log).unwrap_err();
    assert!(err.to_string().contains("log phase"), "{err}");
}

#[test]
fn request_answers_have_kongs_shapes() {
    let kong = SimulatedKong::new(
        TestRequest::get("https://api.test/p?a=1&a=2&flag&q=x+y")
            .header("X-Multi", "1")
            .header("x-multi", "2"),
    );
    kong.run(|k| {
        let r = k.request();
        assert_eq!(r.get_port()?, 443);
        assert_eq!(r.get_path_with_query()?, "/p?a=1&a=2&flag&q=x+y");
        assert_eq!(r.get_query_arg("a")?.as_deref(), Some("1"));
        assert_eq!(r.get_query_arg("q")?.as_deref(), Some("x y"));
        assert_eq!(r.get_query_arg("flag")?.as_deref(), Some(""));
        assert_eq!(r.get_query(None)?["a"], ["1", "2"]);
        assert_eq!(r.get_headers(None)?["x-multi"], ["1", "2"]);
        assert_eq!(r.get_headers(Some(1))?.len(), 1);
        assert_eq!(r.get_header("host")?.as_deref(), Some("api.test"));
        assert_eq!(k.nginx().get_var("http_x_multi")?.as_deref(), Some("1"));
        crate::PdkResult::Ok(())
    })
    .unwrap();
}

#[test]
fn service_request_edits_are_what_the_service_receives() {
    let kong =
        SimulatedKong::new(TestRequest::post("http://a/v1/x?keep=1", "in").header("drop", "d"));
    kong.run(|k| {
        let s = k.service().request();
        s.set_method("PUT")?;
        s.set_path("/v2/x")?;
        s.clear_header("drop")?;
        s.add_header("x-a", "1")?;
        s.add_header("x-a", "2")?;
        s.set_query(&[("b".to_string(), vec!["2 3".to_string()])].into())?;
        s.set_raw_body(b"out")?;
        k.service().set_target("10.0.0.5", 8080)?;
        crate::PdkResult::Ok(())
    })
    .unwrap();
    let sent = kong.service_request();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("PUT", "/v2/x"));
    assert!(!sent.headers.contains("drop"));
    assert_eq!(sent.headers.get_all("x-a"), ["1", "2"]);
    assert_eq!(sent.raw_query, "b=2+3");
    assert_eq!(sent.body, b"out");
    assert_eq!(sent.target, Some(("10.0.0.5".to_string(), 8080)));
}

#[test]
fn serialize_includes_set_values_under_dotted_keys() {
    let kong = get("http://a/x");
    let line = kong
        .run(|k| {
            k.log().set_serialize_value("request.tenant", "t1")?;
            k.log().serialize()
        })
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["request"]["tenant"], "t1");
    assert_eq!(v["request"]["method"], "GET");
    assert_eq!(v["client_ip"], "127.0.0.1");
}

#[test]
fn error_sends_kongs_json_body() {
    let kong = get("http://a/");
    kong.run(|k| k.response().error(429, None, None)).unwrap();
    assert_eq!(
        kong.response().json(),
        json!({"message": "API rate limit exceeded"})
    );
    assert_eq!(kong.response().source, "error");
}

#[test]
fn unknown_functions_say_how_to_answer_them() {
    let kong = get("http://a/");
    let err = kong
        .run(|k| k.call::<String>("kong.vault.get", ("{vault://env/x}",)))
        .unwrap_err();
    assert!(
        err.to_string().contains("SimulatedKong::answering"),
        "{err}"
    );
}
