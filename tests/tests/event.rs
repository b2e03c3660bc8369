//! `pluginhost event`: one request through a plugin file, or through a plugin of a running
//! server, printing each PDK call with Kong's answer and what the service and the client get.

use std::process::{Command, Output};

use kong_sim::{paths, server::Prefix};

fn event(args: &[&str]) -> Output {
    Command::new(paths::pluginhost())
        .arg("event")
        .args(args)
        .output()
        .expect("cannot run pluginhost")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_plugin_file_runs_one_request_and_the_report_says_what_happened() {
    let hello = paths::plugin("hello");
    let output = event(&[
        hello.to_str().unwrap(),
        "-config",
        r#"{"message": "Hi"}"#,
        "-url",
        "https://api.example/orders?page=2",
        "-H",
        "Host: shop.example",
        "-H",
        "x-a: 1",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output),
        "access:\n\
         \x20 kong.request.get_header(\"host\") -> \"shop.example\"\n\
         \x20 kong.response.set_header(\"x-hello-from-rust\", \"Rust says Hi to shop.example\") -> nil\n\
         the service got: GET /orders?page=2\n\
         \x20 Host: shop.example\n\
         \x20 x-a: 1\n\
         the client gets: 200 (the service's answer)\n\
         \x20 x-hello-from-rust: Rust says Hi to shop.example\n"
    );
    assert!(
        output.stderr.is_empty(),
        "nothing but the report: {output:?}"
    );
}

#[test]
fn a_failing_handler_of_a_plugin_that_fails_closed_shows_its_response() {
    let guard = paths::plugin("guard");
    let output = event(&[guard.to_str().unwrap(), "-config", r#"{"mode": "error"}"#]);
    assert_eq!(output.status.code(), Some(1), "a handler failed");
    let report = stdout(&output);
    for line in [
        "  kong.response.exit(503, {\"message\": \"authentication is unavailable\"}) -> nil\n",
        "  the handler failed: guard access handler failed: the introspection endpoint answered 500\n",
        "the client gets: 503 (the plugin ended the request)\n",
        "  {\"message\":\"authentication is unavailable\"}\n",
    ] {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }
    assert!(!report.contains("the service got"), "{report}");
}

#[test]
fn a_running_server_gives_the_same_report_as_the_file() {
    let prefix = Prefix::new();
    prefix.add_plugin("hello", "libhello.so");
    let server = prefix.serve(&[]);
    let args = ["-config", r#"{"message": "Yo"}"#, "-X", "post", "-d", "{}"];
    let socket = server.socket();
    let remote = event(&[&["hello", "-socket", socket.to_str().unwrap()], &args[..]].concat());
    let hello = paths::plugin("hello");
    let local = event(&[&[hello.to_str().unwrap()], &args[..]].concat());
    assert!(remote.status.success(), "{remote:?}");
    assert_eq!(stdout(&remote), stdout(&local));
    assert!(
        stdout(&remote).contains("the service got: POST /\n"),
        "{remote:?}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let hello = paths::plugin("hello");
    let hello = hello.to_str().unwrap();
    for (args, says) in [
        (
            vec![hello, "-H", "no colon"],
            "-H \"no colon\": a header is `Name: value`",
        ),
        (
            vec![hello, "-url", "/orders"],
            "--url /orders: give the whole URL",
        ),
        (vec!["/no/such.so"], "/no/such.so"),
        (
            vec![hello, "-config", "{"],
            "hello: cannot start an instance with {",
        ),
        (
            vec!["hello", "-socket", "/no/such.sock"],
            "cannot connect to /no/such.sock",
        ),
    ] {
        let output = event(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

/// The guide's "One request by hand" command, as written, against the built sample: the
/// endpoint it names cannot be reached here, so the request fails closed.
#[test]
fn the_services_page_command_runs_as_written() {
    let page = std::fs::read_to_string(paths::workspace().join("docs/src/calling-services.md"))
        .expect("the guide's services page");
    let section = page
        .split("## One request by hand")
        .nth(1)
        .expect("the section");
    let block = kong_sim::snippets::blocks(section)
        .into_iter()
        .find(|b| b.info == "sh")
        .expect("its command");
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::copy(
        paths::plugin("token-introspection"),
        release.join("libtoken_introspection.so"),
    )
    .unwrap();
    let bin = paths::pluginhost().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .args(["-euc", &block.code])
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report = stdout(&output);
    assert!(
        report.contains("kong.request.get_header(\"authorization\") -> \"Bearer t-1\"")
            && report.contains("the client gets: 503 (the plugin ended the request)"),
        "{report}"
    );
}
