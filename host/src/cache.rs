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
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use crate::loader::{read::Snapshot, trust::Trust};

/// A cache directory of plugin copies.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Opens (creating it, mode 0700) the cache directory `dir`, and empties it when `empty`:
    /// no process reads these copies after loading them (a mapped file outlives its
    /// unlinking), but a live server being taken over may be writing one, so it is left full
    /// then. An existing `dir` must be a directory, not a symlink, that `trust` accepts: what
    /// is in it gets deleted and loaded.
    pub fn open(dir: &Path, trust: Trust, empty: bool) -> Result<Cache, String> {
        match fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| format!("cannot create it: {e}"))?;
            }
            Err(e) => return Err(format!("cannot read it: {e}")),
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(
                    "it is a symlink; the cache is never followed elsewhere (remove the link)"
                        .into(),
                );
            }
            Ok(meta) if !meta.is_dir() => {
                return Err("it is not a directory (remove it)".into());
            }
            Ok(meta) => trust.check("the plugin cache", dir, &meta)?,
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make it private: {e}"))?;
        let entries = fs::read_dir(dir).map_err(|e| format!("cannot list it: {e}"))?;
        for entry in entries.flatten().filter(|_| empty) {
            let path = entry.path();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && path.extension().is_some_and(|e| e == "so" || e == "tmp") {
                let _ = fs::remove_file(path);
            }
        }
        Ok(Cache {
            dir: dir.to_owned(),
        })
    }

    /// Removes a copy [`Cache::store`] created for a plugin that was then refused.
    pub fn discard(&self, copy: &Path) {
        if copy.starts_with(&self.dir) {
            let _ = fs::remove_file(copy);
        }
    }

    /// Writes `snapshot` into the cache (once per content) and returns the copy's path, and
    /// whether this call created it.
    pub fn store(&self, snapshot: &Snapshot) -> std::io::Result<(PathBuf, bool)> {
        let stem = snapshot
            .source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let target = self
            .dir
            .join(format!("{stem}-{}.so", snapshot.short_hash()));
        if target.exists() {
            return Ok((target, false));
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
        // No fsync: the copy only has to outlive the machine's uptime (an engine's crash
        // leaves it in the page cache for the next engine), and every start of a server that
        // finds none live empties the cache; syncing an 11 MB plugin cost 10 ms of each start.
        file.write_all(&snapshot.bytes)?;
        fs::rename(&temp, &target)?;
        Ok((target, true))
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(source: &Path, bytes: &[u8]) -> Snapshot {
        let mut snapshot = Snapshot {
            source: source.to_owned(),
            bytes: bytes.to_vec(),
            sha256: String::new(),
        };
        snapshot.hash();
        snapshot
    }

    #[test]
    fn copies_are_named_by_content_and_read_only() {
        let dir = tempfile_dir("copies");
        let source = dir.join("p.so");
        let cache = Cache::open(&dir.join("cache"), Trust::STRICT, true).unwrap();
        let first = snapshot(&source, b"one");
        let (a, created) = cache.store(&first).unwrap();
        assert!(created);
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o444
        );
        let (b, _) = cache.store(&snapshot(&source, b"two")).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            cache.store(&first).unwrap(),
            (a.clone(), false),
            "same bytes, same copy"
        );
        assert!(a.file_name().unwrap().to_string_lossy().starts_with("p-"));
        cache.discard(&b);
        assert!(!b.exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_cache_that_is_a_symlink_or_writable_by_others_is_refused_untouched() {
        let dir = tempfile_dir("trust");
        let target = dir.join("elsewhere");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep.so"), b"x").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("cache")).unwrap();
        let error = Cache::open(&dir.join("cache"), Trust::STRICT, true).unwrap_err();
        assert!(error.contains("symlink"), "{error}");
        assert!(
            target.join("keep.so").exists(),
            "nothing deleted through the link"
        );
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o755,
            "nor chmodded"
        );
        fs::set_permissions(&target, fs::Permissions::from_mode(0o777)).unwrap();
        let error = Cache::open(&target, Trust::STRICT, true).unwrap_err();
        assert!(error.contains("every user can write it"), "{error}");
        assert!(target.join("keep.so").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pluginhost-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
