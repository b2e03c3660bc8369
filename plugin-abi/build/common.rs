// Shared by the build scripts of plugin-abi and pluginhost and by plugin-abi's attribute macro
// (through `include!`): the facts of the toolchain compiling, and which crate versions a
// Cargo.lock resolves for a package and everything it depends on.

/// The value of `key` (`release:`, `commit-hash:`) in `rustc -vV` of the compiler cargo uses,
/// `unknown` if it cannot be run. Also asks cargo to rerun when that compiler changes.
#[allow(dead_code)]
fn rustc_fact(key: &str) -> String {
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let verbose = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    verbose
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or("unknown")
        .to_owned()
}

/// The `(name, version)` pairs reachable from `root` in the Cargo.lock text `lock`, `root`
/// included. Platform-specific dependencies are included: a lock lists them for every platform,
/// so two locks compare alike.
#[allow(dead_code)]
fn lock_closure(lock: &str, root: &str) -> std::collections::BTreeSet<(String, String)> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut seen = BTreeSet::new();
    let Ok(doc) = lock.parse::<toml::Table>() else {
        return seen;
    };
    let Some(packages) = doc.get("package").and_then(|p| p.as_array()) else {
        return seen;
    };
    /// A dependency as the lock names it: its name, and its version when several exist.
    type Dependency = (String, Option<String>);
    // name -> [(version, its dependencies)]
    let mut index: BTreeMap<String, Vec<(String, Vec<Dependency>)>> = BTreeMap::new();
    for package in packages {
        let (Some(name), Some(version)) = (
            package.get("name").and_then(|v| v.as_str()),
            package.get("version").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        let deps = package
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|deps| {
                deps.iter()
                    .filter_map(|d| d.as_str())
                    .map(|d| {
                        let mut words = d.split_whitespace();
                        let name = words.next().unwrap_or("").to_owned();
                        (name, words.next().map(str::to_owned))
                    })
                    .collect()
            })
            .unwrap_or_default();
        index
            .entry(name.to_owned())
            .or_default()
            .push((version.to_owned(), deps));
    }
    let mut todo = vec![(root.to_owned(), None::<String>)];
    while let Some((name, version)) = todo.pop() {
        let Some(candidates) = index.get(&name) else { continue };
        for (v, deps) in candidates {
            if version.as_ref().is_some_and(|want| want != v) {
                continue;
            }
            if seen.insert((name.clone(), v.clone())) {
                todo.extend(deps.iter().cloned());
            }
        }
    }
    seen
}

/// The crates whose code or types cross the plugin boundary: plugin-abi itself, and abi_stable
/// with everything it depends on.
#[allow(dead_code)]
fn boundary_crates(lock: &str) -> std::collections::BTreeSet<(String, String)> {
    let mut crates = lock_closure(lock, "abi_stable");
    crates.extend(
        lock_closure(lock, "plugin-abi")
            .into_iter()
            .filter(|(name, _)| name == "plugin-abi"),
    );
    crates
}
