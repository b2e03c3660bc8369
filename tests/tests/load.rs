//! The load generator against the real server and against its own baselines: the exchanges
//! must complete and be counted right. Nothing here asserts a timing; `make bench` measures.

use std::time::Duration;

use kong_sim::{
    load::{
        children::ServerProcess,
        client::{self, Exchange, Figures, KONG_POOL_SIZE, Load},
        memory::reaped,
        mock::Script,
    },
    server::Prefix,
};
use serde_json::json;

fn load(socket: &std::path::Path, pid: u32, exchange: Exchange, in_flight: usize) -> Figures {
    client::run(&Load {
        socket: socket.to_owned(),
        in_flight,
        pool_size: KONG_POOL_SIZE,
        warmup: Duration::from_millis(50),
        measure: Duration::from_millis(300),
        server_pid: Some(pid),
        authorization: None,
        exchange,
    })
    .expect("the load ran without an error")
}

fn access(instance: u64) -> Exchange {
    Exchange::Event {
        instance,
        phase: "access".into(),
    }
}

/// Each completed event is HandleEvent plus one Step per call; events cut by the window's
/// edges may add or lose a few RPCs.
fn assert_rpcs_per_event(f: &Figures, rpcs: u64) {
    assert!(f.events > 0, "{f:?}");
    let slack = rpcs * f.in_flight as u64;
    assert!(
        f.rpcs + slack >= f.events * rpcs && f.rpcs <= f.events * rpcs + slack,
        "{rpcs} RPCs per event expected: {f:?}"
    );
}

#[test]
fn hello_and_ten_calls_run_on_pluginhost_over_pooled_connections() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    prefix.add_plugin("request-transformer", "rust-request-transformer.so");
    let server = prefix.serve(&[]);
    let hello = client::start_instance(server.socket(), "hello", &json!({})).unwrap();
    let f = load(server.socket(), server.pid(), access(hello), 4);
    assert_rpcs_per_event(&f, 3);
    assert!(f.connections >= 1 && f.connections <= 8, "{f:?}");
    assert!(f.p50 <= f.p99 && f.server_cpu_per_event.is_some(), "{f:?}");

    let headers: serde_json::Map<_, _> = (1..=9)
        .map(|i| (format!("x-bench-{i}"), json!("v")))
        .collect();
    let ten = client::start_instance(
        server.socket(),
        "rust-request-transformer",
        &json!({ "add": { "headers": headers } }),
    )
    .unwrap();
    let f = load(server.socket(), server.pid(), access(ten), 16);
    assert_rpcs_per_event(&f, 11);
}

#[test]
fn the_mock_answers_the_same_exchanges() {
    let dir = tempfile::tempdir().unwrap();
    for (script, rpcs) in [("hello", 3), ("ten-calls", 11)] {
        let socket = dir.path().join(format!("{script}.sock"));
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"));
        command
            .arg("mock-server")
            .arg(&socket)
            .args(["--script", script]);
        let mock = ServerProcess::start(command, socket, &dir.path().join("mock.log")).unwrap();
        let instance = client::start_instance(&mock.socket, "hello", &json!({})).unwrap();
        let f = load(&mock.socket, mock.pid(), access(instance), 4);
        assert_rpcs_per_event(&f, rpcs);
    }
    assert_eq!(Script::ten_calls().calls.len(), 10);
}

#[test]
fn the_echo_baseline_counts_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("echo.sock");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"));
    command.arg("echo-server").arg(&socket);
    let echo = ServerProcess::start(command, socket, &dir.path().join("echo.log")).unwrap();
    let frame = vec![0x94, 0, 1, 0xa1, b'x', 0x90];
    let f = load(&echo.socket, echo.pid(), Exchange::Echo { frame }, 2);
    assert!(f.events > 0 && f.rpcs == f.events, "{f:?}");
}

#[test]
fn abandoned_events_are_all_reaped_and_the_server_goes_on() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    let server = prefix.serve(&["-event-timeout", "0.5"]);
    let hello = client::start_instance(server.socket(), "hello", &json!({})).unwrap();
    let started = client::abandon(server.socket(), hello, 2000, 16).unwrap();
    assert_eq!(started, 2000);
    let log = server.wait_for_log("reaped events Kong abandoned");
    let mut reaped_so_far = reaped(&log);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reaped_so_far < 2000 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        reaped_so_far = reaped(&server.stderr());
    }
    assert_eq!(reaped_so_far, 2000, "{}", server.stderr());
    // The server still serves, on the stacks kept from the reaped events.
    let f = load(server.socket(), server.pid(), access(hello), 4);
    assert_rpcs_per_event(&f, 3);
}
