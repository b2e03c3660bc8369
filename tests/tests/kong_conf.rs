//! `pluginhost kong-conf`: for every Kong generation, its lines parse as kong.conf, every query
//! command they name prints what that generation registers (the schema loader model), with the
//! entries Kong derives (lower-cased, `-` → `_` in keys), and the start commands, run as Kong
//! runs them, serve on the sockets named.

use std::process::Command;

use kong_sim::{
    kong::{Answer, Entity},
    kong_conf::{KongConf, run_query, start_command},
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
fn kong_conf(args: &[&str]) -> KongConf {
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
    KongConf::parse(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

/// What Kong `kong` registers from the entries of `conf`, and in which dialect each speaks.
fn registered(kong: KongVersion, conf: &KongConf) -> Vec<(String, String)> {
    let mut plugins = Vec::new();
    for server in conf.servers(kong).unwrap() {
        let query = server.query_cmd.as_deref().expect("a query command");
        let out = run_query(query);
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
                conf.list("plugins"),
                ["bundled", expected[0], expected[1]],
                "Kong {kong}"
            );
            if kong < KongVersion::new(2, 3, 0) {
                // Kong starts go_pluginserver_exe and asks each plugin with -dump-plugin-info.
                let exe = conf.get("go_pluginserver_exe").unwrap();
                for plugin in expected {
                    let out = Command::new(exe)
                        .args(["-plugins-directory", conf.get("go_plugins_dir").unwrap()])
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
            let servers = conf.servers(kong).unwrap();
            let starts = servers.iter().filter(|s| s.start_cmd.is_some()).count();
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

/// Starts the server of entry `name` as Kong does, and waits for its socket.
fn start(kong: KongVersion, conf: &KongConf, name: &str) -> Server {
    let servers = conf.servers(kong).unwrap();
    let server = servers.iter().find(|s| s.name == name).expect("the entry");
    let line = server.start_cmd.as_deref().expect("a start command");
    Server::spawn(start_command(line), server.socket.clone())
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
    let kong_version = KongVersion::new(3, 9, 1);
    let server = start(kong_version, &conf, "hello");
    for entry in conf.servers(kong_version).unwrap() {
        assert_eq!(entry.socket, server.socket(), "{}", entry.name);
    }
    let kong = ProtoBufKong::new(server.socket(), kong_version);
    Entity::new(&kong, "hello", json!({}))
        .run("access", |_| Answer::Nil)
        .unwrap();
}

#[test]
fn embedded_executables_get_an_entry_each() {
    let prefix = tempfile::tempdir().unwrap();
    // A space the shell would split on, and a name Kong lower-cases.
    let bin = prefix.path().join("plugin bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mut exes = Vec::new();
    for file in ["My-Hello", "my-panicky"] {
        let exe = bin.join(file);
        let name = file.to_lowercase().replace("my-", "");
        std::fs::copy(paths::embedded(&name), &exe).unwrap();
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
        assert_eq!(conf.list("pluginserver_names"), ["my-hello", "my-panicky"]);
        assert_eq!(conf.list("plugins"), ["bundled", "hello", "panicky"]);
        assert_eq!(
            registered(kong, &conf),
            [
                ("hello".to_owned(), "MsgPack:1".to_owned()),
                ("panicky".to_owned(), "MsgPack:1".to_owned())
            ]
        );
        let server = start(kong, &conf, "my-hello");
        assert_eq!(server.socket(), prefix.path().join("My-Hello.socket"));
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
