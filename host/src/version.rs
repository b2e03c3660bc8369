//! `pluginhost -version`: what this build is, and so what a plugin must match.

/// The rustc that built pluginhost.
pub const RUSTC_VERSION: &str = env!("PLUGINHOST_RUSTC_VERSION");
/// Its commit hash.
pub const RUSTC_COMMIT: &str = env!("PLUGINHOST_RUSTC_COMMIT");
/// The target triple pluginhost was built for.
pub const TARGET: &str = env!("PLUGINHOST_TARGET");

/// The `-version` text. Kong 2.0–2.2 match `Runtime Version: go(.+)\n$` on it, so that line
/// comes last and starts with `go`.
pub fn text() -> String {
    format!(
        "Version: {version}\n\
         Target: {TARGET}\n\
         Plugin ABI: plugin-abi {abi_crate}, ABI revision {revision}\n\
         Runtime Version: go-pluginserver-compatible, rustc {RUSTC_VERSION} ({RUSTC_COMMIT})\n",
        version = env!("CARGO_PKG_VERSION"),
        abi_crate = env!("CARGO_PKG_VERSION"),
        revision = plugin_abi::ABI_REVISION,
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
    }
}
