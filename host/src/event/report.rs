//! What `pluginhost event` prints: each phase's PDK calls with Kong's answers and the
//! handler's error, then what the service got and what the client gets.

use std::fmt::Write as _;

use plugin_abi::{
    Phase,
    testkit::{Answer, Call, SimulatedKong},
};

/// One phase as it ran.
pub struct Step {
    /// The phase.
    pub phase: Phase,
    /// Its PDK calls and what Kong answered each.
    pub calls: Vec<(Call, Answer)>,
    /// The handler's error, if it failed.
    pub error: Option<String>,
}

/// The report of a request that ran `steps` on `kong`.
pub fn text(steps: &[Step], kong: &SimulatedKong) -> String {
    let mut out = String::new();
    for step in steps {
        let _ = writeln!(out, "{}:", step.phase);
        for (call, answer) in &step.calls {
            let args: Vec<String> = call.args.iter().map(ToString::to_string).collect();
            let answer = match answer {
                Answer::Value(value) => value.to_string(),
                Answer::Nil => "nil".to_owned(),
                Answer::Error(e) => format!("error: {e}"),
            };
            let _ = writeln!(out, "  {}({}) -> {answer}", call.method, args.join(", "));
        }
        if let Some(error) = &step.error {
            let _ = writeln!(out, "  the handler failed: {error}");
        }
    }
    if kong.proxied() {
        let sent = kong.service_request();
        let query = if sent.raw_query.is_empty() {
            String::new()
        } else {
            format!("?{}", sent.raw_query)
        };
        let _ = writeln!(out, "the service got: {} {}{query}", sent.method, sent.path);
        for (name, value) in sent.headers.iter() {
            let _ = writeln!(out, "  {name}: {value}");
        }
    }
    let response = kong.response();
    let by = match response.source {
        "exit" => "the plugin ended the request",
        "service" => "the service's answer",
        other => other,
    };
    let _ = writeln!(out, "the client gets: {} ({by})", response.status);
    for (name, value) in response.headers.iter() {
        let _ = writeln!(out, "  {name}: {value}");
    }
    if !response.body.is_empty() {
        let _ = writeln!(out, "  {}", response.text());
    }
    out
}
