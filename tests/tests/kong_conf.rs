//! `pluginhost kong-conf`: for every Kong generation, its lines parse as kong.conf, every query
//! command they name prints what that generation registers (the schema loader model), with the
//! key names Kong derives (`-` → `_`), and the start commands serve on the sockets named.

use std::{collections::BTreeMap, path::Path, process::Command};

use kong_sim::{
    kong::{Answer, Entity},
    paths,
    protobuf::ProtoBufKong,
    schema_loader::{kong_loads, kong_protocol},
    server::{Prefix, Server},
};
use plugin_abi::schema::KongVersion;
use serde_json::json;

/// The samples, one of them with a `-` in its name.
fn samples() -> Prefix {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    prefix.add_plugin("request_transformer", "rust-request-transformer.so");
    prefix
}

/// Runs `pluginhost kong-conf` and parses its lines as Kong reads kong.conf.
fn kong_conf(args: &[&str]) -> BTreeMap<String, String> {
    let out = Command::new(paths::pluginhost())
        .arg("kong-conf")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut conf = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (key, value) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("not a kong.conf line: {line}"));
        assert!(
            conf.insert(key.to_owned(), value.to_owned()).is_none(),
            "{key} twice"
        );
    }
    conf
}

/// Runs a command line as Kong does (`io.popen`), words split on spaces.
fn run_line(line: &str) -> std::process::Output {
    let mut words = line.split(' ');
    Command::new(words.next().unwrap())
        .args(words)
        .output()
        .unwrap()
}

fn listed(conf: &BTreeMap<String, String>, key: &str) -> Vec<String> {
    conf[key].split(',').map(str::to_owned).collect()
}

/// What Kong `kong` registers from the entries of `conf`, and in which dialect each speaks.
fn registered(kong: KongVersion, conf: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut plugins = Vec::new();
    for name in listed(conf, "pluginserver_names") {
        let key = name.replace('-', "_");
        assert!(
            conf.contains_key(&format!("pluginserver_{key}_socket")),
            "{key}"
        );
        let query = &conf[&format!("pluginserver_{key}_query_cmd")];
        let out = run_line(query);
        assert!(out.status.success(), "{query}");
        let protocol = kong_protocol(kong, &out.stdout).unwrap();
        for plugin in kong_loads(kong, &out.stdout).unwrap_or_else(|e| panic!("{query}: {e}")) {
            plugins.push((plugin, protocol.clone()));
        }
    }
    plugins.sort();
    plugins
}

#[test]
fn every_generation_registers_every_plugin_from_the_lines() {
    let prefix = samples();
    let dir = prefix.plugins().display().to_string();
    let kong_prefix = prefix.path().display().to_string();
    let expected = ["hello", "rust-request-transformer"];
    for version in ["2.2.0", "2.8.4", "3.4.2", "3.8.0", "3.9.1"] {
        let kong: KongVersion = version.parse().unwrap();
        for protocol in ["MsgPack:1", "ProtoBuf:1"] {
            if protocol == "ProtoBuf:1" && kong < KongVersion::new(2, 4, 0) {
                continue;
            }
            let conf = kong_conf(&[
                "-kong-version",
                version,
                "-plugins-directory",
                &dir,
                "-kong-prefix",
                &kong_prefix,
                "-protocol",
                protocol,
            ]);
            assert_eq!(
                listed(&conf, "plugins"),
                ["bundled", expected[0], expected[1]],
                "Kong {kong}"
            );
            if kong < KongVersion::new(2, 3, 0) {
                // Kong starts go_pluginserver_exe and asks each plugin with -dump-plugin-info.
                let exe = &conf["go_pluginserver_exe"];
                for plugin in expected {
                    let out = Command::new(exe)
                        .args(["-plugins-directory", &conf["go_plugins_dir"]])
                        .args(["-dump-plugin-info", plugin])
                        .output()
                        .unwrap();
                    assert_eq!(kong_loads(kong, &out.stdout), Ok(vec![plugin.to_owned()]));
                }
                continue;
            }
            let plugins = registered(kong, &conf);
            let want: Vec<(String, String)> = expected
                .iter()
                .map(|p| (p.to_string(), protocol.to_owned()))
                .collect();
            assert_eq!(plugins, want, "Kong {kong} {protocol}");
            let starts = conf.keys().filter(|k| k.ends_with("_start_cmd")).count();
            assert_eq!(starts, 1, "Kong {kong}: one server is started");
        }
    }
    let refused = Command::new(paths::pluginhost())
        .args([
            "kong-conf",
            "-kong-version",
            "2.3.0",
            "-protocol",
            "protobuf",
        ])
        .args(["-plugins-directory", &dir])
        .output()
        .unwrap();
    assert!(!refused.status.success() && refused.stdout.is_empty());
}

/// Starts the server an entry's start command names, and waits for its socket.
fn start(conf: &BTreeMap<String, String>, key: &str) -> Server {
    let line = &conf[&format!("pluginserver_{key}_start_cmd")];
    let mut words = line.split(' ');
    let mut command = Command::new(words.next().unwrap());
    command.args(words);
    Server::spawn(
        command,
        conf[&format!("pluginserver_{key}_socket")].clone().into(),
    )
}

#[test]
fn the_start_commands_serve_where_the_lines_say() {
    let prefix = samples();
    let dir = prefix.plugins().display().to_string();
    let kong_prefix = prefix.path().display().to_string();
    let conf = kong_conf(&[
        "-kong-version",
        "3.9.1",
        "-plugins-directory",
        &dir,
        "-kong-prefix",
        &kong_prefix,
        "-protocol",
        "ProtoBuf:1",
    ]);
    let server = start(&conf, "hello");
    for name in ["hello", "rust_request_transformer"] {
        assert_eq!(
            Path::new(&conf[&format!("pluginserver_{name}_socket")]),
            server.socket()
        );
    }
    let kong = ProtoBufKong::new(server.socket(), KongVersion::new(3, 9, 1));
    Entity::new(&kong, "hello", json!({}))
        .run("access", |_| Answer::Nil)
        .unwrap();
}

#[test]
fn embedded_executables_get_an_entry_each() {
    let prefix = tempfile::tempdir().unwrap();
    let bin = prefix.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mut exes = Vec::new();
    for name in ["hello", "panicky"] {
        let exe = bin.join(format!("my-{name}"));
        std::fs::copy(paths::embedded(name), &exe).unwrap();
        exes.push(exe.display().to_string());
    }
    let kong_prefix = prefix.path().display().to_string();
    for version in ["2.8.4", "3.9.1"] {
        let kong: KongVersion = version.parse().unwrap();
        let mut args = vec![
            "-kong-version",
            version,
            "-kong-prefix",
            &kong_prefix,
            "-embedded",
        ];
        args.extend(exes.iter().map(String::as_str));
        let conf = kong_conf(&args);
        assert_eq!(
            listed(&conf, "pluginserver_names"),
            ["my-hello", "my-panicky"]
        );
        assert_eq!(listed(&conf, "plugins"), ["bundled", "hello", "panicky"]);
        assert_eq!(
            registered(kong, &conf),
            [
                ("hello".to_owned(), "MsgPack:1".to_owned()),
                ("panicky".to_owned(), "MsgPack:1".to_owned())
            ]
        );
        let server = start(&conf, "my_hello");
        Entity::new(&server.kong(), "hello", json!({}))
            .run("access", |_| Answer::Nil)
            .unwrap();
    }
    let legacy = Command::new(paths::pluginhost())
        .args(["kong-conf", "-kong-version", "2.2.0", "-embedded", &exes[0]])
        .output()
        .unwrap();
    assert!(!legacy.status.success());
    assert!(String::from_utf8_lossy(&legacy.stderr).contains("cannot run embedded servers"));
}
