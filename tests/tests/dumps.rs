//! What Kong's query commands get: every dump mode, and refusals that never reach stdout.

use kong_sim::{
    schema_loader::{Query, kong_loads, kong_protocol},
    server::Prefix,
};
use plugin_abi::schema::KongVersion;
use serde_json::{Value, json};

fn samples() -> Prefix {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    // The file name does not matter: the plugin's declared name does.
    prefix.add_plugin("log", "log.so");
    prefix.add_plugin("panicky", "libpanicky.so");
    prefix
}

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is exactly one JSON document")
}

/// The `Name`s of a `-dump-all-plugins` array, in order.
fn names_of(dump: &Value) -> Vec<&str> {
    let plugins = dump.as_array().expect("the dump is an array");
    plugins
        .iter()
        .map(|p| p["Name"].as_str().expect("a Name"))
        .collect()
}

#[test]
fn dump_all_plugins_is_a_json_array_in_kongs_shape() {
    let prefix = samples();
    let output = prefix.run(&["-dump-all-plugins"]);
    assert_ne!(
        output.stdout.last(),
        Some(&b'\n'),
        "go-pluginserver prints no trailing newline"
    );
    let dump = stdout_json(&output);
    let names = names_of(&dump);
    assert_eq!(names, ["hello", "log", "panicky"]);
    let panicky = &dump[2];
    // Declared as [log, access]: dumped in Kong's fixed order.
    assert_eq!(panicky["Phases"], json!(["access", "log"]));
    assert_eq!(panicky["Version"], "1.2.3");
    assert_eq!(panicky["Priority"], 10);
    let hello = &dump[0];
    assert_eq!(
        hello["Schema"],
        json!({"name": "hello", "fields": [{"config": {"type": "record", "fields": [
            {"message": {"type": "string", "len_min": 0, "default": ""}}
        ]}}]})
    );
    let keys: Vec<&String> = hello.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Name", "Phases", "Version", "Priority", "Schema"]);
}

#[test]
fn go_flag_forms_are_all_accepted() {
    let prefix = samples();
    let dir = prefix.plugins();
    let dir = dir.to_str().unwrap();
    let expected = stdout_json(&prefix.run(&["-dump-all-plugins"]));
    for args in [
        vec!["--plugins-directory", dir, "--dump-all-plugins"],
        vec![
            &format!("-plugins-directory={dir}") as &str,
            "-dump-all-plugins=true",
        ],
    ] {
        let output = std::process::Command::new(kong_sim::paths::pluginhost())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(stdout_json(&output), expected, "{args:?}");
    }
}

#[test]
fn dump_plugin_info_is_exactly_one_msgpack_map() {
    let prefix = samples();
    let output = prefix.run(&["-dump-plugin-info", "log"]);
    assert!(output.status.success());
    let mut bytes = output.stdout.as_slice();
    let value = rmpv::decode::read_value(&mut bytes).unwrap();
    assert!(
        bytes.is_empty(),
        "no trailing bytes (lua-MessagePack refuses them)"
    );
    let keys: Vec<&str> = value
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, ["Name", "Phases", "Version", "Priority", "Schema"]);
}

#[test]
fn unknown_plugin_is_an_error_not_an_empty_record() {
    let prefix = samples();
    for flag in ["-dump-plugin-info", "-dump-plugin-info-json"] {
        let output = prefix.run(&[flag, "nope"]);
        assert!(!output.status.success());
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no plugin named `nope`"), "{stderr}");
        assert!(stderr.contains("served: hello, log, panicky"), "{stderr}");
    }
}

#[test]
fn embedded_style_dumps() {
    let prefix = samples();
    let dump = stdout_json(&prefix.run(&["-dump"]));
    assert_eq!(dump["Protocol"], "MsgPack:1");
    assert_eq!(dump["Plugins"].as_array().unwrap().len(), 3);

    // Kong >= 3.9 registers only the first plugin of a dump: one entry per plugin name.
    let one = stdout_json(&prefix.run(&["-dump-plugin-info-json", "log"]));
    assert_eq!(one["Protocol"], "MsgPack:1");
    assert_eq!(one["Plugins"].as_array().unwrap().len(), 1);
    assert_eq!(one["Plugins"][0]["Name"], "log");
}

#[test]
fn version_keeps_the_lines_kong_parses() {
    let output = Prefix::new().run(&["-version"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("Version: 0.1.0\n"), "{text}");
    // Kong 2.0–2.2: `Runtime Version: go(.+)\n$`
    let last = text.strip_suffix('\n').unwrap().lines().last().unwrap();
    assert!(last.starts_with("Runtime Version: go"), "{text}");
}

#[test]
fn bad_files_are_refused_and_left_out_while_the_rest_is_served() {
    let prefix = samples();
    let hello = std::fs::read(kong_sim::paths::plugin("hello")).unwrap();
    prefix.add_file("empty.so", b"");
    prefix.add_file("text.so", b"this is not a plugin");
    prefix.add_file("truncated.so", &hello[..hello.len() / 2]);
    // Another shared object that is not a plugin.
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("libm is on every glibc system");
    std::fs::copy(libm, prefix.plugins().join("libm.so")).unwrap();
    // A second file declaring the name `hello`.
    prefix.add_plugin("hello", "zz-hello-copy.so");
    // Not *.so, hidden: ignored entirely.
    prefix.add_file("README.txt", b"x");
    prefix.add_file(".hidden.so", b"x");

    let output = prefix.run(&["-dump-all-plugins"]);
    let dump = stdout_json(&output);
    let names = names_of(&dump);
    assert_eq!(
        names,
        ["hello", "log", "panicky"],
        "refused files never become entries"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "empty.so: the file is empty",
        "text.so: not a 64-bit ELF shared object",
        "truncated.so: ",
        "libm.so: not a pluginhost plugin",
        "zz-hello-copy.so: plugin name `hello` is already served by",
    ] {
        assert!(
            stderr.contains(expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("README.txt") && !stderr.contains(".hidden.so"),
        "{stderr}"
    );
}

#[test]
fn a_missing_plugins_directory_is_a_clear_error() {
    let output = std::process::Command::new(kong_sim::paths::pluginhost())
        .args(["-plugins-directory", "/no/such/dir", "-dump-all-plugins"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/no/such/dir: cannot list the plugins directory"),
        "{stderr}"
    );
}

#[test]
fn unknown_flags_print_usage_and_exit_2() {
    let output = Prefix::new().run(&["-no-such-flag"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}

/// Every sample, in a prefix of its own.
fn all_samples() -> Prefix {
    let prefix = Prefix::new();
    for (krate, file) in [
        ("hello", "libhello.so"),
        ("log", "liblog.so"),
        ("key_auth", "key-auth.so"),
        ("rate_limit", "rate-limit.so"),
        ("request_transformer", "request-transformer.so"),
        ("response_headers", "response-headers.so"),
        ("token_introspection", "token-introspection.so"),
    ] {
        prefix.add_plugin(krate, file);
    }
    prefix
}

const SAMPLE_NAMES: [&str; 7] = [
    "hello",
    "log",
    "rate-limit",
    "response-headers",
    "rust-key-auth",
    "rust-request-transformer",
    "token-introspection",
];

/// Releases on each side of every change in what Kong reads or refuses.
const RELEASES: [(u32, u32, u32); 11] = [
    (2, 0, 0),
    (2, 2, 2),
    (2, 3, 0),
    (2, 8, 4),
    (3, 0, 0),
    (3, 3, 1),
    (3, 4, 0),
    (3, 8, 0),
    (3, 9, 0),
    (3, 9, 3),
    (3, 10, 0),
];

/// The query commands `pluginhost kong-conf` writes for Kong release `kong`, and `-dump` where Kong reads
/// it: what Kong runs, once per plugin where it asks for one, with and without `-kong-version`
/// where Kong lets the operator write the command.
fn query_commands(kong: KongVersion) -> Vec<Vec<String>> {
    let version = kong.to_string();
    let per_plugin = |flag: &str, extra: &[&str]| -> Vec<Vec<String>> {
        SAMPLE_NAMES
            .iter()
            .map(|name| {
                let mut args = vec![flag.to_owned(), (*name).to_owned()];
                args.extend(extra.iter().map(|a| a.to_string()));
                args
            })
            .collect()
    };
    match Query::of(kong) {
        Query::Legacy => per_plugin("-dump-plugin-info", &[]),
        Query::AllPlugins => {
            let mut all = vec![
                vec!["-dump-all-plugins".into()],
                vec![
                    "-dump-all-plugins".into(),
                    "-kong-version".into(),
                    version.clone(),
                ],
            ];
            // From 2.4 on, Kong also reads the embedded servers' `{Protocol, Plugins}` form.
            if kong >= KongVersion::new(2, 4, 0) {
                all.push(vec!["-dump".into()]);
                all.push(vec!["-dump".into(), "-kong-version".into(), version]);
            }
            all
        }
        Query::FirstPlugin => {
            let mut all = per_plugin("-dump-plugin-info-json", &[]);
            // With `-kong-version 3.9`, as for 3.9 and every later release.
            all.extend(per_plugin(
                "-dump-plugin-info-json",
                &["-kong-version", "3.9"],
            ));
            all
        }
    }
}

#[test]
fn every_supported_kong_loads_every_sample_from_the_query_commands() {
    let prefix = all_samples();
    for (major, minor, patch) in RELEASES {
        let kong = KongVersion::new(major, minor, patch);
        let mut registered = Vec::new();
        for args in query_commands(kong) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = prefix.run(&args);
            assert!(
                output.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let names =
                kong_loads(kong, &output.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let described = String::from_utf8_lossy(&output.stdout).contains("description");
            assert_eq!(
                described,
                kong.accepts_descriptions() && args.contains(&"-kong-version"),
                "{args:?} for Kong {kong}"
            );
            registered.extend(names);
        }
        registered.sort();
        registered.dedup();
        assert_eq!(registered, SAMPLE_NAMES, "Kong {kong}");
    }
}

#[test]
fn a_dump_for_a_newer_kong_is_refused_by_an_older_one() {
    let prefix = all_samples();
    let output = prefix.run(&["-dump-all-plugins", "-kong-version", "3.4.0"]);
    let e = kong_loads(KongVersion::new(3, 3, 1), &output.stdout).unwrap_err();
    assert!(e.contains("unknown attribute `description`"), "{e}");
    assert!(kong_loads(KongVersion::DESCRIPTIONS, &output.stdout).is_ok());
}

#[test]
fn schemas_carry_what_the_rust_types_say() {
    let dump = stdout_json(&all_samples().run(&["-dump-all-plugins", "-kong-version", "3.9"]));
    assert_eq!(names_of(&dump), SAMPLE_NAMES);
    let rate_limit = &dump[2]["Schema"]["fields"][0]["config"]["fields"];
    assert_eq!(
        rate_limit[2]["limit_by"],
        json!({"type": "string", "one_of": ["consumer", "ip"], "default": "consumer",
               "description": "Whom the limit applies to; requests without a consumer are counted by client IP."})
    );
}

#[test]
fn descriptions_only_for_a_kong_that_knows_them() {
    let prefix = samples();
    let message = |args: &[&str]| {
        let dump = stdout_json(&prefix.run(args));
        dump[0]["Schema"]["fields"][0]["config"]["fields"][0]["message"].clone()
    };
    let plain = json!({"type": "string", "len_min": 0, "default": ""});
    assert_eq!(message(&["-dump-all-plugins"]), plain);
    assert_eq!(
        message(&["-dump-all-plugins", "-kong-version", "3.3.1"]),
        plain
    );
    assert_eq!(
        message(&[
            "-dump-all-plugins",
            "-kong-version",
            "3.4",
            "-no-descriptions"
        ]),
        plain
    );
    assert_eq!(
        message(&["-dump-all-plugins", "-kong-version", "3.4"])["description"],
        "Who says hello; `hello` when empty."
    );
    // Kong 2.0 - 2.2 run this one themselves: it never carries them.
    let output = prefix.run(&["-dump-plugin-info", "hello", "-kong-version", "3.9"]);
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("description"));
}

#[test]
fn a_bad_kong_version_is_a_usage_error() {
    for bad in ["3.x", "1.5.0"] {
        let output = samples().run(&["-dump-all-plugins", "-kong-version", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(bad), "{stderr}");
    }
}

#[test]
fn protobuf_dumps_name_the_dialect_and_every_kong_from_2_4_reads_them() {
    let prefix = all_samples();
    for (major, minor, patch) in RELEASES {
        let kong = KongVersion::new(major, minor, patch);
        if kong < KongVersion::new(2, 4, 0) {
            continue;
        }
        let version = kong.to_string();
        let queries: [&[&str]; 3] = [
            &["-dump-all-plugins"],
            &["-dump"],
            &["-dump-plugin-info-json", "hello"],
        ];
        for query in queries {
            let mut args = vec!["-protocol", "ProtoBuf:1", "-kong-version", &version];
            args.extend_from_slice(query);
            let output = prefix.run(&args);
            let dump = stdout_json(&output);
            assert_eq!(dump["Protocol"], "ProtoBuf:1", "{args:?}");
            let names =
                kong_loads(kong, &output.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert!(names.contains(&"hello".to_owned()), "{args:?}: {names:?}");
            assert_eq!(
                kong_protocol(kong, &output.stdout),
                Ok("ProtoBuf:1".into()),
                "{args:?}"
            );
        }
    }
    // MsgPack:1 stays exactly as it was: an array, which every Kong reads as MsgPack:1.
    let output = prefix.run(&["-dump-all-plugins", "-protocol", "msgpack"]);
    assert!(stdout_json(&output).is_array());
    assert_eq!(
        kong_protocol(KongVersion::new(3, 9, 0), &output.stdout),
        Ok("MsgPack:1".into())
    );
}

#[test]
fn protobuf_is_refused_for_a_kong_that_cannot_speak_it() {
    let prefix = all_samples();
    for args in [
        &[
            "-protocol",
            "ProtoBuf:1",
            "-kong-version",
            "2.3.0",
            "-dump-all-plugins",
        ][..],
        &["-protocol", "protobuf", "-kong-version", "2.2.2", "-dump"],
        &["-protocol", "protobuf", "-dump-plugin-info", "hello"],
    ] {
        let output = prefix.run(args);
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("MsgPack:1"), "{args:?}: {stderr}");
    }
    let output = prefix.run(&["-protocol", "json", "-dump"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`json` is not a protocol"));
}
