//! The private, content-addressed copies plugins are loaded from.
//!
//! pluginhost never maps a file of the plugins directory. Overwriting a mapped `.so` in place
//! crashes the process at its next call into it, and glibc's `dlopen` returns the library
//! already loaded from the same path, so a new version at an old path would never load.
//! Each version is therefore copied to `<cache>/<stem>-<sha256 prefix>.so`, read-only, and
//! loaded from there: a path is never reused for other bytes, and nobody writes to it.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

/// A cache directory of plugin copies.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
}

/// The bytes of one plugin file, read once, with their hash.
pub struct Snapshot {
    /// The file in the plugins directory.
    pub source: PathBuf,
    /// What it held when read.
    pub bytes: Vec<u8>,
    /// Their sha256, lower-case hex; empty when read with [`Snapshot::read_unhashed`].
    pub sha256: String,
}

impl Snapshot {
    /// Reads `source` whole. Later writes to it cannot change what this snapshot loads.
    pub fn read(source: &Path) -> std::io::Result<Snapshot> {
        let mut snapshot = Snapshot::read_unhashed(source)?;
        snapshot.sha256 = hex(&Sha256::digest(&snapshot.bytes));
        Ok(snapshot)
    }

    /// Reads `source` whole without hashing it, for dumps and checks: they never compare
    /// versions, and hashing is most of their time (10 MB per plugin with debug lines).
    pub fn read_unhashed(source: &Path) -> std::io::Result<Snapshot> {
        Ok(Snapshot {
            source: source.to_owned(),
            bytes: fs::read(source)?,
            sha256: String::new(),
        })
    }

    /// The hash's first 12 hex digits, as logs and cache names show it.
    pub fn short_hash(&self) -> &str {
        &self.sha256[..12]
    }
}

impl Cache {
    /// Opens (creating it, mode 0700) the cache directory `dir`, and empties it: no process
    /// reads these copies after loading them (a mapped file outlives its unlinking).
    pub fn open(dir: &Path) -> std::io::Result<Cache> {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "so" || e == "tmp") {
                let _ = fs::remove_file(path);
            }
        }
        Ok(Cache {
            dir: dir.to_owned(),
        })
    }

    /// Writes `snapshot` into the cache (once per content) and returns the copy's path.
    pub fn store(&self, snapshot: &Snapshot) -> std::io::Result<PathBuf> {
        let stem = snapshot
            .source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let target = self
            .dir
            .join(format!("{stem}-{}.so", snapshot.short_hash()));
        if target.exists() {
            return Ok(target);
        }
        let temp = self
            .dir
            .join(format!(".{stem}-{}.tmp", snapshot.short_hash()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o444)
            .open(&temp)?;
        file.write_all(&snapshot.bytes)?;
        file.sync_all()?;
        fs::rename(&temp, &target)?;
        Ok(target)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_named_by_content_and_read_only() {
        let dir = tempfile_dir();
        let source = dir.join("p.so");
        fs::write(&source, b"one").unwrap();
        let cache = Cache::open(&dir.join("cache")).unwrap();
        let first = Snapshot::read(&source).unwrap();
        let a = cache.store(&first).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o444
        );
        fs::write(&source, b"two").unwrap();
        let b = cache.store(&Snapshot::read(&source).unwrap()).unwrap();
        assert_ne!(a, b);
        assert_eq!(cache.store(&first).unwrap(), a, "same bytes, same copy");
        assert!(a.file_name().unwrap().to_string_lossy().starts_with("p-"));
        fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pluginhost-cache-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
