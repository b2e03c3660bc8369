//! `pluginhost -version`: what this build is, and so what a plugin must match (the analogue of
//! `krakend version`).

use crate::fingerprint::{HostFacts, glibc};

/// The rustc that built pluginhost.
pub const RUSTC_VERSION: &str = env!("PLUGINHOST_RUSTC_VERSION");
/// Its commit hash.
pub const RUSTC_COMMIT: &str = env!("PLUGINHOST_RUSTC_COMMIT");
/// The target triple pluginhost was built for.
pub const TARGET: &str = env!("PLUGINHOST_TARGET");
/// The glibc of the machine pluginhost was built on, `GLIBC-2.36_(debian-12)`.
pub const BUILD_GLIBC: &str = env!("PLUGINHOST_BUILD_GLIBC");

/// The `-version` text. Kong 2.0–2.2 match `Runtime Version: go(.+)\n$` on it, so that line
/// comes last and starts with `go`.
pub fn text() -> String {
    let facts = HostFacts::current();
    let running = glibc::running().map_or_else(|| "unknown".into(), |v| format!("GLIBC_{v}"));
    format!(
        "Version: {version}\n\
         Rust Version: {RUSTC_VERSION} ({RUSTC_COMMIT})\n\
         Target: {TARGET}\n\
         Plugin ABI: {abi_crate} {abi_version}, ABI revision {revision}\n\
         abi_stable Version: {abi_stable}\n\
         Panic Strategy: {panic} (plugins must be built with panic = \"unwind\")\n\
         Glibc Version (build): {BUILD_GLIBC}\n\
         Glibc Version (running): {running} (plugins may need at most this)\n\
         Runtime Version: go-pluginserver-compatible, rustc {RUSTC_VERSION}\n",
        version = env!("CARGO_PKG_VERSION"),
        abi_crate = facts.abi_crate,
        abi_version = facts.abi_crate_version,
        revision = facts.abi_revision,
        abi_stable = facts.abi_stable,
        panic = if cfg!(panic = "unwind") {
            "unwind"
        } else {
            "abort"
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn kong_2_runtime_version_line_is_last() {
        let text = super::text();
        assert!(text.starts_with("Version: "));
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("Runtime Version: go"), "{last}");
        assert!(text.ends_with('\n'));
        for line in [
            "Rust Version: ",
            "Target: ",
            "Plugin ABI: plugin-abi ",
            "abi_stable Version: 0.11",
            "Panic Strategy: unwind",
            "Glibc Version (build): ",
            "Glibc Version (running): GLIBC_2.",
        ] {
            assert!(text.contains(line), "no `{line}` in\n{text}");
        }
    }
}
