//! Differences between a plugin's build and the host's, written the way KrakenD writes them:
//! the field, then `\thave: <the plugin's value>`, then `\twant: <the host's value>`.

use std::fmt;

/// One field where the plugin differs from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// The field (`panic`, `rustc`, ...).
    pub field: String,
    /// The plugin's value.
    pub have: String,
    /// What the host wants.
    pub want: String,
}

impl Diff {
    /// A difference in `field`.
    pub fn new(field: &str, have: impl Into<String>, want: impl Into<String>) -> Self {
        Diff {
            field: field.to_owned(),
            have: have.into(),
            want: want.into(),
        }
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n\thave: {}\n\twant: {}",
            self.field, self.have, self.want
        )
    }
}

/// The blocks of `diffs`, one after the other, each line ending with a newline.
pub fn blocks(diffs: &[Diff]) -> String {
    diffs.iter().map(|d| format!("{d}\n")).collect()
}

/// A refusal, KrakenD style: `N incompatibilities found -- not loading`, then the blocks.
pub fn refusal_text(refusals: &[Diff]) -> String {
    format!(
        "{} -- not loading\n{}",
        count_line(refusals.len()),
        blocks(refusals).trim_end()
    )
}

/// The warning for a plugin loaded despite build differences.
pub fn warning_text(warnings: &[Diff]) -> String {
    format!(
        "built differently from this host, loaded anyway: these differences do not affect \
         soundness (each cdylib carries its own std and only abi_stable-checked types cross \
         the boundary); -strict refuses them\n{}",
        blocks(warnings).trim_end()
    )
}

/// `1 incompatibility found` / `N incompatibilities found` / `No incompatibilities found!`.
pub fn count_line(n: usize) -> String {
    match n {
        0 => "No incompatibilities found!".into(),
        1 => "1 incompatibility found".into(),
        n => format!("{n} incompatibilities found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn krakend_shape() {
        let d = [
            Diff::new("panic", "abort", "unwind"),
            Diff::new("rustc", "1.94.1", "1.95.0"),
        ];
        assert_eq!(
            blocks(&d),
            "panic\n\thave: abort\n\twant: unwind\nrustc\n\thave: 1.94.1\n\twant: 1.95.0\n"
        );
        assert_eq!(count_line(2), "2 incompatibilities found");
        assert_eq!(count_line(1), "1 incompatibility found");
        assert_eq!(count_line(0), "No incompatibilities found!");
    }
}
