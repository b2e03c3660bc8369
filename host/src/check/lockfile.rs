//! `check-plugin -s <Cargo.lock>`: compares what a plugin is built with (its Cargo.lock, and
//! the rustc and glibc given with `-r` and `-l`) with this host, before anything is built.
//!
//! Each difference counts as it would when the built plugin is loaded: a glibc newer than the
//! one running here, or a plugin-abi or abi_stable version cargo calls incompatible, refuses
//! the plugin; another rustc and any other crate difference only warn, unless `-strict`
//! (KrakenD's rule: everything must match). The crates crossing the boundary are compared by
//! default, every crate both builds have with `--all`.

use std::{collections::BTreeMap, io::Write, path::Path};

use anyhow::Context;

use crate::{
    cli::CheckPluginArgs,
    fingerprint::{
        Diff, Policy,
        crates::host_crates,
        glibc::{self, GlibcVersion},
        policy::{compatible, refuses_crate},
        report::{blocks, count_line},
    },
    version,
};

/// Runs the comparison and prints the report; `Ok(true)` when the plugin would be loaded
/// (with `-strict`: when nothing differs).
pub fn run(lock: &Path, args: &CheckPluginArgs, policy: Policy) -> anyhow::Result<bool> {
    let text =
        std::fs::read_to_string(lock).with_context(|| format!("cannot read {}", lock.display()))?;
    let plugin =
        plugin_crates(&text).with_context(|| format!("{} is not a Cargo.lock", lock.display()))?;
    let mut refusals = Vec::new();
    let mut warnings = Vec::new();
    let mut fixes = Vec::new();
    if let Some(libc) = &args.libc {
        let have: GlibcVersion = libc.parse().map_err(anyhow::Error::msg)?;
        if let Some(running) = glibc::running()
            && have > running
        {
            refusals.push(Diff::new(
                "libc",
                format!("GLIBC_{have}"),
                format!("at most GLIBC_{running} (running here)"),
            ));
        }
    }
    if let Some(rustc) = &args.rustc
        && rustc != version::RUSTC_VERSION
    {
        warnings.push(Diff::new("rustc", rustc.as_str(), version::RUSTC_VERSION));
    }
    for c in host_crates().filter(|c| args.all || c.boundary) {
        let Some(versions) = plugin.get(c.name) else {
            continue;
        };
        if versions.iter().any(|v| v == c.version) {
            continue;
        }
        // Semver-incompatible versions are different crates to cargo: compare the host's with
        // the plugin's compatible one, except where any other version refuses the plugin.
        let have = match versions.iter().find(|v| compatible(v, c.version)) {
            Some(have) => have,
            None if refuses_crate(c.name, &versions[0], c.version) => &versions[0],
            None => continue,
        };
        let diff = Diff::new(c.name, have.as_str(), c.version);
        fixes.push(format!(
            "cargo update -p {}@{have} --precise {}",
            c.name, c.version
        ));
        if refuses_crate(c.name, have, c.version) {
            refusals.push(diff);
        } else {
            warnings.push(diff);
        }
    }
    if policy.strict {
        refusals.append(&mut warnings);
    }

    let mut out = std::io::stdout().lock();
    if args.fix {
        for fix in &fixes {
            writeln!(out, "{fix}")?;
        }
    } else {
        out.write_all(blocks(&refusals).as_bytes())?;
    }
    writeln!(out, "{}", count_line(refusals.len()))?;
    if !warnings.is_empty() && !args.fix {
        writeln!(
            out,
            "{} that only warn: a plugin built so is loaded, since they do not affect \
             soundness; -strict refuses it",
            match warnings.len() {
                1 => "1 difference".to_owned(),
                n => format!("{n} differences"),
            }
        )?;
        out.write_all(blocks(&warnings).as_bytes())?;
    }
    if host_crates().next().is_none() {
        writeln!(
            out,
            "(this pluginhost was built without a Cargo.lock: its crates are unknown, only the toolchain was compared)"
        )?;
    }
    Ok(refusals.is_empty())
}

/// name → versions for every package of a Cargo.lock.
fn plugin_crates(lock: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let doc: toml::Table = lock.parse()?;
    let packages = doc
        .get("package")
        .and_then(|p| p.as_array())
        .context("no [[package]] entries")?;
    let mut crates: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in packages {
        if let (Some(name), Some(version)) = (
            package.get("name").and_then(|v| v.as_str()),
            package.get("version").and_then(|v| v.as_str()),
        ) {
            crates
                .entry(name.to_owned())
                .or_default()
                .push(version.to_owned());
        }
    }
    Ok(crates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_is_kept() {
        let lock = r#"
version = 4
[[package]]
name = "syn"
version = "1.0.109"
[[package]]
name = "syn"
version = "2.0.9"
[[package]]
name = "abi_stable"
version = "0.11.2"
"#;
        let crates = plugin_crates(lock).unwrap();
        assert_eq!(crates["syn"], ["1.0.109", "2.0.9"]);
        assert_eq!(crates["abi_stable"], ["0.11.2"]);
        assert!(plugin_crates("not = [toml").is_err());
        assert!(plugin_crates("version = 4").is_err());
    }
}
