//! glibc versions: the highest one a plugin needs, and the one running.

use std::{ffi::CStr, fmt, str::FromStr};

/// A glibc version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion {
    /// Major version (2 for every glibc in use).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl FromStr for GlibcVersion {
    type Err = String;

    /// Parses `2.36`, `GLIBC_2.34`, `GLIBC-2.36_(debian-12)` (KrakenD's form) or `2.36.1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .trim()
            .trim_start_matches("GLIBC")
            .trim_start_matches(['_', '-', ' ']);
        let mut parts = digits.split(|c: char| !c.is_ascii_digit());
        let number = |p: Option<&str>| p.and_then(|p| p.parse::<u32>().ok());
        match (number(parts.next()), number(parts.next())) {
            (Some(major), Some(minor)) => Ok(GlibcVersion { major, minor }),
            _ => Err(format!("`{s}` is not a glibc version (like 2.36)")),
        }
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The glibc this process runs with.
pub fn running() -> Option<GlibcVersion> {
    // SAFETY: gnu_get_libc_version takes no arguments and returns a pointer to a static,
    // NUL-terminated string owned by glibc, valid for the life of the process.
    let text = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) };
    text.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        let v = GlibcVersion {
            major: 2,
            minor: 34,
        };
        for s in [
            "2.34",
            "GLIBC_2.34",
            "GLIBC-2.34_(debian-12)",
            "2.34.1",
            " 2.34 ",
        ] {
            assert_eq!(s.parse::<GlibcVersion>(), Ok(v), "{s}");
        }
        assert!("GLIBC_PRIVATE".parse::<GlibcVersion>().is_err());
        assert!("2.4".parse::<GlibcVersion>().unwrap() < "2.34".parse().unwrap());
    }

    #[test]
    fn the_running_glibc_is_known() {
        assert!(running().is_some_and(|v| v.major == 2));
    }
}
