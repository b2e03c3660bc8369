//! A plugin author's first hour, outside this repository: the guide's walk-through run as
//! written, a crate made by `pluginhost new`, and every doc example of plugin-abi and every
//! Rust block of the README and the guide compiled in a crate whose only dependency is
//! plugin-abi. Each builds with the real cargo, then serves what it built.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use kong_sim::{
    kong::{Answer, Entity},
    paths,
    server::Prefix,
    snippets,
};
use serde_json::json;

/// The workspace root: the checkout a reader would call `$PLUGINHOST`.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .canonicalize()
        .expect("the checkout exists")
}

/// Where scratch crates build when the walk-through does not say: shared by the tests that
/// may share it, so that plugin-abi's dependencies are compiled once.
fn scratch_target() -> PathBuf {
    paths::target_dir().join("scratch")
}

/// A directory outside the repository.
fn outside() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ph-author-")
        .tempdir_in(std::env::temp_dir())
        .expect("cannot create a scratch directory")
}

/// `program` with none of the variables `cargo test` set for this crate (its package, its
/// `CARGO_TARGET_DIR`): the scratch crates are not this crate.
fn outside_this_build(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key
            .to_str()
            .is_some_and(|k| k.starts_with("CARGO_") && k != "CARGO_HOME")
        {
            command.env_remove(key);
        }
    }
    command
}

fn cargo() -> Command {
    outside_this_build(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn succeeded(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Serves the plugin file `so` and runs its access phase against a Kong answering `host`
/// for the host header; returns the PDK calls it made.
fn serve_access(so: &Path, name: &str, config: serde_json::Value) -> Vec<kong_sim::kong::Call> {
    let prefix = Prefix::new();
    std::fs::copy(so, prefix.plugins().join(format!("{name}.so"))).expect("copy the plugin");
    let server = prefix.serve(&[]);
    let kong = server.kong();
    let entity = Entity::new(&kong, name, config);
    let outcome = entity
        .run("access", |call| match call.method.as_str() {
            "kong.request.get_header" => Answer::Value(kong_sim::Value::from("example.com")),
            _ => Answer::Nil,
        })
        .expect("the access event runs");
    outcome.calls
}

#[test]
fn the_guide_walkthrough_works_as_written() {
    let page = std::fs::read_to_string(checkout().join("docs/src/walkthrough.md"))
        .expect("the guide's walk-through");
    let script = snippets::walkthrough_script(&page);
    assert!(
        script.contains("cargo new") && script.contains("src/tests.rs"),
        "the walk-through lost its steps:\n{script}"
    );
    let dir = outside();
    let output = cargo_free_bash(&script, dir.path());
    let stdout = succeeded(&output, "the guide's walk-through");
    // Its last step prints the kong.conf lines for the plugins directory it filled.
    assert!(
        stdout.contains("plugins = bundled,my-plugin")
            && stdout.contains("pluginserver_pluginhost_query_cmd = "),
        "{stdout}"
    );
    assert!(stdout.contains("test result: ok. 2 passed"), "{stdout}");
    // A debug pluginhost (`make run`) notes the plugin's release profile; nothing refuses it.
    assert!(stdout.contains("[OK] 1 tested plugin(s)"), "{stdout}");
    assert!(!stdout.contains("[KO]"), "{stdout}");
    // -dump-all-plugins ends without a newline, as go-pluginserver's: the next step's output
    // follows on its line.
    let dump_line = stdout
        .lines()
        .rfind(|l| l.starts_with("[{"))
        .expect("the dump's JSON line");
    let dump: serde_json::Value = serde_json::Deserializer::from_str(dump_line)
        .into_iter()
        .next()
        .expect("a JSON document")
        .expect("the dump is JSON");
    assert_eq!(dump[0]["Name"], "my-plugin");
    assert_eq!(dump[0]["Phases"], json!(["access"]));

    let so = dir.path().join("my-plugin/plugins/my-plugin.so");
    let calls = serve_access(&so, "my-plugin", json!({"message": "hi"}));
    assert_eq!(calls[1].method, "kong.response.set_header");
    assert_eq!(
        calls[1].args,
        ["x-my-plugin", "Rust says hi to example.com"].map(kong_sim::Value::from)
    );
}

/// Runs `script` with bash in `dir` as a reader's shell would: `PLUGINHOST` set to the
/// checkout, and nothing of this test's cargo environment (its own `target/`).
fn cargo_free_bash(script: &str, dir: &Path) -> Output {
    outside_this_build("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PLUGINHOST", checkout())
        .output()
        .expect("cannot run bash")
}

#[test]
fn a_crate_from_pluginhost_new_builds_tests_checks_and_serves() {
    let dir = outside();
    let krate = dir.path().join("my-greeter");
    let output = Command::new(paths::pluginhost())
        .args(["new", "my-greeter"])
        .arg(&krate)
        .output()
        .unwrap();
    let said = succeeded(&output, "pluginhost new");
    assert!(said.starts_with("wrote plugin my-greeter in "), "{said}");
    assert!(
        output.stderr.is_empty(),
        "nothing but the answer: {output:?}"
    );
    let pin = std::fs::read_to_string(krate.join("rust-toolchain.toml")).unwrap();
    let host = Command::new(paths::pluginhost())
        .arg("-version")
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&host.stdout).into_owned();
    let release = pin
        .lines()
        .find_map(|l| l.strip_prefix("channel = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a pinned channel");
    assert!(
        host.contains(&format!("Rust Version: {release} (")),
        "{pin}\n{host}"
    );
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("[profile.dev]\nopt-level = 1"),
        "the host's profiles: {manifest}"
    );
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "src/lib.rs",
        "src/main.rs",
        "src/tests.rs",
        "README.md",
    ] {
        assert!(krate.join(file).is_file(), "{file} is missing");
    }
    let readme = std::fs::read_to_string(krate.join("README.md")).unwrap();
    assert!(readme.contains("plugins = bundled,my-greeter"), "{readme}");
    assert!(
        readme.contains("pluginserver_my_greeter_query_cmd"),
        "{readme}"
    );
    assert!(
        readme.contains("pluginserver_my_greeter_start_cmd = /usr/local/bin/my-greeter"),
        "the kong.conf lines of one plugin per process: {readme}"
    );

    let run = |args: &[&str]| {
        let output = cargo()
            .args(args)
            .current_dir(&krate)
            .env("CARGO_TARGET_DIR", scratch_target())
            .output()
            .unwrap();
        succeeded(&output, &format!("cargo {args:?}"))
    };
    let tested = run(&["test"]);
    assert!(tested.contains("test result: ok. 2 passed"), "{tested}");
    run(&["build"]);
    let so = scratch_target().join("debug/libmy_greeter.so");
    let output = Command::new(paths::pluginhost())
        .arg("check-plugin")
        .arg(&so)
        .output()
        .unwrap();
    let report = succeeded(&output, "check-plugin");
    assert!(
        report.starts_with(&format!("[OK] {}\n", so.display())),
        "{report}"
    );

    let calls = serve_access(&so, "my-greeter", json!({"greeting": null}));
    assert_eq!(
        calls[0].args,
        ["x-my-greeter", "hello from Rust"].map(kong_sim::Value::from)
    );

    // The same crate, as an executable serving this one plugin.
    run(&["build", "--features", "embedded", "--bin", "my-greeter"]);
    let exe = scratch_target().join("debug/my-greeter");
    let dump = Command::new(&exe).arg("-dump").output().unwrap();
    let dump: serde_json::Value = serde_json::from_slice(&dump.stdout).unwrap();
    assert_eq!(dump["Plugins"][0]["Name"], "my-greeter");
    let prefix = outside();
    let mut command = Command::new(&exe);
    command.arg("-kong-prefix").arg(prefix.path());
    let server = kong_sim::server::Server::spawn(command, prefix.path().join("my-greeter.socket"));
    let kong = server.kong();
    let entity = kong_sim::kong::Entity::new(&kong, "my-greeter", json!({"greeting": "hey"}));
    let outcome = entity
        .run("access", |_| kong_sim::kong::Answer::Nil)
        .unwrap();
    assert_eq!(
        outcome.calls[0].args,
        ["x-my-greeter", "hey"].map(kong_sim::Value::from)
    );
    drop(server);

    // A second `new` into the same directory writes nothing.
    let again = Command::new(paths::pluginhost())
        .args(["new", "my-greeter"])
        .arg(&krate)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty: nothing was written"));
}

/// A scratch crate, outside the repository, whose only dependency is plugin-abi (with the test
/// kit): each example written into it is compiled by [`examples_crate_checks`].
fn examples_crate(dir: &Path, name: &str) -> PathBuf {
    let krate = dir.join(name);
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::create_dir_all(krate.join("examples")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
             publish = false\n\n[dependencies]\n\
             plugin-abi = {{ path = {:?}, features = [\"testkit\"] }}\n\n[workspace]\n",
            checkout().join("plugin-abi").display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(krate.join("src/lib.rs"), "").unwrap();
    std::fs::copy(checkout().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    krate
}

/// `cargo check --examples` of `krate`; fails the test with the errors, saying they are `what`.
fn examples_crate_checks(krate: &Path, what: &str) {
    let output = cargo()
        .args([
            "check",
            "--examples",
            "--quiet",
            "--message-format",
            "short",
        ])
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", scratch_target())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{what} that do not compile with plugin-abi alone:\n{}",
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|l| l.contains("error"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_doc_example_compiles_with_plugin_abi_as_the_only_dependency() {
    let dir = outside();
    let krate = examples_crate(dir.path(), "doc-examples");
    let plugin_abi = checkout().join("plugin-abi");
    let mut count = 0;
    for source in rust_files(&plugin_abi.join("src")) {
        let text = std::fs::read_to_string(&source).unwrap();
        let relative = source
            .strip_prefix(&plugin_abi)
            .unwrap()
            .display()
            .to_string();
        for example in snippets::doc_examples(&text) {
            let name = format!(
                "{}_{}",
                relative.trim_end_matches(".rs").replace(['/', '-'], "_"),
                example.line
            );
            let program = format!("// {relative}:{}\n{}", example.line, example.program);
            std::fs::write(krate.join(format!("examples/{name}.rs")), program).unwrap();
            count += 1;
        }
    }
    assert!(count > 200, "only {count} doc examples found");
    examples_crate_checks(&krate, "doc examples");
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The Markdown files a reader copies code from: the README, plugin-abi's, and the guide.
fn markdown_files() -> Vec<PathBuf> {
    let root = checkout();
    let mut files = vec![root.join("README.md"), root.join("plugin-abi/README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs/src"))
        .expect("the guide")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

#[test]
fn every_rust_block_of_the_readme_and_the_guide_compiles_with_plugin_abi_alone() {
    let dir = outside();
    let krate = examples_crate(dir.path(), "guide-examples");
    let mut compiled = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('-', "_");
        for (i, block) in snippets::blocks(&text).into_iter().enumerate() {
            let words: Vec<&str> = block.info.split(',').map(str::trim).collect();
            if words.first() != Some(&"rust") {
                continue;
            }
            let first = block.code.lines().next().unwrap_or_default();
            if words.contains(&"ignore") {
                // Not meant to compile here, and it says why.
                assert!(
                    first.starts_with("// Not compiled here: "),
                    "{}: an ignored block must give its reason first:\n{}",
                    file.display(),
                    block.code
                );
                continue;
            }
            if first.starts_with("// src/") {
                // A file of the walk-through, which its own test builds.
                assert!(
                    file.ends_with("docs/src/walkthrough.md"),
                    "{}",
                    file.display()
                );
                continue;
            }
            let program = if block.code.contains("fn main") {
                block.code.clone()
            } else {
                format!("{}\nfn main() {{}}\n", block.code)
            };
            std::fs::write(krate.join(format!("examples/{name}_{i}.rs")), program).unwrap();
            compiled += 1;
        }
    }
    assert!(compiled >= 2, "only {compiled} blocks compiled");
    examples_crate_checks(&krate, "Rust blocks of the README and the guide");
}
