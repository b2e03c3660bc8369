//! Crate versions: those linked into this host (from its Cargo.lock at build time), and those a
//! plugin's fingerprint lists as shared across the boundary.

use std::collections::{BTreeMap, BTreeSet};

const HOST_CRATES: &str = include_str!(concat!(env!("OUT_DIR"), "/host-crates.txt"));

/// A crate linked into pluginhost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCrate {
    /// Its name.
    pub name: &'static str,
    /// Its version.
    pub version: &'static str,
    /// Whether its code or types cross the plugin boundary (plugin-abi, abi_stable and its
    /// dependencies).
    pub boundary: bool,
}

/// Every crate linked into pluginhost. Empty if it was built without a Cargo.lock.
pub fn host_crates() -> impl Iterator<Item = HostCrate> {
    HOST_CRATES.lines().filter_map(|line| {
        let mut words = line.split_whitespace();
        Some(HostCrate {
            name: words.next()?,
            version: words.next()?,
            boundary: words.next() == Some("boundary"),
        })
    })
}

/// Crate name → the versions of it (a lock can hold several, semver-incompatible ones).
pub type CrateVersions = BTreeMap<String, BTreeSet<String>>;

/// The boundary crates of this host.
pub fn host_boundary() -> CrateVersions {
    let mut crates = CrateVersions::new();
    for c in host_crates().filter(|c| c.boundary) {
        crates
            .entry(c.name.to_owned())
            .or_default()
            .insert(c.version.to_owned());
    }
    crates
}

/// A fingerprint's `shared=` list (`name@version,...`); empty for `unknown`.
pub fn parse_shared(text: &str) -> CrateVersions {
    let mut crates = CrateVersions::new();
    for (name, version) in text
        .split(',')
        .filter_map(|entry| entry.trim().rsplit_once('@'))
    {
        crates
            .entry(name.to_owned())
            .or_default()
            .insert(version.to_owned());
    }
    crates
}

/// Versions as one line: `1.0.109, 3.0.9`.
pub fn versions_text(versions: &BTreeSet<String>) -> String {
    versions
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_knows_its_boundary_crates() {
        let boundary = host_boundary();
        assert!(boundary.contains_key("abi_stable"), "{boundary:?}");
        assert!(boundary.contains_key("plugin-abi"));
        assert!(
            !boundary.contains_key("tokio"),
            "tokio never crosses the boundary"
        );
        assert!(host_crates().any(|c| c.name == "tokio" && !c.boundary));
    }

    #[test]
    fn shared_lists() {
        let m = parse_shared("a@1.0.0,b-c@0.2.1,a@2.0.0");
        assert_eq!(versions_text(&m["a"]), "1.0.0, 2.0.0");
        assert_eq!(versions_text(&m["b-c"]), "0.2.1");
        assert!(parse_shared("unknown").is_empty());
    }
}
