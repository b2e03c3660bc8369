//! Which files may be loaded: a plugin runs as the server's user, so a file that another user
//! could have written is another user's code. The rules are sshd's StrictModes: the plugins
//! directory, every plugin file and the cache must be owned by this user or root and writable
//! by nobody else; a symlink in the plugins directory may point only at a file inside it.
//! `-allow-insecure-files` lifts them all.

use std::{
    fs::Metadata,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
};

/// The trust rules in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trust {
    /// Whether files others could write are used anyway (`-allow-insecure-files`).
    pub allow_insecure: bool,
}

impl Trust {
    /// The default rules.
    pub const STRICT: Trust = Trust {
        allow_insecure: false,
    };

    /// No rule: for files looked at where they were built, not where they are installed.
    pub const ANYWHERE: Trust = Trust {
        allow_insecure: true,
    };

    /// Whether `meta`, of the `what` at `path`, is safe to use; the error says why not and how
    /// to fix it.
    pub fn check(&self, what: &str, path: &Path, meta: &Metadata) -> Result<(), String> {
        if self.allow_insecure {
            return Ok(());
        }
        let me = rustix::process::geteuid().as_raw();
        let owner = meta.uid();
        if owner != me && owner != 0 {
            return Err(format!(
                "{what} {} is owned by uid {owner}, not by this user (uid {me}) or root: another \
                 user's code would run as this one (chown it, or -allow-insecure-files)",
                path.display()
            ));
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            let who = if mode & 0o002 != 0 {
                "every user"
            } else {
                "its group"
            };
            return Err(format!(
                "{what} {} has mode {mode:04o}: {who} can write it (chmod go-w it, or \
                 -allow-insecure-files)",
                path.display()
            ));
        }
        Ok(())
    }

    /// Whether the entry `entry` of the plugins directory `dir`, if a symlink, points inside
    /// `dir`.
    pub fn check_link(&self, dir: &Path, entry: &Path) -> Result<(), String> {
        let is_link = std::fs::symlink_metadata(entry)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if !is_link || self.allow_insecure {
            return Ok(());
        }
        let target = entry
            .canonicalize()
            .map_err(|e| format!("a symlink that cannot be followed: {e}"))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("cannot resolve the plugins directory: {e}"))?;
        if target.parent() != Some(dir.as_path()) {
            return Err(format!(
                "a symlink to {}, outside the plugins directory (copy the file in, or \
                 -allow-insecure-files)",
                target.display()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_others_can_write_are_refused_unless_allowed() {
        let dir = std::env::temp_dir().join(format!("pluginhost-trust-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.so");
        std::fs::write(&file, b"x").unwrap();
        let check = |trust: Trust| trust.check("plugin file", &file, &file.metadata().unwrap());
        for (mode, ok) in [(0o644, true), (0o755, true), (0o664, false), (0o646, false)] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(check(Trust::STRICT).is_ok(), ok, "{mode:o}");
            assert!(
                check(Trust {
                    allow_insecure: true
                })
                .is_ok()
            );
        }
        let error = check(Trust::STRICT).unwrap_err();
        assert!(
            error.contains("mode 0646: every user can write it"),
            "{error}"
        );

        let outside =
            std::env::temp_dir().join(format!("pluginhost-trust-out-{}.so", std::process::id()));
        std::fs::write(&outside, b"x").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("out.so")).unwrap();
        std::os::unix::fs::symlink(&file, dir.join("in.so")).unwrap();
        assert!(Trust::STRICT.check_link(&dir, &dir.join("in.so")).is_ok());
        assert!(Trust::STRICT.check_link(&dir, &dir.join("p.so")).is_ok());
        let error = Trust::STRICT
            .check_link(&dir, &dir.join("out.so"))
            .unwrap_err();
        assert!(error.contains("outside the plugins directory"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_file(&outside).unwrap();
    }
}
