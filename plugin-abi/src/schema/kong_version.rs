//! Which Kong release reads a schema: what it accepts changes from release to release.

use std::{fmt, str::FromStr};

/// A Kong release, `major.minor.patch`, as far as the schema and plugin rules depend on it.
///
/// Enterprise releases have a fourth component (`3.4.3.5`); it never changes the rules and is
/// ignored. Releases older than [`KongVersion::OLDEST`] are refused: pluginhost does not serve
/// them.
///
/// ```
/// use plugin_abi::schema::KongVersion;
/// let kong: KongVersion = "3.4".parse().unwrap();
/// assert_eq!(kong, KongVersion::new(3, 4, 0));
/// assert!(kong.accepts_descriptions());
/// assert!(!KongVersion::OLDEST.accepts_descriptions());
/// assert!("1.5.0".parse::<KongVersion>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KongVersion {
    /// The major version.
    pub major: u32,
    /// The minor version.
    pub minor: u32,
    /// The patch version.
    pub patch: u32,
}

impl KongVersion {
    /// The oldest Kong that runs external plugins through a plugin server (2.0.0): what a schema
    /// is checked against when nothing says which Kong reads it.
    ///
    /// ```
    /// assert_eq!(plugin_abi::schema::KongVersion::OLDEST.to_string(), "2.0.0");
    /// ```
    pub const OLDEST: KongVersion = KongVersion::new(2, 0, 0);

    /// The first release whose MetaSchema knows a field's `description` (3.4.0); every older
    /// one refuses a schema that has one.
    ///
    /// ```
    /// assert_eq!(plugin_abi::schema::KongVersion::DESCRIPTIONS.to_string(), "3.4.0");
    /// ```
    pub const DESCRIPTIONS: KongVersion = KongVersion::new(3, 4, 0);

    /// The first release that refuses a plugin whose `VERSION` is not `x.y.z` or whose
    /// `PRIORITY` is not an integer (3.0.0).
    ///
    /// ```
    /// assert_eq!(plugin_abi::schema::KongVersion::STRICT_INFO.to_string(), "3.0.0");
    /// ```
    pub const STRICT_INFO: KongVersion = KongVersion::new(3, 0, 0);

    /// The release `major.minor.patch`.
    ///
    /// ```
    /// let v = plugin_abi::schema::KongVersion::new(3, 9, 1);
    /// assert_eq!(v.to_string(), "3.9.1");
    /// ```
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KongVersion {
            major,
            minor,
            patch,
        }
    }

    /// Whether this release's MetaSchema accepts `description` on a field.
    ///
    /// ```
    /// use plugin_abi::schema::KongVersion;
    /// assert!(!KongVersion::new(3, 3, 1).accepts_descriptions());
    /// assert!(KongVersion::new(3, 4, 0).accepts_descriptions());
    /// ```
    pub fn accepts_descriptions(self) -> bool {
        self >= Self::DESCRIPTIONS
    }
}

impl fmt::Display for KongVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why a text is not a Kong release pluginhost serves.
///
/// ```
/// let e = "3.x".parse::<plugin_abi::schema::KongVersion>().unwrap_err();
/// assert!(e.to_string().contains("`3.x` is not a Kong version"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KongVersionError {
    /// Not `MAJOR.MINOR[.PATCH[.BUILD]]`.
    #[error("`{0}` is not a Kong version (expected MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 3.4.0)")]
    Malformed(String),
    /// A release before plugin servers existed.
    #[error("Kong {0} is too old: plugin servers exist from Kong 2.0.0 on")]
    TooOld(KongVersion),
}

impl FromStr for KongVersion {
    type Err = KongVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || KongVersionError::Malformed(s.to_owned());
        let parts: Vec<u32> = s
            .trim()
            .split('.')
            .map(|part| part.parse().map_err(|_| malformed()))
            .collect::<Result<_, _>>()?;
        let version = match parts[..] {
            [major, minor] => KongVersion::new(major, minor, 0),
            [major, minor, patch] | [major, minor, patch, _] => {
                KongVersion::new(major, minor, patch)
            }
            _ => return Err(malformed()),
        };
        if version < KongVersion::OLDEST {
            return Err(KongVersionError::TooOld(version));
        }
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_two_to_four_components() {
        assert_eq!("3.9.3".parse(), Ok(KongVersion::new(3, 9, 3)));
        assert_eq!("3.4.3.5".parse(), Ok(KongVersion::new(3, 4, 3)));
        assert_eq!(" 2.8 ".parse(), Ok(KongVersion::new(2, 8, 0)));
        for bad in ["", "3", "3.", "v3.4", "3.4.0.1.2", "3.-1"] {
            assert!(bad.parse::<KongVersion>().is_err(), "{bad}");
        }
        assert_eq!(
            "1.5.1".parse::<KongVersion>(),
            Err(KongVersionError::TooOld(KongVersion::new(1, 5, 1)))
        );
    }

    #[test]
    fn releases_order_numerically() {
        assert!(KongVersion::new(3, 10, 0) > KongVersion::new(3, 9, 3));
        assert!(KongVersion::new(2, 8, 4) < KongVersion::STRICT_INFO);
    }
}
