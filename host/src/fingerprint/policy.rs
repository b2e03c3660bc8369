//! Which differences between a plugin's build and the host's refuse the plugin, and which only
//! warn.
//!
//! Refused, because soundness is at stake: another target or architecture, `panic = "abort"`
//! (a panic would take the host down), another plugin-abi ABI revision or incompatible
//! plugin-abi / abi_stable versions, a glibc newer than the one running, no fingerprint at all.
//! Warned about, because it is not: another rustc (each cdylib carries its own std, and only
//! abi_stable's checked types cross the boundary), another profile, patch-level version
//! differences. `-strict` refuses those too (KrakenD's rule: everything must match).

use plugin_abi::fingerprint::Fingerprint;

use super::{
    crates::{CrateVersions, host_boundary, parse_shared, versions_text},
    glibc::{self, GlibcVersion},
    report::{self, Diff},
};

/// What this host wants, from its own build.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// `plugin-abi`.
    pub abi_crate: String,
    /// The host's plugin-abi version.
    pub abi_crate_version: String,
    /// The host's ABI revision.
    pub abi_revision: String,
    /// The host's abi_stable version.
    pub abi_stable: String,
    /// The host's rustc.
    pub rustc: String,
    /// Its commit.
    pub rustc_commit: String,
    /// The host's target triple.
    pub target: String,
    /// The host's ELF machine.
    pub architecture: String,
    /// The host's profile.
    pub profile: String,
    /// The glibc running now.
    pub glibc: Option<GlibcVersion>,
    /// The host's boundary crates.
    pub shared: CrateVersions,
}

impl HostFacts {
    /// This process's facts, computed once. plugin-abi was compiled into the host by the host's
    /// own toolchain, so its build constants are the host's.
    pub fn current() -> &'static HostFacts {
        static FACTS: std::sync::OnceLock<HostFacts> = std::sync::OnceLock::new();
        FACTS.get_or_init(HostFacts::compute)
    }

    fn compute() -> Self {
        use plugin_abi::fingerprint as fp;
        HostFacts {
            abi_crate: fp::ABI_CRATE.into(),
            abi_crate_version: fp::ABI_CRATE_VERSION.into(),
            abi_revision: plugin_abi::ABI_REVISION.to_string(),
            abi_stable: fp::ABI_STABLE_VERSION.into(),
            rustc: fp::RUSTC_VERSION.into(),
            rustc_commit: fp::RUSTC_COMMIT.into(),
            target: fp::TARGET.into(),
            architecture: format!("{:?}", super::arch::host_architecture()),
            profile: fp::PROFILE.into(),
            glibc: glibc::running(),
            shared: host_boundary(),
        }
    }
}

/// What a plugin file has, read from its bytes without loading it.
#[derive(Debug, Clone)]
pub struct PluginFacts {
    /// Its fingerprint, or why there is none usable.
    pub fingerprint: Result<Fingerprint, String>,
    /// Its ELF machine.
    pub architecture: String,
    /// The highest `GLIBC_x.y` it needs (`None`: it needs no versioned glibc symbol).
    pub glibc_needed: Option<GlibcVersion>,
}

/// The outcome of comparing a plugin's build with the host's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Differences that refuse the plugin.
    pub refusals: Vec<Diff>,
    /// Differences that only warn.
    pub warnings: Vec<Diff>,
}

impl Verdict {
    /// Whether the plugin may be loaded.
    pub fn accepted(&self) -> bool {
        self.refusals.is_empty()
    }

    /// The refusal, KrakenD style (see [`report::refusal_text`]).
    pub fn refusal_text(&self) -> String {
        report::refusal_text(&self.refusals)
    }
}

/// How strict the checks are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Refuse every difference, as KrakenD does.
    pub strict: bool,
}

impl Policy {
    /// Compares a plugin's facts with the host's.
    pub fn judge(&self, have: &PluginFacts, want: &HostFacts) -> Verdict {
        let mut verdict = Verdict::default();
        let mut refuse = |d: Diff| verdict.refusals.push(d);
        if have.architecture != want.architecture {
            refuse(Diff::new(
                "architecture",
                &have.architecture,
                &want.architecture,
            ));
        }
        if let (Some(needed), Some(running)) = (have.glibc_needed, want.glibc)
            && needed > running
        {
            refuse(Diff::new(
                "glibc",
                format!("GLIBC_{needed} (the newest the plugin needs)"),
                format!(
                    "at most GLIBC_{running} (running here): build the plugin against an older glibc"
                ),
            ));
        }
        let fp = match &have.fingerprint {
            Ok(fp) => fp,
            Err(why) => {
                refuse(Diff::new(
                    "fingerprint",
                    why.as_str(),
                    "a .pluginhost_fp section written by #[plugin_abi::plugin]",
                ));
                return verdict;
            }
        };
        let value = |key: &str| fp.get(key).unwrap_or("(missing)").to_owned();
        let mut warn = Vec::new();
        for (field, want_value) in [
            ("abi_crate", &want.abi_crate),
            ("abi_revision", &want.abi_revision),
            ("target", &want.target),
        ] {
            if value(field) != *want_value {
                refuse(Diff::new(field, value(field), want_value.as_str()));
            }
        }
        if value("panic") != "unwind" {
            refuse(Diff::new(
                "panic",
                value("panic"),
                "unwind (a panic in an abort build would take every plugin down: set panic = \"unwind\" in the plugin's profile)",
            ));
        }
        for (field, krate, want_value) in [
            ("abi_crate_version", "plugin-abi", &want.abi_crate_version),
            ("abi_stable", "abi_stable", &want.abi_stable),
        ] {
            let have_value = value(field);
            if have_value == *want_value {
                continue;
            }
            let diff = Diff::new(field, have_value.as_str(), want_value.as_str());
            if refuses_crate(krate, &have_value, want_value) {
                refuse(diff);
            } else {
                warn.push(diff);
            }
        }
        for (field, want_value) in [
            ("rustc", &want.rustc),
            ("rustc_commit", &want.rustc_commit),
            ("profile", &want.profile),
        ] {
            if value(field) != *want_value {
                warn.push(Diff::new(field, value(field), want_value.as_str()));
            }
        }
        // plugin-abi and abi_stable were judged above; the rest of the shared crates only warn:
        // abi_stable's layout check guards the types that cross.
        let shared = parse_shared(fp.get("shared").unwrap_or(""));
        if shared.is_empty() {
            warn.push(Diff::new(
                "shared crates",
                "unknown: cannot compare (the build found no Cargo.lock to list them from)",
                format!("{} crates as this host has them", want.shared.len()),
            ));
        }
        for (name, have_versions) in &shared {
            if name == "plugin-abi" || name == "abi_stable" {
                continue;
            }
            if let Some(want_versions) = want.shared.get(name)
                && want_versions != have_versions
            {
                warn.push(Diff::new(
                    &format!("crate {name}"),
                    versions_text(have_versions),
                    versions_text(want_versions),
                ));
            }
        }
        if self.strict {
            verdict.refusals.append(&mut warn);
        } else {
            verdict.warnings = warn;
        }
        verdict
    }
}

/// Whether another version of crate `name` refuses a plugin: plugin-abi and abi_stable must be
/// versions cargo calls compatible (abi_stable then checks every layout that crosses); any
/// other shared crate only warns, since abi_stable's layout check guards the types that cross.
pub fn refuses_crate(name: &str, have: &str, want: &str) -> bool {
    matches!(name, "plugin-abi" | "abi_stable") && !compatible(have, want)
}

/// Cargo's compatibility rule: same major, or same minor for `0.y` versions.
pub fn compatible(have: &str, want: &str) -> bool {
    let parts = |v: &str| -> Option<(u64, u64)> {
        let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
        Some((it.next()??, it.next()??))
    };
    match (parts(have), parts(want)) {
        (Some((0, a)), Some((0, b))) => a == b,
        (Some((a, _)), Some((b, _))) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostFacts {
        HostFacts {
            abi_crate: "plugin-abi".into(),
            abi_crate_version: "0.1.0".into(),
            abi_revision: "1".into(),
            abi_stable: "0.11.3".into(),
            rustc: "1.95.0".into(),
            rustc_commit: "abc".into(),
            target: "x86_64-unknown-linux-gnu".into(),
            architecture: "X86_64".into(),
            profile: "release".into(),
            glibc: Some(GlibcVersion {
                major: 2,
                minor: 36,
            }),
            shared: parse_shared("abi_stable@0.11.3,core_extensions@1.5.4"),
        }
    }

    fn plugin(edit: &[(&str, &str)]) -> PluginFacts {
        let mut text = String::from(
            "format=1\nabi_crate=plugin-abi\nabi_crate_version=0.1.0\nabi_revision=1\n\
             abi_stable=0.11.3\nrustc=1.95.0\nrustc_commit=abc\ntarget=x86_64-unknown-linux-gnu\n\
             profile=release\npanic=unwind\nshared=abi_stable@0.11.3,core_extensions@1.5.4\n",
        );
        for (k, v) in edit {
            text.push_str(&format!("{k}={v}\n"));
        }
        PluginFacts {
            fingerprint: Fingerprint::parse(&text),
            architecture: "X86_64".into(),
            glibc_needed: Some(GlibcVersion {
                major: 2,
                minor: 34,
            }),
        }
    }

    fn fields(diffs: &[Diff]) -> Vec<&str> {
        diffs.iter().map(|d| d.field.as_str()).collect()
    }

    #[test]
    fn an_identical_build_passes() {
        assert_eq!(
            Policy::default().judge(&plugin(&[]), &host()),
            Verdict::default()
        );
    }

    #[test]
    fn unknown_shared_crates_cannot_be_compared_and_fail_strict() {
        for unknown in [plugin(&[("shared", "unknown")]), plugin(&[("shared", "")])] {
            let v = Policy::default().judge(&unknown, &host());
            assert!(v.accepted());
            assert_eq!(fields(&v.warnings), ["shared crates"]);
            assert!(v.warnings[0].have.contains("cannot compare"), "{v:?}");
            let strict = Policy { strict: true }.judge(&unknown, &host());
            assert_eq!(fields(&strict.refusals), ["shared crates"]);
        }
    }

    #[test]
    fn soundness_differences_refuse() {
        let v = Policy::default().judge(
            &plugin(&[
                ("panic", "abort"),
                ("abi_revision", "2"),
                ("target", "aarch64-unknown-linux-gnu"),
                ("abi_stable", "0.10.5"),
            ]),
            &host(),
        );
        assert_eq!(
            fields(&v.refusals),
            ["abi_revision", "target", "panic", "abi_stable"]
        );
        assert!(v.refusal_text().starts_with(
            "4 incompatibilities found -- not loading\nabi_revision\n\thave: 2\n\twant: 1\n"
        ));
    }

    #[test]
    fn toolchain_differences_warn_unless_strict() {
        let p = plugin(&[
            ("rustc", "1.97.0-nightly"),
            ("abi_stable", "0.11.2"),
            (
                "shared",
                "abi_stable@0.11.2,core_extensions@1.5.3,only_in_plugin@1.0.0",
            ),
        ]);
        let v = Policy::default().judge(&p, &host());
        assert!(v.accepted());
        assert_eq!(
            fields(&v.warnings),
            ["abi_stable", "rustc", "crate core_extensions"]
        );
        let strict = Policy { strict: true }.judge(&p, &host());
        assert_eq!(
            fields(&strict.refusals),
            ["abi_stable", "rustc", "crate core_extensions"]
        );
    }

    #[test]
    fn glibc_architecture_and_missing_fingerprint() {
        let mut p = plugin(&[]);
        p.glibc_needed = Some(GlibcVersion {
            major: 2,
            minor: 99,
        });
        p.architecture = "Aarch64".into();
        let v = Policy::default().judge(&p, &host());
        assert_eq!(fields(&v.refusals), ["architecture", "glibc"]);
        p.fingerprint = Err("none".into());
        let v = Policy::default().judge(&p, &host());
        assert_eq!(
            fields(&v.refusals),
            ["architecture", "glibc", "fingerprint"]
        );
    }
}
