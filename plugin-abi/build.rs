//! Records the toolchain and profile compiling plugin-abi. A plugin compiles plugin-abi with its
//! own toolchain and profile, so these facts describe the plugin's build: they go into its
//! fingerprint.

use std::{env, process::Command};

fn main() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let verbose = Command::new(&rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let field = |key: &str| {
        verbose
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or("unknown")
            .to_owned()
    };
    let var = |key: &str| env::var(key).unwrap_or_else(|_| "unknown".into());
    println!(
        "cargo:rustc-env=PLUGIN_ABI_RUSTC_VERSION={}",
        field("release:")
    );
    println!(
        "cargo:rustc-env=PLUGIN_ABI_RUSTC_COMMIT={}",
        field("commit-hash:")
    );
    println!("cargo:rustc-env=PLUGIN_ABI_TARGET={}", var("TARGET"));
    println!("cargo:rustc-env=PLUGIN_ABI_PROFILE={}", var("PROFILE"));
    println!("cargo:rustc-env=PLUGIN_ABI_OPT_LEVEL={}", var("OPT_LEVEL"));
    println!("cargo:rerun-if-env-changed=RUSTC");
}
