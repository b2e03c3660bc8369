//! Records the toolchain and profile compiling plugin-abi. A plugin compiles plugin-abi with its
//! own toolchain and profile, so these facts describe the plugin's build: they go into its
//! fingerprint.

use std::{env, fs, path::PathBuf};

include!("build/common.rs");

fn main() {
    let var = |key: &str| env::var(key).unwrap_or_else(|_| "unknown".into());
    println!(
        "cargo:rustc-env=PLUGIN_ABI_RUSTC_VERSION={}",
        rustc_fact("release:")
    );
    println!(
        "cargo:rustc-env=PLUGIN_ABI_RUSTC_COMMIT={}",
        rustc_fact("commit-hash:")
    );
    println!("cargo:rustc-env=PLUGIN_ABI_TARGET={}", var("TARGET"));
    println!("cargo:rustc-env=PLUGIN_ABI_PROFILE={}", var("PROFILE"));
    println!("cargo:rustc-env=PLUGIN_ABI_OPT_LEVEL={}", var("OPT_LEVEL"));
    println!(
        "cargo:rustc-env=PLUGIN_ABI_SHARED_CRATES={}",
        shared_crates()
    );
}

/// The boundary crates as the plugin's workspace resolved them, `name@version,...`, or
/// `unknown`. A build script is not told which workspace it builds for; the lock is found by
/// walking up from OUT_DIR, which lies in that workspace's `target/` unless CARGO_TARGET_DIR
/// moved it elsewhere.
fn shared_crates() -> String {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
    let Some(lock) = out
        .ancestors()
        .map(|dir| dir.join("Cargo.lock"))
        .find(|path| path.is_file())
    else {
        return "unknown".into();
    };
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = fs::read_to_string(&lock).unwrap_or_default();
    let crates: Vec<String> = boundary_crates(&text)
        .into_iter()
        .map(|(name, version)| format!("{name}@{version}"))
        .collect();
    if crates.is_empty() {
        "unknown".into()
    } else {
        crates.join(",")
    }
}
