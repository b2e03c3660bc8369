//! `pluginhost event`: one request through one plugin, as Kong would run it, for a plugin
//! author at the command line.
//!
//! Kong's side is plugin-abi's simulated Kong (the test kit's `SimulatedKong`): it answers
//! every PDK call from the request given, proxies to a service that answers `200`, and keeps
//! the response. The plugin is either a file loaded here, through the same checks as serving
//! it ([`local`]), or a plugin of a running server driven over its socket as Kong's MsgPack:1
//! client does ([`remote`]); both are [`runs::Runs`]. What happened is printed by [`report`].

pub mod local;
pub mod remote;
pub mod report;
pub mod runs;

use std::{io::Write, path::Path, process::ExitCode};

use anyhow::{Context, bail};
use plugin_abi::{
    Phase,
    testkit::{SimulatedKong, TestRequest},
};

use self::runs::Runs;
use crate::{cli::EventArgs, fingerprint::Policy};

/// The phases of an HTTP request, in Kong's order.
const REQUEST_PHASES: [Phase; 4] = [Phase::Rewrite, Phase::Access, Phase::Response, Phase::Log];

/// Runs `pluginhost event`; the exit status is 1 when a handler failed.
pub fn run(args: &EventArgs, policy: Policy) -> anyhow::Result<ExitCode> {
    let request = request(args)?;
    let mut plugin: Box<dyn Runs> = match &args.socket {
        Some(socket) => Box::new(remote::Remote::start(socket, &args.plugin, &args.config)?),
        None => Box::new(local::Local::load(
            Path::new(&args.plugin),
            &args.config,
            policy,
        )?),
    };
    let handled = plugin.phases();
    let phases: Vec<Phase> = REQUEST_PHASES
        .into_iter()
        .filter(|p| handled.contains(p))
        .collect();
    if phases.is_empty() {
        bail!(
            "{} has no handler for a phase of an HTTP request",
            args.plugin
        );
    }
    let kong = SimulatedKong::new(request);
    let mut steps = Vec::new();
    let mut failed = false;
    for phase in REQUEST_PHASES {
        let before = kong.exchanges().len();
        let result = if phases.contains(&phase) {
            kong.run_phase_over(phase, |bridge| plugin.run(phase, bridge))
        } else {
            // The request goes on through Kong's own steps (the service, for `response`).
            kong.run_phase_over(phase, |_| Ok(()))
        };
        failed |= result.is_err();
        if phases.contains(&phase) {
            steps.push(report::Step {
                phase,
                calls: kong.exchanges().split_off(before),
                error: result.err().map(|e| e.to_string()),
            });
        }
    }
    let text = report::text(&steps, &kong);
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("cannot write to stdout")?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The request of the command line; a header without `:` is an error.
fn request(args: &EventArgs) -> anyhow::Result<TestRequest> {
    if !args.url.starts_with("http://") && !args.url.starts_with("https://") {
        bail!(
            "--url {}: give the whole URL, http:// or https:// included",
            args.url
        );
    }
    let mut request = TestRequest::new(&args.method.to_ascii_uppercase(), &args.url);
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            bail!("-H {header:?}: a header is `Name: value`");
        };
        let (name, value) = (name.trim(), value.trim());
        // The URL gave a Host; one given here is the one the client sent instead.
        if name.eq_ignore_ascii_case("host") {
            request.headers.set(name, value);
        } else {
            request = request.header(name, value);
        }
    }
    if let Some(body) = &args.body {
        request = request.body(body.as_bytes().to_vec());
    }
    Ok(request)
}
