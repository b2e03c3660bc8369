//! The Prometheus endpoint, scraped with a real HTTP client and parsed as Prometheus parses
//! it: after a known sequence of events the counters are exactly what happened, both formats
//! carry them, GetStatus adds the same counters, and a scraper that never reads holds up
//! nobody.

use std::io::{Read, Write};

use kong_sim::{
    Value,
    kong::{Answer, Kong, get, map},
    metrics::{self, LISTEN_ANY, Metrics},
    paths,
    server::{Prefix, Server},
    wait,
};
use serde_json::json;

fn hello_event(kong: &Kong, instance: u64) -> usize {
    kong.handle_event(instance, "access", |call| match call.method.as_str() {
        "kong.request.get_header" => Answer::Value(Value::from("example.com")),
        _ => Answer::Nil,
    })
    .expect("hello answers")
    .calls
    .len()
}

fn serve(extra: &[&str]) -> (Prefix, Server) {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    prefix.add_plugin("panicky", "panicky.so");
    let mut args = LISTEN_ANY.to_vec();
    args.extend_from_slice(extra);
    let server = prefix.serve(&args);
    (prefix, server)
}

#[test]
fn counters_equal_what_happened() {
    let (prefix, server) = serve(&["-event-timeout", "0.5"]);
    let address = metrics::address(&server);
    let kong = server.kong();
    let hello = kong.start_instance("hello", &json!({})).unwrap();
    let panicky = kong
        .start_instance("panicky", &json!({"mode": "panic"}))
        .unwrap();

    const EVENTS: usize = 40;
    let calls: usize = (0..EVENTS).map(|_| hello_event(&kong, hello)).sum();
    let panicked = kong.handle_event(panicky, "access", |_| Answer::Nil);
    assert!(panicked.unwrap_err().contains("panicked"));
    let failing = kong
        .start_instance("panicky", &json!({"mode": "error"}))
        .unwrap();
    let failed = kong.handle_event(failing, "access", |_| Answer::Nil);
    assert!(failed.unwrap_err().contains("asked to fail"));
    let out = prefix.path().join("after-exit.txt");
    let exiting = kong
        .start_instance("panicky", &json!({"mode": "exit_then_call", "path": out}))
        .unwrap();
    let exited = kong
        .handle_event(exiting, "access", |_| Answer::Nil)
        .unwrap();
    assert!(exited.exited);
    // One event Kong abandons: its first PDK call is never answered.
    let param = map([
        ("InstanceId", Value::from(hello)),
        ("EventName", Value::from("access")),
    ]);
    kong.call("plugin.HandleEvent", param).unwrap();
    // One refused reload: a file that is no plugin appears in the directory.
    prefix.add_file("broken.so", b"this is not an ELF file");
    wait::until(
        "the abandoned event to be reaped and the file refused",
        || {
            let m = metrics::scrape(&address);
            m.value("pluginhost_events_ended_total", &[("outcome", "reaped")]) == 1.0
                && m.value("pluginhost_load_refusals_total", &[]) == 1.0
        },
    );

    let m = metrics::scrape(&address);
    let hello_access = [("plugin", "hello"), ("phase", "access")];
    let ended = |plugin: &str, outcome: &str| {
        m.value(
            "pluginhost_events_ended_total",
            &[("plugin", plugin), ("outcome", outcome)],
        )
    };
    assert_eq!(
        m.value("pluginhost_events_started_total", &hello_access),
        (EVENTS + 1) as f64
    );
    assert_eq!(ended("hello", "ok"), EVENTS as f64);
    assert_eq!(ended("hello", "reaped"), 1.0);
    assert_eq!(ended("panicky", "panic"), 1.0);
    assert_eq!(ended("panicky", "handler_error"), 1.0);
    assert_eq!(ended("panicky", "exit"), 1.0);
    for outcome in ["handler_error", "exit", "shutdown", "panic"] {
        assert_eq!(ended("hello", outcome), 0.0, "{outcome}");
    }
    assert_eq!(ended("panicky", "ok"), 0.0);
    assert_eq!(m.value("pluginhost_events_in_flight", &[]), 0.0);
    assert_eq!(
        m.observations("pluginhost_event_duration_seconds", &hello_access),
        (EVENTS + 1) as f64
    );
    // Every event ran at least one stretch; each PDK call ends one.
    assert!(
        m.observations("pluginhost_handler_run_seconds", &hello_access) >= (EVENTS + calls) as f64
    );
    // The abandoned event made its first call too.
    assert_eq!(
        m.value("pluginhost_pdk_calls_total", &[("plugin", "hello")]),
        (calls + 1) as f64
    );
    assert_eq!(
        m.value(
            "pluginhost_pdk_calls_total",
            &[("plugin", "hello"), ("method", "kong.request.get_header")]
        ),
        (EVENTS + 1) as f64
    );
    let rpcs = |method: &str| m.value("pluginhost_rpcs_total", &[("method", method)]);
    let errors = |method: &str| m.value("pluginhost_rpc_errors_total", &[("method", method)]);
    assert_eq!(rpcs("plugin.StartInstance"), 4.0);
    assert_eq!(rpcs("plugin.HandleEvent"), (EVENTS + 4) as f64);
    assert_eq!(errors("plugin.HandleEvent"), 2.0);
    assert_eq!(
        m.value("pluginhost_rpcs_total", &[]) - rpcs("plugin.HandleEvent") - 4.0,
        // The Steps: one per PDK call answered, the abandoned event's never; the exit is the
        // answer to its HandleEvent.
        calls as f64,
    );
    assert_eq!(m.value("pluginhost_rpc_errors_total", &[]), 2.0);
    assert_eq!(
        m.value(
            "pluginhost_pdk_calls_total",
            &[("plugin", "panicky"), ("method", "kong.response.exit")]
        ),
        1.0
    );
    assert_eq!(
        m.value("pluginhost_load_refusals_total", &[("reason", "file")]),
        1.0
    );
    assert_eq!(m.value("pluginhost_instances", &[("plugin", "hello")]), 1.0);
    assert_eq!(
        m.value("pluginhost_instances", &[("plugin", "panicky")]),
        3.0
    );
    assert_eq!(
        m.value("pluginhost_plugin_generation", &[("plugin", "hello")]),
        1.0
    );
    assert!(m.value("pluginhost_connections", &[]) >= 1.0);
    assert!(m.value("process_resident_memory_bytes", &[]) > 0.0);
    assert!(m.value("process_open_fds", &[]) > 0.0);
    assert!(m.value("process_threads", &[]) >= 2.0);

    // GetStatus carries the same counters.
    let status = kong.call("plugin.GetStatus", Value::Nil).unwrap();
    let plugins = get(&status, "Plugins").unwrap();
    let access = get(
        get(get(plugins, "hello").unwrap(), "Events").unwrap(),
        "access",
    )
    .unwrap();
    assert_eq!(
        get(access, "Started").unwrap().as_u64(),
        Some(EVENTS as u64 + 1)
    );
    let status_ended = get(access, "Ended").unwrap();
    assert_eq!(
        get(status_ended, "ok").unwrap().as_u64(),
        Some(EVENTS as u64)
    );
    assert_eq!(get(status_ended, "reaped").unwrap().as_u64(), Some(1));
    let panicky_ended = get(
        get(
            get(get(plugins, "panicky").unwrap(), "Events").unwrap(),
            "access",
        )
        .unwrap(),
        "Ended",
    )
    .unwrap();
    assert_eq!(get(panicky_ended, "panic").unwrap().as_u64(), Some(1));
    let pdk = get(get(plugins, "hello").unwrap(), "PdkCalls").unwrap();
    assert_eq!(
        get(pdk, "kong.request.get_header").unwrap().as_u64(),
        Some(EVENTS as u64 + 1)
    );
    // And go-pluginserver's keys stay beside them.
    let hello_status = get(plugins, "hello").unwrap();
    assert!(
        get(hello_status, "LastStartInstance").is_some() && get(hello_status, "Sha256").is_some()
    );
}

#[test]
fn a_new_generation_and_openmetrics() {
    let (prefix, server) = serve(&[]);
    let address = metrics::address(&server);
    let kong = server.kong();
    let v1 = kong.start_instance("hello", &json!({})).unwrap();
    hello_event(&kong, v1);
    let temp = prefix.plugins().join(".hello.so.tmp");
    std::fs::copy(paths::plugin("hello_v2"), &temp).unwrap();
    std::fs::rename(&temp, prefix.plugins().join("hello.so")).unwrap();
    wait::until("generation 2", || {
        metrics::scrape(&address).value("pluginhost_plugin_generation", &[("plugin", "hello")])
            == 2.0
    });
    let v2 = kong.start_instance("hello", &json!({})).unwrap();
    hello_event(&kong, v2);
    // Both generations count under the plugin's one name.
    let m = metrics::scrape(&address);
    assert_eq!(
        m.value(
            "pluginhost_events_ended_total",
            &[("plugin", "hello"), ("outcome", "ok")]
        ),
        2.0
    );
    assert_eq!(m.value("pluginhost_instances", &[("plugin", "hello")]), 2.0);

    let prometheus_accept = "application/openmetrics-text;version=1.0.0;q=0.5,\
                             text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let open = metrics::get(&address, Some(prometheus_accept)).unwrap();
    assert!(
        open.content_type
            .starts_with("application/openmetrics-text; version=1.0.0"),
        "{}",
        open.content_type
    );
    assert!(open.body.ends_with("# EOF\n"));
    assert_eq!(
        Metrics::parse(&open.body).value(
            "pluginhost_events_ended_total",
            &[("plugin", "hello"), ("outcome", "ok")]
        ),
        2.0
    );
    let text = metrics::get(&address, None).unwrap();
    assert!(
        text.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        text.content_type
    );
    assert!(!text.body.contains("# EOF"));
}

#[test]
fn a_scraper_that_never_reads_holds_up_nobody() {
    let (_prefix, server) = serve(&[]);
    let address = metrics::address(&server);
    // Each asks for hundreds of scrapes and reads none: the answers fill the socket buffers
    // and the server's writes to them wait.
    const ASKED: usize = 2000;
    let request = b"GET /metrics HTTP/1.1\r\nHost: pluginhost\r\n\r\n".repeat(ASKED);
    let stalled: Vec<_> = (0..4)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&address).unwrap();
            s.write_all(&request).unwrap();
            s
        })
        .collect();
    let kong = server.kong();
    let hello = kong.start_instance("hello", &json!({})).unwrap();
    const EVENTS: usize = 2000;
    for _ in 0..EVENTS {
        hello_event(&kong, hello);
    }
    let answer = metrics::get(&address, None).unwrap().body;
    let m = Metrics::parse(&answer);
    assert_eq!(
        m.value("pluginhost_events_ended_total", &[("outcome", "ok")]),
        EVENTS as f64
    );
    // The stalled scrapers were answered as far as their buffers took, and no further.
    for mut s in stalled {
        s.set_nonblocking(true).unwrap();
        let mut buf = vec![0; 1 << 16];
        let mut got = 0;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        assert!(got > 0 && got < ASKED * answer.len(), "{got} bytes");
    }
}

#[test]
fn a_unix_socket_endpoint_and_metrics_off() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    let path = prefix.path().join("metrics.sock");
    let server = prefix.serve(&["-metrics-listen", path.to_str().unwrap()]);
    let mode = std::fs::metadata(&path).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: pluginhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let m = Metrics::parse(body);
    assert_eq!(
        m.value("pluginhost_plugin_generation", &[("plugin", "hello")]),
        1.0
    );
    drop(server);

    // Off: no counters in GetStatus, nothing listening.
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    let server = prefix.serve(&[]);
    let status = server.kong().call("plugin.GetStatus", Value::Nil).unwrap();
    let hello = get(get(&status, "Plugins").unwrap(), "hello").unwrap();
    assert!(get(hello, "Events").is_none());
    assert!(!server.stderr().contains("serving metrics"));
}

#[test]
fn an_address_that_cannot_be_had_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    let output = std::process::Command::new(paths::pluginhost())
        .arg("-kong-prefix")
        .arg(prefix.path())
        .arg("-plugins-directory")
        .arg(prefix.plugins())
        .args(["-metrics-listen", &port])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("cannot serve metrics on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!prefix.socket().exists());
    let output = prefix.run(&["-metrics-listen", "localhost"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is neither HOST:PORT"), "{stderr}");
}

#[test]
fn the_dashboard_queries_only_metrics_the_server_serves() {
    let (_prefix, server) = serve(&[]);
    let address = metrics::address(&server);
    let kong = server.kong();
    let hello = kong.start_instance("hello", &json!({})).unwrap();
    hello_event(&kong, hello);
    let served: std::collections::HashSet<String> = metrics::scrape(&address)
        .0
        .samples
        .iter()
        .map(|s| s.metric.clone())
        .collect();

    let path = paths::workspace().join("host/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8);
    let mut queried = 0;
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let names = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("pluginhost_") || w.starts_with("process_"));
            for name in names {
                let name = name.strip_suffix("_bucket").unwrap_or(name);
                assert!(
                    served.contains(name),
                    "panel {:?} queries {name}, which is not served",
                    panel["title"]
                );
                queried += 1;
            }
        }
    }
    assert!(queried >= panels.len());
}

#[test]
fn scrapers_past_the_bound_are_closed_and_idle_ones_time_out() {
    let (_prefix, server) = serve(&[]);
    let address = metrics::address(&server);
    // As many connections as the endpoint serves at once, none of which ever sends a byte.
    let idle: Vec<_> = (0..32)
        .map(|_| std::net::TcpStream::connect(&address).unwrap())
        .collect();
    wait::until("a scraper past the bound to be closed", || {
        metrics::get(&address, None).is_err()
    });
    let kong = server.kong();
    let hello = kong.start_instance("hello", &json!({})).unwrap();
    for _ in 0..100 {
        hello_event(&kong, hello);
    }
    // Each idle one is closed once it has not sent its headers in time, and scrapes resume.
    wait::until("the idle connections to be closed", || {
        metrics::get(&address, None).is_ok()
    });
    for mut s in idle {
        let mut byte = [0u8; 1];
        assert_eq!(
            s.read(&mut byte).unwrap_or(0),
            0,
            "closed without an answer"
        );
    }
    let m = metrics::scrape(&address);
    assert_eq!(
        m.value("pluginhost_events_ended_total", &[("outcome", "ok")]),
        100.0
    );
}
