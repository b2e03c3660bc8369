//! Records the toolchain that builds pluginhost, for `-version` and the plugin checks.

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
    println!(
        "cargo:rustc-env=PLUGINHOST_RUSTC_VERSION={}",
        field("release:")
    );
    println!(
        "cargo:rustc-env=PLUGINHOST_RUSTC_COMMIT={}",
        field("commit-hash:")
    );
    println!(
        "cargo:rustc-env=PLUGINHOST_TARGET={}",
        env::var("TARGET").unwrap_or_else(|_| "unknown".into())
    );
    println!("cargo:rerun-if-env-changed=RUSTC");
}
