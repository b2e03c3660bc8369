//! Reading a plugin file before `dlopen`, from its bytes alone: nothing of the plugin runs
//! until the file passed. A file that is not a complete plugin is refused here (`dlopen` of a
//! truncated ELF can fault the whole process: its segments are mapped past the end of the
//! file); for one that is, the facts its build must be judged on are read: the fingerprint
//! section, the ELF machine, and the highest glibc symbol version it needs.

use object::{
    Endianness, Object, ObjectKind, ObjectSection, ObjectSegment, ObjectSymbol,
    read::elf::ElfFile64,
};
use plugin_abi::fingerprint::{Fingerprint, SECTION};

use crate::fingerprint::{PluginFacts, glibc::GlibcVersion};

/// The symbol abi_stable's loader resolves in every plugin.
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Why a file is not a loadable plugin, as seen from its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    /// A zero-length file.
    #[error("the file is empty")]
    Empty,
    /// Not a 64-bit ELF file, or a damaged one.
    #[error("not a 64-bit ELF shared object: {0}")]
    NotElf(String),
    /// An ELF file, but an executable or object file.
    #[error("not a shared object (ELF kind {0})")]
    NotSharedObject(String),
    /// A table the loader reads is damaged.
    #[error("damaged ELF file: {0}")]
    Damaged(String),
    /// A segment reaches past the end of the file: a partial copy.
    #[error(
        "truncated: a segment ends at byte {end} but the file has {len} bytes (a partial copy?)"
    )]
    Truncated {
        /// Where the segment ends.
        end: u64,
        /// The file's length.
        len: u64,
    },
    /// A shared object, but not one built with plugin-abi.
    #[error(
        "not a pluginhost plugin: it exports no `{ROOT_MODULE_SYMBOL}` (export it with #[plugin_abi::plugin])"
    )]
    NoRootModule,
}

/// Checks that `data` is a complete 64-bit ELF shared object that exports the abi_stable root
/// module, and reads the facts of its build.
pub fn inspect(data: &[u8]) -> Result<PluginFacts, PreflightError> {
    if data.is_empty() {
        return Err(PreflightError::Empty);
    }
    let elf =
        ElfFile64::<Endianness>::parse(data).map_err(|e| PreflightError::NotElf(e.to_string()))?;
    if elf.kind() != ObjectKind::Dynamic {
        return Err(PreflightError::NotSharedObject(format!("{:?}", elf.kind())));
    }
    let len = data.len() as u64;
    for segment in elf.segments() {
        let (offset, size) = segment.file_range();
        let end = offset.saturating_add(size);
        if end > len {
            return Err(PreflightError::Truncated { end, len });
        }
    }
    let exports_root = elf
        .dynamic_symbols()
        .any(|s| s.is_definition() && s.name() == Ok(ROOT_MODULE_SYMBOL));
    if !exports_root {
        return Err(PreflightError::NoRootModule);
    }
    Ok(PluginFacts {
        fingerprint: fingerprint(&elf),
        architecture: format!("{:?}", elf.architecture()),
        glibc_needed: highest_glibc(&elf, data)
            .map_err(|e| PreflightError::Damaged(e.to_string()))?,
    })
}

fn fingerprint(elf: &ElfFile64<'_, Endianness>) -> Result<Fingerprint, String> {
    let section = elf.section_by_name(SECTION).ok_or_else(|| {
        format!("none: the file has no {SECTION} section (built with an older plugin-abi?)")
    })?;
    let bytes = section
        .data()
        .map_err(|e| format!("unreadable {SECTION} section: {e}"))?;
    Fingerprint::parse(&String::from_utf8_lossy(bytes))
}

/// The highest `GLIBC_x.y` version in `.gnu.version_r` (the versions of the symbols the file
/// needs from glibc's libraries).
fn highest_glibc(
    elf: &ElfFile64<'_, Endianness>,
    data: &[u8],
) -> object::Result<Option<GlibcVersion>> {
    let endian = elf.endian();
    let sections = elf.elf_section_table();
    let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? else {
        return Ok(None);
    };
    let strings = sections.strings(endian, data, link)?;
    let mut highest = None;
    while let Some((_, mut versions)) = needs.next()? {
        while let Some(version) = versions.next()? {
            let name = String::from_utf8_lossy(version.name(endian, strings)?);
            if let Some(v) = name.strip_prefix("GLIBC_").and_then(|v| v.parse().ok()) {
                highest = highest.max(Some(v));
            }
        }
    }
    Ok(highest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_garbage() {
        assert!(matches!(inspect(b""), Err(PreflightError::Empty)));
        assert!(matches!(
            inspect(b"hello, world"),
            Err(PreflightError::NotElf(_))
        ));
    }

    #[test]
    fn the_host_binary_is_not_a_plugin() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let e = inspect(&exe).unwrap_err();
        assert!(
            matches!(
                e,
                PreflightError::NotSharedObject(_) | PreflightError::NoRootModule
            ),
            "{e}"
        );
    }
}
