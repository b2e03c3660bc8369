//! The build fingerprint every plugin carries, so that a host can check a plugin's build before
//! running any of its code.
//!
//! [`plugin`](macro@crate::plugin) writes it as `key=value` lines into the plugin's own
//! ELF section [`SECTION`]; the host reads that section from the file, without `dlopen`.
//! The facts come from three places: the toolchain and profile that compiled plugin-abi as part
//! of the plugin's build ([`COMMON`]), `cfg!` tests expanded in the plugin crate itself (the
//! panic strategy: `CARGO_CFG_PANIC` in a build script does not see profile settings), and what
//! the plugin declares (its name and version).

use std::collections::BTreeMap;

/// The ELF section holding the fingerprint.
///
/// ```
/// assert_eq!(plugin_abi::fingerprint::SECTION, ".pluginhost_fp");
/// ```
pub const SECTION: &str = ".pluginhost_fp";

/// The version of the fingerprint's own format.
///
/// ```
/// assert_eq!(plugin_abi::fingerprint::FORMAT, "1");
/// ```
pub const FORMAT: &str = "1";

/// The name of the ABI crate.
///
/// ```
/// assert_eq!(plugin_abi::fingerprint::ABI_CRATE, "plugin-abi");
/// ```
pub const ABI_CRATE: &str = env!("CARGO_PKG_NAME");

/// The version of plugin-abi the plugin was built with.
///
/// ```
/// assert!(!plugin_abi::fingerprint::ABI_CRATE_VERSION.is_empty());
/// ```
pub const ABI_CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of abi_stable plugin-abi is pinned to (`=` in its manifest, so it is exact;
/// a unit test holds this to abi_stable's own `ABI_STABLE_VERSION`).
///
/// ```
/// assert!(plugin_abi::fingerprint::ABI_STABLE_VERSION.starts_with("0.11."));
/// ```
pub const ABI_STABLE_VERSION: &str = "0.11.3";

/// The rustc version that compiled plugin-abi (and so the plugin).
///
/// ```
/// assert!(plugin_abi::fingerprint::RUSTC_VERSION.contains('.'));
/// ```
pub const RUSTC_VERSION: &str = env!("PLUGIN_ABI_RUSTC_VERSION");

/// That rustc's commit hash.
///
/// ```
/// let _ = plugin_abi::fingerprint::RUSTC_COMMIT;
/// ```
pub const RUSTC_COMMIT: &str = env!("PLUGIN_ABI_RUSTC_COMMIT");

/// The target triple.
///
/// ```
/// assert!(plugin_abi::fingerprint::TARGET.contains('-'));
/// ```
pub const TARGET: &str = env!("PLUGIN_ABI_TARGET");

/// The cargo profile (`debug` or `release`).
///
/// ```
/// let _ = plugin_abi::fingerprint::PROFILE;
/// ```
pub const PROFILE: &str = env!("PLUGIN_ABI_PROFILE");

/// The optimization level.
///
/// ```
/// let _ = plugin_abi::fingerprint::OPT_LEVEL;
/// ```
pub const OPT_LEVEL: &str = env!("PLUGIN_ABI_OPT_LEVEL");

/// The lines of the fingerprint fixed when plugin-abi is compiled.
///
/// ```
/// assert!(plugin_abi::fingerprint::COMMON.starts_with("format=1\n"));
/// ```
pub const COMMON: &str = const_format::concatcp!(
    "format=",
    FORMAT,
    "\nabi_crate=",
    ABI_CRATE,
    "\nabi_crate_version=",
    ABI_CRATE_VERSION,
    "\nabi_revision=",
    crate::ABI_REVISION,
    "\nabi_stable=",
    ABI_STABLE_VERSION,
    "\nrustc=",
    RUSTC_VERSION,
    "\nrustc_commit=",
    RUSTC_COMMIT,
    "\ntarget=",
    TARGET,
    "\nprofile=",
    PROFILE,
    "\nopt_level=",
    OPT_LEVEL,
    "\n",
);

/// The crates whose code or types cross the plugin boundary (plugin-abi, abi_stable and its
/// dependencies) as the Cargo.lock above plugin-abi's build directory resolved them:
/// `name@version,...`, or `unknown` when there is none (`CARGO_TARGET_DIR` outside the
/// workspace). A plugin's own fingerprint takes them from the lock of the plugin crate's
/// workspace instead, which [`plugin`](macro@crate::plugin) finds from the crate's directory;
/// this value is its fallback.
///
/// ```
/// let shared = plugin_abi::fingerprint::SHARED_CRATES;
/// assert!(shared == "unknown" || shared.contains("abi_stable@"));
/// ```
pub const SHARED_CRATES: &str = env!("PLUGIN_ABI_SHARED_CRATES");

/// A parsed fingerprint: its `key=value` lines. Values are trimmed; blank lines and lines
/// without `=` are ignored.
///
/// ```
/// use plugin_abi::fingerprint::Fingerprint;
/// let fp = Fingerprint::parse("format=1\npanic=unwind\n").unwrap();
/// assert_eq!(fp.get("panic"), Some("unwind"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    fields: BTreeMap<String, String>,
}

impl Fingerprint {
    /// Parses fingerprint text. Fails on a format this crate does not know.
    ///
    /// ```
    /// use plugin_abi::fingerprint::Fingerprint;
    /// assert!(Fingerprint::parse("format=99\n").is_err());
    /// assert!(Fingerprint::parse("panic=unwind\n").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Fingerprint, String> {
        let fields: BTreeMap<String, String> = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        match fields.get("format").map(String::as_str) {
            Some(FORMAT) => Ok(Fingerprint { fields }),
            Some(other) => Err(format!(
                "fingerprint format {other} is unknown to this host (it reads format {FORMAT})"
            )),
            None => Err("the fingerprint has no format line".into()),
        }
    }

    /// The value of `key`.
    ///
    /// ```
    /// use plugin_abi::fingerprint::Fingerprint;
    /// let fp = Fingerprint::parse("format=1\nplugin=hello").unwrap();
    /// assert_eq!(fp.get("plugin"), Some("hello"));
    /// assert_eq!(fp.get("nope"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// Every field, sorted by key.
    ///
    /// ```
    /// use plugin_abi::fingerprint::Fingerprint;
    /// let fp = Fingerprint::parse("format=1\na=b").unwrap();
    /// assert_eq!(fp.fields().count(), 2);
    /// ```
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Copies `text` into an array of its exact length, for the fingerprint static.
///
/// ```
/// const A: [u8; 2] = plugin_abi::fingerprint::text_array("hi");
/// assert_eq!(&A, b"hi");
/// ```
pub const fn text_array<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    assert!(
        bytes.len() == N,
        "the array length must be the text's length"
    );
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_abi_stable_version_is_the_one_compiled_in() {
        let compiled = abi_stable::ABI_STABLE_VERSION.version;
        assert_eq!(
            ABI_STABLE_VERSION,
            compiled.as_str(),
            "update ABI_STABLE_VERSION with the pin"
        );
    }

    #[test]
    fn common_lines_parse() {
        let fp = Fingerprint::parse(COMMON).unwrap();
        assert_eq!(fp.get("abi_crate"), Some("plugin-abi"));
        assert_eq!(fp.get("abi_revision"), Some("2"));
        assert_eq!(fp.get("target"), Some(TARGET));
    }
}
