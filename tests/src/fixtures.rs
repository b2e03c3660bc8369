//! Plugins built wrong, for the compatibility tests. One is really built wrong (`make fixtures`
//! builds `hello` with `panic = "abort"`); the others are copies of a real plugin with a few
//! bytes changed, where no second toolchain or target can be installed: another fingerprint
//! value, another ELF machine, a newer glibc requirement, no fingerprint section, another
//! abi_stable header.

use std::path::PathBuf;

use crate::paths;

/// The `.so` of plugin crate `name` built with the `panic-abort` profile.
pub fn panic_abort_plugin(name: &str) -> PathBuf {
    let path = paths::target_dir()
        .join("panic-abort")
        .join(format!("lib{name}.so"));
    assert!(
        path.exists(),
        "{} is missing: `make fixtures` builds it (`make test` does it for you)",
        path.display()
    );
    path
}

/// Every occurrence of `from` replaced by `to`, which has the same length.
pub fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "a patch must keep the file's layout");
    let mut out = bytes.to_vec();
    let mut found = 0;
    let mut i = 0;
    while let Some(at) = find(&out[i..], from) {
        out[i + at..i + at + to.len()].copy_from_slice(to);
        i += at + to.len();
        found += 1;
    }
    assert!(
        found > 0,
        "{:?} is not in the file",
        String::from_utf8_lossy(from)
    );
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The fingerprint field `key` set to `value` (no longer than the old value; padded with
/// spaces, which the reader trims).
pub fn set_fingerprint(bytes: &[u8], key: &str, value: &str) -> Vec<u8> {
    let start = find(bytes, b"format=1\nabi_crate=").expect("the file has a fingerprint");
    let field = format!("\n{key}=");
    let at = start
        + find(&bytes[start..], field.as_bytes()).unwrap_or_else(|| panic!("no `{key}` field"))
        + field.len();
    let end = at
        + bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("a line end");
    let old_len = end - at;
    assert!(
        value.len() <= old_len,
        "`{value}` is longer than the old value of `{key}`"
    );
    let mut out = bytes.to_vec();
    let padded = format!("{value:<old_len$}");
    out[at..end].copy_from_slice(padded.as_bytes());
    out
}

/// The ELF header's machine set to `machine` (`0xb7` is aarch64).
pub fn set_machine(bytes: &[u8], machine: u16) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[18..20].copy_from_slice(&machine.to_le_bytes());
    out
}

/// The highest two-digit `GLIBC_2.NN` the file names, raised to `GLIBC_2.99`.
pub fn raise_glibc(bytes: &[u8]) -> Vec<u8> {
    let mut highest: Option<Vec<u8>> = None;
    let mut i = 0;
    while let Some(at) = find(&bytes[i..], b"GLIBC_2.") {
        let name = &bytes[i + at..(i + at + 10).min(bytes.len())];
        let two_digits = name.len() == 10 && name[8..].iter().all(u8::is_ascii_digit);
        let ends = bytes
            .get(i + at + 10)
            .is_none_or(|b| !b.is_ascii_digit() && *b != b'.');
        if two_digits && ends && highest.as_deref().is_none_or(|h| name > h) {
            highest = Some(name.to_vec());
        }
        i += at + 8;
    }
    let highest = highest.expect("the file needs a GLIBC_2.NN symbol version");
    replace_all(bytes, &highest, b"GLIBC_2.99")
}

/// The fingerprint section renamed, so the file seems to have none.
pub fn hide_fingerprint(bytes: &[u8]) -> Vec<u8> {
    replace_all(bytes, b".pluginhost_fp", b".pluginhost_xx")
}

/// abi_stable's library header announcing another ABI minor version, which abi_stable's own
/// load check refuses.
pub fn bump_abi_stable_header(bytes: &[u8]) -> Vec<u8> {
    let magic = b"abi stable library for Rust     ";
    let at = find(bytes, magic).expect("the file has an abi_stable header") + magic.len();
    let mut out = bytes.to_vec();
    // AbiHeader: the magic, then abi_major and abi_minor as native-endian u32s.
    let minor = u32::from_le_bytes(out[at + 4..at + 8].try_into().expect("4 bytes"));
    out[at + 4..at + 8].copy_from_slice(&(minor + 1).to_le_bytes());
    out
}
