//! Builds that don't match the host: each one refused with its exact have/want blocks, or
//! served with a warning, while the good plugins in the same directory keep serving.

use std::process::Command;

use kong_sim::{
    fixtures,
    kong::{Answer, Entity},
    paths,
    server::Prefix,
};
use serde_json::json;

fn log_bytes() -> Vec<u8> {
    std::fs::read(paths::plugin("log")).unwrap()
}

fn refusal(file: &std::path::Path, blocks: &str) -> String {
    format!("refused plugin {}: {blocks}", file.display())
}

#[test]
fn refused_builds_never_load_and_the_good_plugins_keep_serving() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    prefix.add_plugin("log", "liblog.so");
    let abort = prefix.plugins().join("abort.so");
    std::fs::copy(fixtures::panic_abort_plugin("hello"), &abort).unwrap();
    let log = log_bytes();
    // A plugin of the revision before this one (1: a handler's error was its text alone).
    let old = plugin_abi::ABI_REVISION - 1;
    let revision = prefix.add_file(
        "revision.so",
        &fixtures::set_fingerprint(&log, "abi_revision", &old.to_string()),
    );
    let target = prefix.add_file(
        "target.so",
        &fixtures::set_fingerprint(&log, "target", "i686-unknown-linux-gnu"),
    );
    let glibc = prefix.add_file("glibc.so", &fixtures::raise_glibc(&log));
    let machine = prefix.add_file("machine.so", &fixtures::set_machine(&log, 0xb7));
    let hidden = prefix.add_file("no-fingerprint.so", &fixtures::hide_fingerprint(&log));
    let header = prefix.add_file("abi-header.so", &fixtures::bump_abi_stable_header(&log));

    let server = prefix.serve(&[]);
    let log_text = server.wait_for_log("listening");
    let unwind = "unwind (a panic in an abort build would take every plugin down: set panic = \"unwind\" in the plugin's profile)";
    for expected in [
        refusal(
            &abort,
            &format!(
                "1 incompatibility found -- not loading\npanic\n\thave: abort\n\twant: {unwind}"
            ),
        ),
        refusal(
            &revision,
            &format!(
                "1 incompatibility found -- not loading\nabi_revision\n\thave: {old}\n\twant: {}",
                plugin_abi::ABI_REVISION
            ),
        ),
        refusal(
            &target,
            "1 incompatibility found -- not loading\ntarget\n\thave: i686-unknown-linux-gnu\n\twant: x86_64-unknown-linux-gnu",
        ),
        refusal(
            &machine,
            "1 incompatibility found -- not loading\narchitecture\n\thave: Aarch64\n\twant: X86_64",
        ),
        refusal(
            &hidden,
            "1 incompatibility found -- not loading\nfingerprint\n\thave: none: the file has no .pluginhost_fp section",
        ),
    ] {
        assert!(
            log_text.contains(&expected),
            "missing:\n{expected}\nin:\n{log_text}"
        );
    }
    let glibc_refusal = refusal(
        &glibc,
        "1 incompatibility found -- not loading\nglibc\n\thave: GLIBC_2.99 (the newest the plugin needs)\n\twant: at most GLIBC_2.",
    );
    assert!(log_text.contains(&glibc_refusal), "{log_text}");
    // abi_stable's own check, after the file passed ours: its report in one line.
    let header_refusal = refusal(
        &header,
        "1 incompatibility found -- not loading\nabi_stable library header\n\thave: ABI 0.12\n\twant: ABI 0.11",
    );
    assert!(log_text.contains(&header_refusal), "{log_text}");

    // The good plugins serve.
    let kong = server.kong();
    let hello = Entity::new(&kong, "hello", json!({}))
        .run("access", |_| Answer::Nil)
        .unwrap();
    assert_eq!(hello.calls.len(), 2);
    let out = prefix.path().join("out.log");
    let logged = Entity::new(&kong, "log", json!({"path": out}))
        .run("log", |_| Answer::Value(kong_sim::Value::from("{}")))
        .unwrap();
    assert_eq!(logged.calls.len(), 1);

    // And dumps leave the refused files out.
    let dump: serde_json::Value =
        serde_json::from_slice(&prefix.run(&["-dump-all-plugins"]).stdout).unwrap();
    let names: Vec<&str> = dump
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello", "log"]);
}

#[test]
fn another_rustc_warns_and_strict_refuses() {
    let prefix = Prefix::new();
    let file = prefix.add_file(
        "log.so",
        &fixtures::set_fingerprint(&log_bytes(), "rustc", "1.94.1"),
    );
    let server = prefix.serve(&[]);
    let log = server.wait_for_log("rustc\n\thave: 1.94.1\n\twant: 1.95");
    assert!(
        log.contains(&format!(
            "plugin {}: built differently from this host, loaded anyway",
            file.display()
        )),
        "{log}"
    );
    assert!(log.contains("each cdylib carries its own std"), "{log}");
    assert!(
        server
            .kong()
            .start_instance("log", &json!({"path": "/dev/null"}))
            .is_ok()
    );
    drop(server);

    let strict = prefix.run(&["-strict", "-dump-all-plugins"]);
    assert_eq!(String::from_utf8_lossy(&strict.stdout), "[]");
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(
        stderr.contains("1 incompatibility found -- not loading\nrustc\n\thave: 1.94.1"),
        "{stderr}"
    );
}

fn check_plugin(args: &[&str]) -> (bool, String) {
    let output = Command::new(paths::pluginhost())
        .arg("check-plugin")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn check_plugin_tests_files_like_krakend_test_plugin() {
    let prefix = Prefix::new();
    let good = prefix.add_plugin("hello", "hello.so");
    let abort = prefix.plugins().join("abort.so");
    std::fs::copy(fixtures::panic_abort_plugin("hello"), &abort).unwrap();
    let old = prefix.add_file(
        "old.so",
        &fixtures::set_fingerprint(&log_bytes(), "rustc", "1.94.1"),
    );
    let header = prefix.add_file("header.so", &fixtures::bump_abi_stable_header(&log_bytes()));
    let junk = prefix.add_file("junk.so", b"junk");

    let files: Vec<&str> = [&good, &abort, &old, &header, &junk]
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();
    let (ok, out) = check_plugin(&files);
    assert!(!ok);
    assert!(out.contains(&format!("[OK] {}\n", good.display())), "{out}");
    assert!(
        out.contains(&format!(
            "[KO] {}: 1 incompatibility found -- not loading\npanic\n\thave: abort",
            abort.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("[WARN] {}: built differently", old.display())),
        "{out}"
    );
    // This one passes the checks made without loading; the real load (in a child) refuses it.
    assert!(out.contains(&format!("[KO] {}: 1 incompatibility found -- not loading\nabi_stable library header\n\thave: ABI 0.12", header.display())), "{out}");
    assert!(
        out.contains(&format!(
            "[KO] {}: not a 64-bit ELF shared object",
            junk.display()
        )),
        "{out}"
    );
    assert!(out.contains("[KO] 5 tested plugin(s) in"), "{out}");
    assert!(out.ends_with("3 plugin(s) failed.\n"), "{out}");

    let (ok, out) = check_plugin(&[good.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.starts_with(&format!(
            "[OK] {}\n[OK] 1 tested plugin(s) in",
            good.display()
        )),
        "{out}"
    );

    let (ok, out) = check_plugin(&["-strict", old.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("rustc\n\thave: 1.94.1"), "{out}");
}

#[test]
fn a_fingerprint_without_shared_crates_cannot_be_compared() {
    let prefix = Prefix::new();
    let unknown = prefix.add_file(
        "unknown.so",
        &fixtures::set_fingerprint(&log_bytes(), "shared", "unknown"),
    );
    let file = unknown.to_str().unwrap();
    let (ok, out) = check_plugin(&[file]);
    assert!(ok, "{out}");
    assert!(
        out.contains("shared crates\n\thave: unknown: cannot compare"),
        "{out}"
    );
    let (ok, out) = check_plugin(&["-strict", file]);
    assert!(
        !ok,
        "-strict compares every crate, so it cannot pass without them:\n{out}"
    );
    assert!(out.contains(&format!("[KO] {file}: ")), "{out}");
}

#[test]
fn check_plugin_compares_a_cargo_lock_like_krakend_check_plugin() {
    let workspace_lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let lock = workspace_lock.to_str().unwrap();
    let (ok, out) = check_plugin(&["-s", lock]);
    assert!(ok, "the lock pluginhost was built from matches it:\n{out}");
    assert_eq!(out, "No incompatibilities found!\n");

    let prefix = Prefix::new();
    let text = std::fs::read_to_string(&workspace_lock).unwrap();
    let old = text.replace(
        "name = \"abi_stable\"\nversion = \"0.11.3\"",
        "name = \"abi_stable\"\nversion = \"0.11.2\"",
    );
    assert_ne!(old, text);
    let old_lock = prefix.path().join("Cargo.lock");
    std::fs::write(&old_lock, old).unwrap();
    let old_lock = old_lock.to_str().unwrap();

    // What only warns at load only warns here: exit 0, unless -strict.
    let (ok, out) = check_plugin(&["-s", old_lock, "-r", "1.94.1"]);
    assert!(ok, "{out}");
    assert_eq!(
        out,
        "No incompatibilities found!\n\
         2 differences that only warn: a plugin built so is loaded, since they do not affect \
         soundness; -strict refuses it\n\
         rustc\n\thave: 1.94.1\n\twant: 1.95.0\n\
         abi_stable\n\thave: 0.11.2\n\twant: 0.11.3\n"
            .replace("1.95.0", plugin_abi::fingerprint::RUSTC_VERSION)
    );
    let (ok, out) = check_plugin(&["-strict", "-s", old_lock, "-r", "1.94.1"]);
    assert!(!ok);
    assert!(out.ends_with("2 incompatibilities found\n"), "{out}");

    // A glibc newer than the one running refuses, as it does at load.
    let (ok, out) = check_plugin(&["-s", old_lock, "-r", "1.94.1", "-l", "2.99"]);
    assert!(!ok);
    assert_eq!(
        out.lines().take(4).collect::<Vec<_>>(),
        [
            "libc",
            "\thave: GLIBC_2.99",
            out.lines().nth(2).unwrap(),
            "1 incompatibility found"
        ]
    );
    assert!(
        out.lines()
            .nth(2)
            .unwrap()
            .starts_with("\twant: at most GLIBC_2."),
        "{out}"
    );

    // An abi_stable cargo calls incompatible refuses.
    let older = text.replace(
        "name = \"abi_stable\"\nversion = \"0.11.3\"",
        "name = \"abi_stable\"\nversion = \"0.10.5\"",
    );
    let older_lock = prefix.path().join("older.lock");
    std::fs::write(&older_lock, older).unwrap();
    let (ok, out) = check_plugin(&["-s", older_lock.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        out.starts_with("abi_stable\n\thave: 0.10.5\n\twant: 0.11.3\n1 incompatibility found\n"),
        "{out}"
    );

    let (ok, out) = check_plugin(&["-s", old_lock, "-f"]);
    assert!(ok, "{out}");
    assert_eq!(
        out,
        "cargo update -p abi_stable@0.11.2 --precise 0.11.3\nNo incompatibilities found!\n"
    );

    let (ok, _) = check_plugin(&["-s", "/no/such/Cargo.lock"]);
    assert!(!ok);
}
