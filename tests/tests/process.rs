//! The process as Kong manages it: socket ownership, SIGTERM, parent death, closed pipes.

use std::{
    io::{BufRead, BufReader},
    os::unix::net::UnixListener,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use kong_sim::{
    Value,
    kong::{Answer, Entity},
    paths,
    server::{Prefix, Server},
};
use serde_json::json;

fn hello_prefix() -> Prefix {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    prefix
}

#[test]
fn a_stale_socket_is_replaced() {
    let prefix = hello_prefix();
    drop(UnixListener::bind(prefix.socket()).unwrap());
    let server = prefix.serve(&[]);
    assert!(server.kong().call("plugin.GetStatus", Value::Nil).is_ok());
}

#[test]
fn a_second_server_takes_the_socket_over_and_the_first_keeps_its_connections() {
    let prefix = hello_prefix();
    let first = prefix.serve(&[]);
    let before = first.kong();
    let pid_of = |kong: &kong_sim::kong::Kong| {
        let status = kong.call("plugin.GetStatus", Value::Nil).unwrap();
        kong_sim::kong::get(&status, "Pid").and_then(Value::as_u64)
    };
    assert_eq!(pid_of(&before), Some(u64::from(first.pid())));
    let second = prefix.serve_next();
    // New connections reach the second; the first still answers on the one it had.
    assert_eq!(pid_of(&second.kong()), Some(u64::from(second.pid())));
    assert_eq!(pid_of(&before), Some(u64::from(first.pid())));
    drop(first);
    assert!(
        prefix.socket().exists(),
        "the first left the second's socket"
    );
    assert_eq!(pid_of(&second.kong()), Some(u64::from(second.pid())));
}

#[test]
fn socket_flag_overrides_the_default_path() {
    let prefix = hello_prefix();
    let path = prefix.path().join("custom.sock");
    let server = prefix.serve(&["-socket", path.to_str().unwrap()]);
    assert!(server.kong().call("plugin.GetStatus", Value::Nil).is_ok());
    assert!(!prefix.socket().exists());
}

#[test]
fn the_longest_socket_path_the_os_accepts_is_served() {
    let prefix = hello_prefix();
    let base = prefix.path().join("x").as_os_str().len();
    // 107 bytes: a socket address holds 108 with its NUL.
    let path = prefix.path().join("s".repeat(107 - base + 1));
    assert_eq!(path.as_os_str().len(), 107);
    let server = prefix.serve(&["-socket", path.to_str().unwrap()]);
    assert!(server.kong().call("plugin.GetStatus", Value::Nil).is_ok());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "owner-only");
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_socket() {
    let prefix = hello_prefix();
    let mut server = prefix.serve(&[]);
    let kong = server.kong();
    Entity::new(&kong, "hello", json!({}))
        .run("access", |_| Answer::Nil)
        .unwrap();
    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(!prefix.socket().exists(), "the socket is removed");
    server.wait_for_log("SIGTERM: shutting down");
}

#[test]
fn sigterm_leaves_a_socket_that_is_no_longer_ours() {
    let prefix = hello_prefix();
    let mut server = prefix.serve(&[]);
    std::fs::remove_file(prefix.socket()).unwrap();
    let other = UnixListener::bind(prefix.socket()).unwrap();
    assert!(server.terminate().success());
    assert!(
        prefix.socket().exists(),
        "another server's socket is left alone"
    );
    drop(other);
}

#[test]
fn the_server_exits_when_its_parent_dies() {
    let prefix = hello_prefix();
    // A shell parent that starts pluginhost in the background and reports its pid.
    let mut parent = Command::new("sh")
        .arg("-c")
        .arg("\"$@\" 2>/dev/null & echo $!; wait")
        .arg("sh")
        .arg(paths::pluginhost())
        .arg("-kong-prefix")
        .arg(prefix.path())
        .arg("-plugins-directory")
        .arg(prefix.plugins())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid: u32 = line.trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !prefix.socket().exists() {
        assert!(Instant::now() < deadline, "pluginhost did not start");
        thread::sleep(Duration::from_millis(10));
    }
    parent.kill().unwrap();
    parent.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_running(pid) {
        assert!(
            Instant::now() < deadline,
            "pluginhost {pid} outlived its parent"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !prefix.socket().exists(),
        "it stopped cleanly, removing its socket"
    );
}

fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3 is the state; a zombie has exited.
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

#[test]
fn a_closed_stderr_pipe_does_not_kill_the_server() {
    let prefix = hello_prefix();
    let mut command = Command::new(paths::pluginhost());
    command
        .arg("-kong-prefix")
        .arg(prefix.path())
        .arg("-plugins-directory")
        .arg(prefix.plugins());
    // Kong stops reading the pipe on shutdown: the read end is closed, then the server logs a lot.
    let server = Server::spawn_with_closed_stderr(command, prefix.socket());
    let kong = server.kong();
    for _ in 0..50 {
        Entity::new(&kong, "hello", json!({}))
            .run("access", |_| Answer::Nil)
            .unwrap();
    }
    assert!(kong.call("plugin.GetStatus", Value::Nil).is_ok());
}

#[test]
fn sigterm_lets_running_events_finish_over_open_connections() {
    use kong_sim::kong::{Conn, get, map};
    let prefix = hello_prefix();
    let mut server = prefix.serve(&["-shutdown-grace", "10"]);
    let id = server.kong().start_instance("hello", &json!({})).unwrap();
    let mut conn = Conn::open(server.socket()).unwrap();
    let event = map([
        ("InstanceId", Value::from(id)),
        ("EventName", Value::from("access")),
    ]);
    conn.send(1, "plugin.HandleEvent", event).unwrap();
    let event_id = get(&conn.read_response(1).unwrap(), "EventId")
        .cloned()
        .unwrap();

    server.signal(rustix::process::Signal::TERM);
    server.wait_for_log("SIGTERM: shutting down");
    let step = |data: Option<Value>| {
        let mut entries = vec![(Value::from("EventId"), event_id.clone())];
        entries.extend(data.map(|d| (Value::from("Data"), d)));
        Value::Map(entries)
    };
    conn.send(2, "plugin.Step", step(Some(Value::from("h"))))
        .unwrap();
    assert!(conn.read_response(2).is_ok(), "{}", server.stderr());
    conn.send(3, "plugin.Step", step(None)).unwrap();
    assert_eq!(
        get(&conn.read_response(3).unwrap(), "Data"),
        Some(&Value::from("ret"))
    );
    // Nothing is left running, so it exits well before the 10 s grace.
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("exits once the event is done");
    assert!(status.success());
}

#[test]
fn json_logs_are_one_object_per_line_with_their_fields() {
    let prefix = hello_prefix();
    let mut server = prefix.serve(&["-log-format", "json"]);
    // A request that is not MessagePack: a warning with no fields but its message.
    let mut conn = kong_sim::kong::Conn::open(server.socket()).unwrap();
    conn.send_raw(&[0xc1]).unwrap();
    assert!(conn.is_closed());
    server.wait_for_log("closing a connection");
    assert!(server.terminate().success());
    let lines: Vec<serde_json::Value> = server
        .stderr()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let loaded = lines
        .iter()
        .find(|l| l["message"] == "loaded plugin")
        .expect("the load is logged");
    assert_eq!(loaded["level"], "INFO");
    assert_eq!(loaded["plugin"], "hello");
    assert!(loaded["timestamp"].is_string());
    let listening = lines.iter().find(|l| l["message"] == "listening").unwrap();
    assert_eq!(listening["plugins"], 1);
    assert!(lines.iter().any(|l| {
        l["level"] == "WARN"
            && l["message"]
                .as_str()
                .unwrap()
                .starts_with("closing a connection")
    }));
}
