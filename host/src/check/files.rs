//! `check-plugin <file>...`: each file gets the checks the server makes before `dlopen`, then,
//! if they pass, a real load. The load runs in a child process (this same binary with
//! `--load-only`): a load cannot be undone, and a broken plugin's constructor could crash the
//! caller, which then still reports it and goes on with the next file.

use std::{
    io::Write,
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use crate::loader::trust::Trust;
use crate::{
    fingerprint::{Diff, Policy, report::warning_text},
    loader,
};

/// Checks every file and prints the report; `Ok(true)` when all passed.
pub fn run(files: &[PathBuf], policy: Policy) -> anyhow::Result<bool> {
    let started = Instant::now();
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for file in files {
        match check_one(file, policy) {
            Ok(warnings) if warnings.is_empty() => writeln!(out, "[OK] {}", file.display())?,
            Ok(warnings) => {
                writeln!(
                    out,
                    "[WARN] {}: {}",
                    file.display(),
                    warning_text(&warnings)
                )?;
            }
            Err(reason) => {
                failed += 1;
                writeln!(out, "[KO] {}: {reason}", file.display())?;
            }
        }
    }
    let tested = files.len();
    let took = started.elapsed();
    if failed == 0 {
        writeln!(out, "[OK] {tested} tested plugin(s) in {took:.1?}")?;
    } else {
        writeln!(
            out,
            "[KO] {tested} tested plugin(s) in {took:.1?}\n{failed} plugin(s) failed."
        )?;
    }
    Ok(failed == 0)
}

/// The checks of one file; the differences it passed with, or why it failed.
fn check_one(file: &Path, policy: Policy) -> Result<Vec<Diff>, String> {
    let warnings = loader::check(file, &policy).map_err(|e| e.reason)?;
    let mut command = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    command.args(["check-plugin", "--load-only"]);
    if policy.strict {
        command.arg("--strict");
    }
    let output = command
        .arg(file)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start the loading process: {e}"))?;
    if output.status.success() {
        return Ok(warnings);
    }
    let reason = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Err(match output.status.signal() {
        Some(signal) => format!("loading it crashed the process (signal {signal})"),
        None if reason.is_empty() => format!("loading failed ({})", output.status),
        None => reason,
    })
}

/// Loads one file in this process and prints why it failed, if it did (the child's side).
pub fn load_here(file: &Path, policy: Policy) -> bool {
    match loader::load(file, &policy, Trust::ANYWHERE) {
        Ok(_) => true,
        Err(e) => {
            let _ = writeln!(std::io::stdout(), "{}", e.reason);
            false
        }
    }
}
