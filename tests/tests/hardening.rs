//! What no request, client, pipe or file may do to the server: stall it, bloat it, or make it
//! run code nobody installed. Each test counts answers, closed connections, bytes, files,
//! wake-ups and exit codes; none of them times anything.

use std::{
    io::Read,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use kong_sim::{
    kong::{Conn, get, map},
    paths,
    server::{Prefix, Server},
};
use rmpv::Value;
use rustix::process::Signal;

/// `[0, msgid, "plugin.GetStatus", [` — a request whose one parameter follows.
fn get_status_head(msgid: u8) -> Vec<u8> {
    let mut head = vec![0x94, 0x00, msgid, 0xb0];
    head.extend_from_slice(b"plugin.GetStatus");
    head.push(0x91);
    head
}

fn serve_hello(extra: &[&str]) -> (Prefix, Server) {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    let server = prefix.serve(extra);
    (prefix, server)
}

fn still_serves(server: &Server) {
    let status = server.kong().call("plugin.GetStatus", Value::Nil).unwrap();
    assert!(get(&status, "Pid").is_some(), "{status}");
}

#[test]
fn a_request_beyond_the_limits_is_refused_from_its_header() {
    let (_prefix, server) = serve_hello(&["-max-request-bytes", "65536"]);
    let refused = [
        // An array declaring 16 M elements: it used to be buffered and walked, quadratically.
        vec![0xdd, 0x01, 0x00, 0x00, 0x00],
        // A bin of one byte more than a request may hold.
        vec![0xc6, 0x00, 0x01, 0x00, 0x01],
        // A str32 claiming 4 GB, which used to hold the connection open forever.
        vec![0xdb, 0xff, 0xff, 0xff, 0xff],
    ];
    for (i, param) in refused.iter().enumerate() {
        let mut conn = Conn::open(server.socket()).unwrap();
        let mut request = get_status_head(i as u8);
        request.extend_from_slice(param);
        conn.send_raw(&request).unwrap();
        assert!(conn.is_closed(), "header {param:02x?} was not refused");
        still_serves(&server);
    }
    server.wait_for_log("larger than the limit of 65536 bytes");
    server.wait_for_log("more than the limit of 1048576 values");

    // Nested deeper than the limit, with a msgid: an error answer, and the connection goes on.
    let mut param = Value::from("leaf");
    for _ in 0..300 {
        param = Value::Array(vec![param]);
    }
    let mut conn = Conn::open(server.socket()).unwrap();
    conn.send(7, "plugin.GetStatus", param).unwrap();
    let error = conn.read_response(7).unwrap_err();
    assert!(error.contains("nested deeper than 256 levels"), "{error}");
    conn.send(8, "plugin.GetStatus", Value::Nil).unwrap();
    assert!(conn.read_response(8).is_ok());
}

/// Voluntary context switches of the server's worker threads: how often they woke. Fails when
/// it finds no worker thread: a count of none would pass any bound.
fn worker_wakeups(pid: u32) -> u64 {
    let mut total = 0;
    let mut workers = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let is_worker = name
            .trim()
            .strip_prefix("pluginhost-")
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
        if !is_worker {
            continue;
        }
        workers += 1;
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    assert!(
        workers > 0,
        "no thread named pluginhost-N in /proc/{pid}/task"
    );
    total
}

#[test]
fn clients_that_never_read_cost_no_wakeups() {
    let (_prefix, server) = serve_hello(&[]);
    // Each sends 5000 requests at once and reads nothing: the answers fill its socket.
    let mut request = Vec::new();
    for _ in 0..5000 {
        request.extend_from_slice(&get_status_head(1));
        request.push(0xc0);
    }
    let stuck: Vec<Conn> = (0..20)
        .map(|_| {
            let mut conn = Conn::open(server.socket()).unwrap();
            conn.send_raw(&request).unwrap();
            conn
        })
        .collect();
    // Once answering has filled their sockets, the workers have nothing to do.
    thread::sleep(Duration::from_millis(500));
    let before = worker_wakeups(server.pid());
    thread::sleep(Duration::from_secs(1));
    let woke = worker_wakeups(server.pid()) - before;
    // Retrying blocked writes every millisecond woke a worker about a thousand times here.
    assert!(
        woke < 100,
        "the workers woke {woke} times with no client reading"
    );
    still_serves(&server);
    drop(stuck);
}

#[test]
fn a_full_stderr_pipe_never_stops_serving() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    let mut child = Command::new(paths::pluginhost())
        .arg("-kong-prefix")
        .arg(prefix.path())
        .arg("-plugins-directory")
        .arg(prefix.plugins())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads it for now, as when Kong lags behind.
    let mut stderr = child.stderr.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(prefix.socket()).is_err() {
        assert!(Instant::now() < deadline, "pluginhost did not start");
        thread::sleep(Duration::from_millis(10));
    }
    // 3000 warnings, a few hundred KB: far more than the pipe holds.
    for _ in 0..3000 {
        let mut conn = Conn::open(&prefix.socket()).unwrap();
        conn.send_raw(&[0xc1]).unwrap();
        assert!(conn.is_closed());
    }
    let kong = kong_sim::kong::Kong::new(prefix.socket());
    assert!(kong.call("plugin.GetStatus", Value::Nil).is_ok());

    // Once stderr is read again, the lines lost are counted.
    let reader = thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    thread::sleep(Duration::from_millis(200));
    let mut conn = Conn::open(&prefix.socket()).unwrap();
    conn.send_raw(&[0xc1]).unwrap();
    assert!(conn.is_closed());
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        Signal::TERM,
    );
    assert!(child.wait().unwrap().success());
    let log = reader.join().unwrap();
    assert!(
        log.contains("log lines were dropped: stderr was not read fast enough"),
        "{}",
        &log[log.len().saturating_sub(2000)..]
    );
}

fn dump(prefix: &Prefix, extra: &[&str]) -> (bool, Vec<String>, String) {
    let mut args = vec!["-dump-all-plugins"];
    args.extend_from_slice(extra);
    let output = prefix.run(&args);
    let names = serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p["Name"].as_str().map(str::to_owned))
        .collect();
    (
        output.status.success(),
        names,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn plugin_files_others_could_write_are_refused_with_the_reason() {
    let prefix = Prefix::new();
    chmod(&prefix.plugins(), 0o755);
    let writable = prefix.add_plugin("hello", "hello.so");
    chmod(&writable, 0o666);
    prefix.add_plugin("log", "log.so");
    // A symlink inside the directory is fine; one out of it is not.
    prefix.add_plugin("panicky", ".panicky-real.so");
    std::os::unix::fs::symlink(".panicky-real.so", prefix.plugins().join("panicky.so")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(paths::plugin("blocker"), outside.path().join("blocker.so")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("blocker.so"),
        prefix.plugins().join("blocker.so"),
    )
    .unwrap();
    let mut expected_refused = 2;
    let running_as_root = rustix::process::geteuid().is_root();
    if running_as_root {
        let foreign = prefix.add_plugin("response-headers", "response-headers.so");
        rustix::fs::chown(&foreign, Some(rustix::fs::Uid::from_raw(4242)), None).unwrap();
        expected_refused += 1;
    }

    let (ok, names, log) = dump(&prefix, &[]);
    assert!(ok, "{log}");
    assert_eq!(names, ["log", "panicky"], "{log}");
    assert!(
        log.contains("has mode 0666: every user can write it"),
        "{log}"
    );
    assert!(log.contains("outside the plugins directory"), "{log}");
    if running_as_root {
        assert!(log.contains("is owned by uid 4242"), "{log}");
    }
    let (_, names, log) = dump(&prefix, &["-allow-insecure-files"]);
    assert_eq!(names.len(), 2 + expected_refused, "{log}");

    // A directory everyone can write to: nothing in it is trusted.
    chmod(&prefix.plugins(), 0o777);
    let (ok, names, log) = dump(&prefix, &[]);
    assert!(!ok && names.is_empty());
    assert!(log.contains("the plugins directory"), "{log}");
    assert!(log.contains("mode 0777"), "{log}");
    chmod(&prefix.plugins(), 0o755);
}

#[test]
fn odd_entries_never_break_the_directory_nor_reach_the_cache() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    std::os::unix::fs::symlink("/nonexistent/gone.so", prefix.plugins().join("gone.so")).unwrap();
    std::fs::create_dir(prefix.plugins().join("dir.so")).unwrap();
    prefix.add_file("text.so", b"not a shared object");
    // 2 GB, sparse: it must be refused by its size, not read.
    let big = std::fs::File::create(prefix.plugins().join("big.so")).unwrap();
    big.set_len(2 << 30).unwrap();

    let (ok, names, log) = dump(&prefix, &[]);
    assert!(ok, "{log}");
    assert_eq!(names, ["hello"], "{log}");
    for reason in [
        "gone.so: a symlink to nothing",
        "dir.so: not a regular file",
        "text.so: not a 64-bit ELF shared object",
        "big.so: 2147483648 bytes, more than any plugin",
    ] {
        assert!(log.contains(reason), "no `{reason}` in:\n{log}");
    }

    let server = prefix.serve(&["-rescan-interval", "0.2"]);
    let cache = prefix.path().join(".pluginhost-cache");
    let copies: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(copies[0].starts_with("hello-"), "{copies:?}");
    // And the directory still reloads.
    prefix.add_plugin("log", "log.so");
    let kong = server.kong();
    let deadline = Instant::now() + Duration::from_secs(20);
    while kong
        .call("plugin.GetPluginInfo", Value::from("log"))
        .is_err()
    {
        assert!(Instant::now() < deadline, "log.so was never loaded");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_cache_that_is_a_symlink_is_refused_and_left_untouched() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    let elsewhere = tempfile::tempdir().unwrap();
    chmod(elsewhere.path(), 0o755);
    std::fs::write(elsewhere.path().join("precious.so"), b"data").unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), prefix.path().join(".pluginhost-cache")).unwrap();
    let output = prefix.run_server();
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("is a symlink"), "{log}");
    assert!(elsewhere.path().join("precious.so").exists());
    let mode = std::fs::metadata(elsewhere.path()).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o755);
}

#[test]
fn a_second_server_taking_over_leaves_the_first_ones_plugin_copies() {
    let (prefix, server) = serve_hello(&[]);
    let cache = prefix.path().join(".pluginhost-cache");
    let copies = || -> Vec<(String, u64)> {
        let mut all: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .map(|e| {
                let ino = e.metadata().unwrap().ino();
                (e.file_name().to_string_lossy().into_owned(), ino)
            })
            .collect();
        all.sort();
        all
    };
    let before = copies();
    assert_eq!(before.len(), 1);
    let _second = prefix.serve_next();
    // The same plugin, the same content: the second loads the first one's copy, which stays.
    assert_eq!(copies(), before, "the first one's copies were changed");
    still_serves(&server);
}

#[test]
fn the_socket_is_the_owners_only_whatever_the_umask() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "hello.so");
    let start = |extra: &str| {
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            "umask 000; exec '{}' -kong-prefix '{}' -plugins-directory '{}' {extra}",
            paths::pluginhost().display(),
            prefix.path().display(),
            prefix.plugins().display()
        ));
        command.stdin(Stdio::null()).stdout(Stdio::null());
        Server::spawn(command, prefix.socket())
    };
    let server = start("");
    let meta = std::fs::metadata(prefix.socket()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    drop(server);

    let gid = rustix::process::getegid().as_raw();
    let server = start(&format!("-socket-group {gid}"));
    let meta = std::fs::metadata(prefix.socket()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    drop(server);

    let output = prefix.run(&[
        "-kong-prefix",
        prefix.path().to_str().unwrap(),
        "-socket-group",
        "no-such-group-here",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-group-here: no such group"));
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.split(") ").nth(1).unwrap_or("").starts_with('Z'))
}

#[test]
fn a_parent_that_dies_while_plugins_load_takes_the_server_with_it() {
    let prefix = Prefix::new();
    prefix.add_plugin("blocker", "blocker.so");
    let gate = tempfile::tempdir().unwrap();
    // The shell starts pluginhost, waits until it is loading the plugin, and exits.
    let script = format!(
        "'{}' -kong-prefix '{}' -plugins-directory '{}' >/dev/null 2>&1 & echo $!; \
         while [ ! -e '{gate}/loading' ]; do sleep 0.01; done",
        paths::pluginhost().display(),
        prefix.path().display(),
        prefix.plugins().display(),
        gate = gate.path().display()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("BLOCKER_LOAD_GATE", gate.path())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let pid: u32 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid), "pluginhost is still loading");
    std::fs::write(gate.path().join("go"), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) {
        if Instant::now() > deadline {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid as i32).unwrap(),
                Signal::KILL,
            );
            panic!("pluginhost outlived its parent");
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(!prefix.socket().exists(), "it left a socket behind");
}

#[test]
fn sighup_stops_the_server_and_removes_its_socket() {
    let (prefix, mut server) = serve_hello(&[]);
    server.signal(Signal::HUP);
    let status = server.wait_exit(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status}");
    assert!(!prefix.socket().exists());
    assert!(server.stderr().contains("SIGHUP: shutting down"));
}

#[test]
fn at_the_events_ceiling_new_events_still_start() {
    let (_prefix, server) = serve_hello(&["-max-events", "8", "-threads", "1"]);
    let kong = server.kong();
    let id = kong
        .start_instance("hello", &serde_json::json!({"message": "hi"}))
        .unwrap();
    let start = || -> u64 {
        let step = kong
            .call(
                "plugin.HandleEvent",
                map([
                    ("InstanceId", Value::from(id)),
                    ("EventName", Value::from("access")),
                ]),
            )
            .unwrap_or_else(|e| panic!("{e}\n{}", server.stderr()));
        get(&step, "EventId").and_then(Value::as_u64).unwrap()
    };
    // Eight events Kong abandons, then eight more: every new one starts. Without a ceiling
    // the kernel's (vm.max_map_count) made every new event fail.
    let abandoned: Vec<u64> = (0..8).map(|_| start()).collect();
    let live: Vec<u64> = (0..8).map(|_| start()).collect();
    let step = |event: u64| {
        kong.call(
            "plugin.Step",
            map([
                ("EventId", Value::from(event)),
                ("Data", Value::from("example.com")),
            ]),
        )
    };
    // Room was made by reaping suspended events, one per new one: the ceiling holds, and
    // the rest still run.
    let (mut gone, mut alive) = (0, 0);
    for event in abandoned.into_iter().chain(live) {
        match step(event) {
            Ok(_) => alive += 1,
            Err(e) if e.contains("No running event") => gone += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((gone, alive), (8, 8));
    server.wait_for_log("to make room");
}
