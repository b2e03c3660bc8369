//! Records what `-version` and `check-plugin` report about this build: the toolchain, the
//! glibc of the build machine (KrakenD's `GLIBC-2.36_(debian-12)` form), and the versions of
//! the crates linked into pluginhost, from the workspace's Cargo.lock.

use std::{env, fs, path::PathBuf, process::Command};

fn main() {
    println!(
        "cargo:rustc-env=PLUGINHOST_RUSTC_VERSION={}",
        rustc_fact("release:")
    );
    println!(
        "cargo:rustc-env=PLUGINHOST_RUSTC_COMMIT={}",
        rustc_fact("commit-hash:")
    );
    println!(
        "cargo:rustc-env=PLUGINHOST_TARGET={}",
        env::var("TARGET").unwrap_or_else(|_| "unknown".into())
    );
    println!("cargo:rustc-env=PLUGINHOST_BUILD_GLIBC={}", build_glibc());

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let lock = manifest.join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let lock_text = fs::read_to_string(&lock).unwrap_or_default();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    fs::write(out_dir.join("host-crates.txt"), linked_crates(&lock_text))
        .expect("cannot write host-crates.txt");
    // `pluginhost new` starts every plugin from the lock the host was built with.
    fs::write(out_dir.join("host-Cargo.lock"), &lock_text).expect("cannot write host-Cargo.lock");
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default()
}

/// `GLIBC-<version>_(<os id>-<os version>)`, or `unknown` off glibc.
fn build_glibc() -> String {
    let getconf = output("getconf", &["GNU_LIBC_VERSION"]);
    let Some(version) = getconf.split_whitespace().nth(1) else {
        return "unknown".into();
    };
    let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let key = |k: &str| {
        release
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim_matches('"').to_owned())
    };
    match (key("ID="), key("VERSION_ID=")) {
        (Some(id), Some(v)) => format!("GLIBC-{version}_({id}-{v})"),
        _ => format!("GLIBC-{version}"),
    }
}

include!("../plugin-abi/build/common.rs");

/// `name version boundary|linked` lines for every crate pluginhost links (the dependency
/// closure of the `pluginhost` package); `boundary` marks the crates whose code or types cross
/// the plugin boundary.
fn linked_crates(lock: &str) -> String {
    let boundary = boundary_crates(lock);
    lock_closure(lock, "pluginhost")
        .into_iter()
        .filter(|(name, _)| name != "pluginhost")
        .map(|pair| {
            let kind = if boundary.contains(&pair) {
                "boundary"
            } else {
                "linked"
            };
            format!("{} {} {kind}\n", pair.0, pair.1)
        })
        .collect()
}
