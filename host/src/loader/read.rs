//! Reading a plugin file into memory, the only way the server reads one: checked for trust,
//! type and size on the opened file itself (so a file swapped in between cannot slip past),
//! and its ELF header checked before the rest is read. A 2 GB file named `x.so` used to be
//! read, hashed and copied whole before the preflight refused it from its first bytes.

use std::{
    fs::File,
    io::Read,
    os::unix::fs::{FileTypeExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use super::{Refusal, trust::Trust};

/// The bytes of one plugin file, read once, with their hash.
pub struct Snapshot {
    /// The file in the plugins directory.
    pub source: PathBuf,
    /// What it held when read.
    pub bytes: Vec<u8>,
    /// Their sha256, lower-case hex; empty until [`Snapshot::hash`].
    pub sha256: String,
}

impl Snapshot {
    /// Computes the bytes' sha256.
    pub fn hash(&mut self) {
        self.sha256 = hex(&Sha256::digest(&self.bytes));
    }

    /// The hash's first 12 hex digits, as logs and cache names show it.
    pub fn short_hash(&self) -> &str {
        &self.sha256[..12]
    }
}

/// The largest plugin file read: release plugins are a few MB, debug builds tens of MB.
pub const MAX_PLUGIN_BYTES: u64 = 512 * 1024 * 1024;

/// The ELF identification and type, all a refusal of a non-plugin needs.
const ELF_HEADER: usize = 18;

/// Reads `source` whole, after the checks above; `hash` computes its sha256 too.
pub fn snapshot(source: &Path, trust: Trust, hash: bool) -> Result<Snapshot, (Refusal, String)> {
    let untrusted = |e| (Refusal::Untrusted, e);
    let file_error = |e| (Refusal::File, e);
    if let Some(dir) = source.parent() {
        trust.check_link(dir, source).map_err(untrusted)?;
    }
    // Non-blocking, so that a FIFO named like a plugin cannot hold the server in open().
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(source)
        .map_err(|e| file_error(format!("cannot read: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| file_error(format!("cannot read: {e}")))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else {
            "not a regular file"
        };
        return Err(file_error(format!("{what}, not a plugin file")));
    }
    trust
        .check("plugin file", source, &meta)
        .map_err(untrusted)?;
    let len = meta.len();
    if len == 0 {
        return Err(file_error("the file is empty".into()));
    }
    if len > MAX_PLUGIN_BYTES {
        return Err(file_error(format!(
            "{len} bytes, more than any plugin (at most {MAX_PLUGIN_BYTES} are read)"
        )));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    (&mut file)
        .take(ELF_HEADER as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| file_error(format!("cannot read: {e}")))?;
    elf_header(&bytes).map_err(file_error)?;
    (&mut file)
        .take(MAX_PLUGIN_BYTES - ELF_HEADER as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| file_error(format!("cannot read: {e}")))?;
    let mut snapshot = Snapshot {
        source: source.to_owned(),
        bytes,
        sha256: String::new(),
    };
    if hash {
        snapshot.hash();
    }
    Ok(snapshot)
}

/// Refuses what is not a 64-bit little- or big-endian ELF shared object from its first bytes.
fn elf_header(head: &[u8]) -> Result<(), String> {
    if head.len() < ELF_HEADER || &head[..4] != b"\x7fELF" {
        return Err("not a 64-bit ELF shared object: no ELF header".into());
    }
    if head[4] != 2 {
        return Err("not a 64-bit ELF shared object: a 32-bit ELF file".into());
    }
    let kind = match head[5] {
        1 => u16::from_le_bytes([head[16], head[17]]),
        2 => u16::from_be_bytes([head[16], head[17]]),
        _ => return Err("not a 64-bit ELF shared object: unknown byte order".into()),
    };
    // ET_DYN: shared objects (and position-independent executables, which the preflight
    // tells apart).
    if kind != 3 {
        return Err(format!("not a shared object (ELF type {kind})"));
    }
    Ok(())
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_and_foreign_files_are_refused_before_they_are_read() {
        let dir = std::env::temp_dir().join(format!("pluginhost-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.so");
        let file = File::create(&big).unwrap();
        // Sparse: no disk, and no read, should it be refused as it must.
        file.set_len(MAX_PLUGIN_BYTES + 1).unwrap();
        let error = snapshot(&big, Trust::STRICT, true).err().unwrap().1;
        assert!(error.contains("more than any plugin"), "{error}");
        file.set_len(1 << 30).unwrap();
        std::fs::write(dir.join("text.so"), b"hello, this is not ELF at all").unwrap();
        let error = snapshot(&dir.join("text.so"), Trust::STRICT, true)
            .err()
            .unwrap()
            .1;
        assert!(error.contains("no ELF header"), "{error}");
        std::fs::create_dir(dir.join("d.so")).unwrap();
        let error = snapshot(&dir.join("d.so"), Trust::STRICT, true)
            .err()
            .unwrap()
            .1;
        assert!(error.contains("a directory"), "{error}");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.join("fifo.so"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let error = snapshot(&dir.join("fifo.so"), Trust::STRICT, true)
            .err()
            .unwrap()
            .1;
        assert!(error.contains("a FIFO"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
