//! Where `cargo build` put pluginhost and the plugins. The Makefile builds them before the
//! tests run (`make test`); a test that cannot find them says so.

use std::path::PathBuf;

/// The target directory: `CARGO_TARGET_DIR`, or `target/` of the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The profile directory the artifacts are in (`PLUGINHOST_PROFILE`, default `debug`).
pub fn profile_dir() -> PathBuf {
    target_dir().join(std::env::var("PLUGINHOST_PROFILE").unwrap_or_else(|_| "debug".into()))
}

fn artifact(file: &str) -> PathBuf {
    let path = profile_dir().join(file);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`make test` does, or `cargo build --workspace`)",
        path.display()
    );
    path
}

/// The pluginhost binary.
pub fn pluginhost() -> PathBuf {
    artifact("pluginhost")
}

/// The `.so` of the plugin crate `name` (`hello` → `libhello.so`; cargo writes dashes of a
/// crate name as underscores).
pub fn plugin(name: &str) -> PathBuf {
    artifact(&format!("lib{}.so", name.replace('-', "_")))
}

/// The executable of the plugin crate `name` serving that one plugin (built with its
/// `embedded` feature, `make embedded`).
pub fn embedded(name: &str) -> PathBuf {
    artifact(name)
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
