//! `pluginhost new NAME [DIR]`: writes a plugin crate that builds, tests and passes
//! `check-plugin` as it is. Its lock is the one this host was built from, so the plugin
//! resolves exactly the host's crates; its plugin-abi is the one of the checkout this host was
//! built from, or the one `-plugin-abi` names.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

use crate::cli::NewArgs;

/// The workspace lock pluginhost was built with (empty if it had none).
const HOST_LOCK: &str = include_str!(concat!(env!("OUT_DIR"), "/host-Cargo.lock"));

/// The toolchain pin, filled by [`toolchain_pin`].
const TOOLCHAIN: &str = include_str!("template/rust-toolchain.toml.in");

/// The files of a new plugin crate: path in the crate, template.
const FILES: [(&str, &str); 6] = [
    ("Cargo.toml", include_str!("template/Cargo.toml.in")),
    ("src/lib.rs", include_str!("template/lib.rs.in")),
    ("src/main.rs", include_str!("template/main.rs.in")),
    ("src/tests.rs", include_str!("template/tests.rs.in")),
    ("README.md", include_str!("template/README.md.in")),
    (".gitignore", include_str!("template/gitignore.in")),
];

/// Writes the crate and says on stderr what to do next. Nothing is written unless the
/// directory is new or empty.
pub fn run(args: &NewArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(
            "{} exists and is not empty: nothing was written",
            dir.display()
        );
    }
    let plugin_abi = plugin_abi_path(args.plugin_abi.as_deref())?;
    let pluginhost = std::env::current_exe().context("cannot tell where pluginhost is")?;
    let values = [
        ("{{name}}", args.name.clone()),
        ("{{type}}", type_name(&args.name)),
        ("{{lib}}", args.name.replace('-', "_")),
        ("{{var}}", args.name.replace('-', "_")),
        ("{{plugin_abi}}", toml_string(&plugin_abi)),
        (
            "{{pluginhost_crate}}",
            toml_string(&pluginhost_crate(&plugin_abi)),
        ),
        ("{{pluginhost}}", pluginhost.display().to_string()),
    ];
    for (file, template) in FILES {
        let text = values
            .iter()
            .fold(template.to_owned(), |text, (key, value)| {
                text.replace(key, value)
            });
        write(&dir.join(file), &text)?;
    }
    match toolchain_pin() {
        Some(pin) => write(&dir.join("rust-toolchain.toml"), &pin)?,
        None => tracing::warn!(
            "this pluginhost was built with rustc {}, a pre-release: no rust-toolchain.toml \
             was written",
            crate::version::RUSTC_VERSION
        ),
    }
    if HOST_LOCK.is_empty() {
        tracing::warn!("this pluginhost was built without a Cargo.lock: the crate has none");
    } else {
        write(&dir.join("Cargo.lock"), HOST_LOCK)?;
    }
    // The command's answer, for its user: on stdout, as a dump's is.
    crate::stdout::print(
        format!(
            "wrote plugin {name} in {dir}\n\
             \x20 cargo test               runs its tests\n\
             \x20 cargo build --release    builds target/release/lib{lib}.so\n\
             \x20 {dir}/README.md has the kong.conf lines\n",
            name = args.name,
            dir = dir.display(),
            lib = args.name.replace('-', "_"),
        )
        .as_bytes(),
    )?;
    Ok(())
}

/// The toolchain file naming the release this host was built with; none for a nightly or
/// beta, which rustup names by date, not by the version rustc reports.
fn toolchain_pin() -> Option<String> {
    let release = crate::version::RUSTC_VERSION;
    let stable = !release.is_empty() && release.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    stable.then(|| TOOLCHAIN.replace("{{rustc}}", release))
}

/// A plugin name is the crate name too: lower-case letters, digits, `-` and `_`, starting with
/// a letter (the rule the loader applies to every plugin name, and cargo's for package names).
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        bail!(
            "`{name}` cannot be a plugin name: use lower-case letters, digits, '-' and '_', \
             starting with a letter"
        );
    }
    Ok(())
}

/// plugin-abi's directory: `-plugin-abi`, or the checkout this binary was built from.
fn plugin_abi_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-abi");
    let path = given.unwrap_or(&built_from);
    let manifest = path.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).with_context(|| {
        format!(
            "cannot find plugin-abi at {} ({}): give its directory with -plugin-abi DIR",
            path.display(),
            match given {
                Some(_) => "given with -plugin-abi",
                None => "the checkout this pluginhost was built from",
            }
        )
    })?;
    if !text.contains("name = \"plugin-abi\"") {
        bail!("{} is not plugin-abi's manifest", manifest.display());
    }
    path.canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))
}

/// The pluginhost crate beside plugin-abi in the same checkout, for the executable that serves
/// the plugin alone.
fn pluginhost_crate(plugin_abi: &Path) -> PathBuf {
    plugin_abi
        .parent()
        .map_or_else(|| PathBuf::from("host"), |root| root.join("host"))
}

/// `greeter-v2` → `GreeterV2`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A path as the inside of a TOML basic string.
fn toml_string(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_types_and_bad_names_are_refused() {
        assert_eq!(type_name("greeter-v2"), "GreeterV2");
        assert_eq!(type_name("rate_limit"), "RateLimit");
        for bad in ["", "Hello", "9lives", "a b", "ünï"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name("my-plugin_2").is_ok());
    }

    #[test]
    fn every_placeholder_is_known() {
        let known = [
            "{{name}}",
            "{{type}}",
            "{{lib}}",
            "{{var}}",
            "{{plugin_abi}}",
            "{{pluginhost_crate}}",
            "{{pluginhost}}",
        ];
        for (file, template) in FILES {
            let mut rest = template;
            while let Some(at) = rest.find("{{") {
                let end = rest[at..].find("}}").expect("a closed placeholder") + at + 2;
                assert!(
                    known.contains(&&rest[at..end]),
                    "{file}: {}",
                    &rest[at..end]
                );
                rest = &rest[end..];
            }
        }
    }
}
