//! Checks made on a plugin file before `dlopen`, from its bytes alone: nothing of the plugin
//! runs until they pass. `dlopen` of a truncated ELF can fault the whole process (its segments
//! are mapped past the end of the file), so a file that fails here never gets that far.

use object::{Architecture, Object, ObjectKind, ObjectSegment, ObjectSymbol, read::elf::ElfFile64};

/// The symbol abi_stable's loader resolves in every plugin.
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// The architecture this host was built for, as the ELF header names it.
pub fn host_architecture() -> Architecture {
    match std::env::consts::ARCH {
        "x86_64" => Architecture::X86_64,
        "aarch64" => Architecture::Aarch64,
        "riscv64" => Architecture::Riscv64,
        "powerpc64" => Architecture::PowerPc64,
        "s390x" => Architecture::S390x,
        "loongarch64" => Architecture::LoongArch64,
        _ => Architecture::Unknown,
    }
}

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
    /// Built for another machine.
    #[error("built for the {have} architecture, this host is {want}")]
    WrongArchitecture {
        /// The plugin's.
        have: String,
        /// The host's.
        want: String,
    },
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
        "not a pluginhost plugin: it exports no `{ROOT_MODULE_SYMBOL}` (build it with plugin_abi::export_plugin!)"
    )]
    NoRootModule,
}

/// Checks that `data` is a complete 64-bit ELF shared object for this machine that exports the
/// abi_stable root module.
pub fn check(data: &[u8]) -> Result<(), PreflightError> {
    if data.is_empty() {
        return Err(PreflightError::Empty);
    }
    let elf = ElfFile64::<object::Endianness>::parse(data)
        .map_err(|e| PreflightError::NotElf(e.to_string()))?;
    if elf.kind() != ObjectKind::Dynamic {
        return Err(PreflightError::NotSharedObject(format!("{:?}", elf.kind())));
    }
    let want = host_architecture();
    if elf.architecture() != want {
        return Err(PreflightError::WrongArchitecture {
            have: format!("{:?}", elf.architecture()),
            want: format!("{want:?}"),
        });
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_garbage() {
        assert_eq!(check(b""), Err(PreflightError::Empty));
        assert!(matches!(
            check(b"hello, world"),
            Err(PreflightError::NotElf(_))
        ));
    }

    #[test]
    fn the_host_binary_is_not_a_plugin() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let e = check(&exe).unwrap_err();
        assert!(
            matches!(
                e,
                PreflightError::NotSharedObject(_) | PreflightError::NoRootModule
            ),
            "{e}"
        );
    }
}
