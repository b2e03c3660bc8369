//! `pluginhost check-plugin`: check plugins against this host without serving them.
//!
//! * [`files`] — with plugin files: the preflight and fingerprint checks, then a real load in a
//!   child process, one `[OK]`/`[KO]` line each (as `krakend test-plugin`);
//! * [`lockfile`] — with `-s Cargo.lock`: the plugin's toolchain and crates against this host's,
//!   as have/want blocks or `cargo update` commands (as `krakend check-plugin`).
//!
//! Reports go to stdout; the exit status is 1 when the plugin would be refused, by the same
//! rules (and the same `-strict`) as loading it.

pub mod files;
pub mod lockfile;

use std::process::ExitCode;

use crate::{cli::CheckPluginArgs, fingerprint::Policy};

/// Runs `check-plugin`.
pub fn run(args: &CheckPluginArgs, policy: Policy) -> anyhow::Result<ExitCode> {
    let ok = if args.load_only {
        let [file] = args.files.as_slice() else {
            anyhow::bail!("--load-only takes exactly one file");
        };
        files::load_here(file, policy)
    } else if let Some(lock) = &args.lock {
        lockfile::run(lock, args, policy)?
    } else if !args.files.is_empty() {
        files::run(&args.files, policy)?
    } else {
        anyhow::bail!("check-plugin needs plugin files (*.so), or -s <the plugin's Cargo.lock>");
    };
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
