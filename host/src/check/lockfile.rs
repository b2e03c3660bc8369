//! `check-plugin -s <Cargo.lock>`: compares what a plugin is built with (its Cargo.lock, and
//! the rustc and glibc given with `-r` and `-l`) with this host, before anything is built.
//!
//! Like `krakend check-plugin`, every difference counts: `-l` names the glibc of the build
//! machine, which must not be newer than the one running here; `-r` the plugin's rustc; and
//! every crate both builds have is compared by version, the crates crossing the boundary by
//! default, all of them with `--all`.

use std::{collections::BTreeMap, io::Write, path::Path};

use anyhow::Context;

use crate::{
    cli::CheckPluginArgs,
    fingerprint::policy::compatible,
    fingerprint::{
        Diff,
        crates::host_crates,
        glibc::{self, GlibcVersion},
        report::{blocks, count_line},
    },
    version,
};

/// Runs the comparison and prints the report; `Ok(true)` when nothing differs.
pub fn run(lock: &Path, args: &CheckPluginArgs) -> anyhow::Result<bool> {
    let text =
        std::fs::read_to_string(lock).with_context(|| format!("cannot read {}", lock.display()))?;
    let plugin =
        plugin_crates(&text).with_context(|| format!("{} is not a Cargo.lock", lock.display()))?;
    let mut toolchain = Vec::new();
    if let Some(libc) = &args.libc {
        let have: GlibcVersion = libc.parse().map_err(anyhow::Error::msg)?;
        if let Some(running) = glibc::running()
            && have > running
        {
            toolchain.push(Diff::new(
                "libc",
                format!("GLIBC_{have}"),
                format!("at most GLIBC_{running} (running here)"),
            ));
        }
    }
    if let Some(rustc) = &args.rustc
        && rustc != version::RUSTC_VERSION
    {
        toolchain.push(Diff::new("rustc", rustc.as_str(), version::RUSTC_VERSION));
    }
    let crates: Vec<(Diff, String)> = host_crates()
        .filter(|c| args.all || c.boundary)
        .filter_map(|c| {
            // Semver-incompatible versions are different crates to cargo: compare each host
            // version with the plugin's compatible one only.
            let versions = plugin.get(c.name)?;
            if versions.iter().any(|v| v == c.version) {
                return None;
            }
            let have = versions.iter().find(|v| compatible(v, c.version))?;
            let fix = format!("cargo update -p {}@{have} --precise {}", c.name, c.version);
            Some((Diff::new(c.name, have.as_str(), c.version), fix))
        })
        .collect();

    let mut out = std::io::stdout().lock();
    out.write_all(blocks(&toolchain).as_bytes())?;
    for (diff, fix) in &crates {
        if args.fix {
            writeln!(out, "{fix}")?;
        } else {
            writeln!(out, "{diff}")?;
        }
    }
    let total = toolchain.len() + crates.len();
    writeln!(out, "{}", count_line(total))?;
    if host_crates().next().is_none() {
        writeln!(
            out,
            "(this pluginhost was built without a Cargo.lock: its crates are unknown, only the toolchain was compared)"
        )?;
    }
    Ok(total == 0)
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
