//! The crates a plugin shares with the host, for its fingerprint, from the plugin's own
//! Cargo.lock. The macro runs while the plugin crate compiles, with that crate's
//! `CARGO_MANIFEST_DIR`: the lock lies there or in a directory above (a workspace), wherever
//! `CARGO_TARGET_DIR` puts the build.

use std::{env, fs, path::PathBuf};

// A link to plugin-abi's build/common.rs, so that the packaged crate carries its own copy.
include!("build_common.rs");

/// `name@version,...` of the boundary crates, or `None` when no lock is found or it lists none.
pub fn crates() -> Option<String> {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR")?);
    let lock = dir
        .ancestors()
        .map(|d| d.join("Cargo.lock"))
        .find(|p| p.is_file())?;
    let text = fs::read_to_string(lock).ok()?;
    let crates: Vec<String> = boundary_crates(&text)
        .into_iter()
        .map(|(name, version)| format!("{name}@{version}"))
        .collect();
    (!crates.is_empty()).then(|| crates.join(","))
}
