//! Finding and loading plugins: scan a directory, preflight each file, load it with abi_stable,
//! read and validate what it declares.
//!
//! Loading uses `lib_header_from_path(..).init_root_module()`, never `RootModule::load_from*`:
//! those cache one library per module type, so every plugin after the first would silently be
//! the first one again.

pub mod preflight;
pub mod read;
pub mod trust;

use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock, atomic::AtomicU64},
    time::{SystemTime, UNIX_EPOCH},
};

use abi_stable::{
    library::{AbiHeader, LibraryError, lib_header_from_path},
    std_types::RResult,
};
use plugin_abi::{
    ABI_REVISION, PluginInfo,
    ffi::{PluginInstanceBox, PluginModRef},
};

use self::read::Snapshot;
use self::trust::Trust;
use crate::{
    fingerprint::{Diff, HostFacts, Policy, report::refusal_text},
    metrics::{Metrics, PhaseMetrics, PluginMetrics},
};

pub use crate::metrics::Refusal;

/// A plugin whose code is mapped into the process and ready to start instances.
pub struct LoadedPlugin {
    /// What the plugin declared.
    pub info: PluginInfo,
    /// Its file in the plugins directory.
    pub path: PathBuf,
    /// The file actually mapped: a private copy in the cache when serving (see
    /// [`crate::cache`]), `path` itself for dumps and checks.
    pub file: PathBuf,
    /// The sha256 of its bytes, lower-case hex.
    pub sha256: String,
    /// Which version of the plugin this is in this process: 1 for the first loaded, one more
    /// for each new version dropped in while serving.
    pub generation: u32,
    /// Its root module.
    module: PluginModRef,
    /// The file's modification time, unix seconds.
    pub mod_time: u64,
    /// When it was loaded, unix seconds.
    pub load_time: u64,
    /// When an instance was last started or closed, unix seconds (0: never).
    pub last_start_instance: AtomicU64,
    /// See `last_start_instance`.
    pub last_close_instance: AtomicU64,
    /// Build differences it was loaded despite (see [`crate::fingerprint::policy`]).
    pub warnings: Vec<Diff>,
    /// How long its handlers hold a thread, and so where they run (see [`crate::pace`]).
    pub pace: crate::pace::PluginPace,
    /// What it counts, shared with its other generations (see [`crate::metrics`]).
    metrics: OnceLock<Arc<PluginMetrics>>,
}

impl LoadedPlugin {
    /// The name Kong knows the plugin by.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The metrics and its counters, when metrics are on.
    #[inline]
    pub fn counters(&self) -> Option<(&'static Metrics, &Arc<PluginMetrics>)> {
        let metrics = crate::metrics::get()?;
        let counters = self
            .metrics
            .get_or_init(|| metrics.plugin(self.name(), &self.info.phases));
        Some((metrics, counters))
    }

    /// Its counters, when metrics are on.
    pub fn metrics(&self) -> Option<&Arc<PluginMetrics>> {
        self.counters().map(|(_, counters)| counters)
    }

    /// The counters of its `phase` handler, when metrics are on.
    #[inline]
    pub fn phase_metrics(&self, phase: plugin_abi::Phase) -> Option<&PhaseMetrics> {
        let (metrics, counters) = self.counters()?;
        Some(counters.phase(metrics, phase))
    }

    /// Builds an instance from Kong's config JSON. The error is the plugin's own text
    /// (`Decoding config: ...` when the JSON does not fit its config type).
    pub fn new_instance(&self, config_json: &str) -> Result<PluginInstanceBox, String> {
        let _running = crate::supervisor::crash::running(self.name());
        match (self.module.new_instance())(config_json.into()) {
            RResult::ROk(instance) => Ok(instance),
            RResult::RErr(e) => Err(e.into_string()),
        }
    }
}

/// Why one file was not loaded. Displayed as `<file>: <reason>`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
    /// Why, in a word.
    pub kind: Refusal,
}

impl LoadError {
    pub(crate) fn new(path: &Path, kind: Refusal, reason: impl Into<String>) -> Self {
        LoadError {
            path: path.to_owned(),
            reason: reason.into(),
            kind,
        }
    }

    /// A refusal of [`read::snapshot`].
    pub(crate) fn read(path: &Path, (kind, reason): (Refusal, String)) -> Self {
        LoadError::new(path, kind, reason)
    }
}

/// The plugin files of a directory, and the entries named like one that are not.
#[derive(Debug, Default)]
pub struct Scan {
    /// Files to load, sorted by name so that duplicates resolve the same way every time.
    pub files: Vec<PathBuf>,
    /// Entries that cannot be one (a dangling symlink, a directory), each with why.
    pub skipped: Vec<LoadError>,
}

/// The `*.so` entries of `dir`, hidden ones excluded (deploy temp names). An entry that is
/// not a file is skipped with its reason and never stops the others; only a directory that
/// cannot be listed, or that `trust` refuses, is an error.
pub fn scan(dir: &Path, trust: Trust) -> Result<Scan, LoadError> {
    let meta = fs::metadata(dir).map_err(|e| {
        LoadError::new(
            dir,
            Refusal::File,
            format!("cannot list the plugins directory: {e}"),
        )
    })?;
    trust
        .check("the plugins directory", dir, &meta)
        .map_err(|e| LoadError::new(dir, Refusal::Untrusted, e))?;
    let entries = fs::read_dir(dir).map_err(|e| {
        LoadError::new(
            dir,
            Refusal::File,
            format!("cannot list the plugins directory: {e}"),
        )
    })?;
    let mut scan = Scan::default();
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".so") {
            continue;
        }
        let path = entry.path();
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => scan.files.push(path),
            Ok(_) => scan
                .skipped
                .push(LoadError::new(&path, Refusal::File, "not a regular file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => scan
                .skipped
                .push(LoadError::new(&path, Refusal::File, "a symlink to nothing")),
            Err(e) => scan.skipped.push(LoadError::new(
                &path,
                Refusal::File,
                format!("cannot read: {e}"),
            )),
        }
    }
    scan.files.sort();
    scan.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(scan)
}

/// Checks a plugin file without loading it: preflight, then the fingerprint policy. Returns
/// the differences the plugin may be loaded despite. The trust rules are not applied: they are
/// about where a file is installed, and `check-plugin` looks at files before they are.
pub fn check(path: &Path, policy: &Policy) -> Result<Vec<Diff>, LoadError> {
    let snapshot =
        read::snapshot(path, Trust::ANYWHERE, false).map_err(|e| LoadError::read(path, e))?;
    check_bytes(path, &snapshot.bytes, policy)
}

/// [`check`] on bytes already read; `path` names them in errors.
pub fn check_bytes(path: &Path, data: &[u8], policy: &Policy) -> Result<Vec<Diff>, LoadError> {
    let facts = preflight::inspect(data)
        .map_err(|e| LoadError::new(path, Refusal::Build, e.to_string()))?;
    let verdict = policy.judge(&facts, HostFacts::current());
    if !verdict.accepted() {
        return Err(LoadError::new(path, Refusal::Build, verdict.refusal_text()));
    }
    Ok(verdict.warnings)
}

/// Checks and loads one plugin file, mapping the file itself. No code of the plugin runs
/// unless it passed [`read::snapshot`] and [`check`]. For dumps, whose process ends soon after.
pub fn load(path: &Path, policy: &Policy, trust: Trust) -> Result<LoadedPlugin, LoadError> {
    let snapshot = read::snapshot(path, trust, false).map_err(|e| LoadError::read(path, e))?;
    let warnings = check_bytes(path, &snapshot.bytes, policy)?;
    load_checked(&snapshot, path, warnings)
}

/// Loads `snapshot`, which passed [`check_bytes`] with `warnings`, from `copy`, a file holding
/// exactly its bytes. Errors name the snapshot's source file.
pub fn load_checked(
    snapshot: &Snapshot,
    copy: &Path,
    warnings: Vec<Diff>,
) -> Result<LoadedPlugin, LoadError> {
    let path = snapshot.source.as_path();
    let module = lib_header_from_path(copy)
        .and_then(|header| header.init_root_module::<PluginModRef>())
        .map_err(|e| LoadError::new(path, Refusal::Load, explain(&e)))?;
    let mut plugin = from_module(module, path, warnings)?;
    plugin.file = copy.to_owned();
    plugin.sha256 = snapshot.sha256.clone();
    Ok(plugin)
}

/// The plugin this program was built with: its root module, linked in (one plugin per
/// process, see [`crate::embedded`]). No file is read and no build checked: plugin and server
/// are one build. `exe` is the program's file, which stands for the plugin's.
pub fn builtin(module: PluginModRef, exe: &Path) -> Result<LoadedPlugin, LoadError> {
    from_module(module, exe, Vec::new())
}

/// A plugin from its root module, loaded from or standing for the file `path`.
fn from_module(
    module: PluginModRef,
    path: &Path,
    warnings: Vec<Diff>,
) -> Result<LoadedPlugin, LoadError> {
    if module.abi_revision() != ABI_REVISION {
        return Err(LoadError::new(
            path,
            Refusal::Load,
            format!(
                "built for plugin ABI revision {}, this host speaks revision {ABI_REVISION}: rebuild the plugin against this host's plugin-abi",
                module.abi_revision()
            ),
        ));
    }
    let info = match (module.info())() {
        RResult::ROk(json) => serde_json::from_str::<PluginInfo>(&json).map_err(|e| {
            LoadError::new(
                path,
                Refusal::Invalid,
                format!("unreadable plugin info: {e}"),
            )
        })?,
        RResult::RErr(e) => return Err(LoadError::new(path, Refusal::Invalid, e.into_string())),
    };
    validate(&info).map_err(|reason| LoadError::new(path, Refusal::Invalid, reason))?;

    let mod_time = fs::metadata(path)
        .and_then(|m| m.modified())
        .map(unix_seconds)
        .unwrap_or(0);
    let pace = crate::pace::PluginPace::declaring(&info.calls_services);
    Ok(LoadedPlugin {
        info,
        path: path.to_owned(),
        file: path.to_owned(),
        sha256: String::new(),
        generation: 1,
        module,
        mod_time,
        load_time: unix_seconds(SystemTime::now()),
        last_start_instance: AtomicU64::new(0),
        last_close_instance: AtomicU64::new(0),
        warnings,
        pace,
        metrics: OnceLock::new(),
    })
}

/// Kong rejects (3.x) or misbehaves on (2.x) plugin infos outside these rules.
fn validate(info: &PluginInfo) -> Result<(), String> {
    let name_ok = !info.name.is_empty()
        && info
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(format!(
            "invalid plugin name {:?}: use lower-case letters, digits, '-' and '_'",
            info.name
        ));
    }
    // Kong 3.0 and later refuse both at `kong start`; older ones take them but sort or
    // report them wrongly.
    plugin_abi::schema::check_plugin_version(&info.name, &info.version)?;
    if info.priority.unsigned_abs() > plugin_abi::schema::MAX_PRIORITY {
        return Err(format!(
            "invalid priority {}: Kong's priorities are integers within ±2^53",
            info.priority
        ));
    }
    if info.phases.is_empty() {
        return Err("the plugin handles no phase".into());
    }
    // The plugin's own plugin-abi checks this too; a plugin built with another release of
    // it, or with a hand-written info, is checked here before Kong refuses it at start.
    plugin_abi::schema::check_for_every_kong(&info.schema)
}

/// abi_stable's load errors in words an operator can act on. Its own texts are multi-line, and
/// its layout report can run to thousands of lines (logged whole at debug level).
fn explain(e: &LibraryError) -> String {
    let refusal = |diff: Diff| refusal_text(&[diff]);
    match e {
        LibraryError::OpenError { err, .. } => format!("dlopen failed: {err}"),
        LibraryError::GetSymbolError { symbol, err, .. } => format!(
            "symbol {} not found: {err}",
            String::from_utf8_lossy(symbol)
        ),
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => refusal(Diff::new(
            "plugin-abi (abi_stable's version check)",
            actual_version.to_string(),
            expected_version.to_string(),
        )),
        LibraryError::InvalidAbiHeader(header) => {
            let want = AbiHeader::VALUE;
            refusal(Diff::new(
                "abi_stable library header",
                format!("ABI {}.{}", header.abi_major, header.abi_minor),
                format!(
                    "ABI {}.{}: rebuild the plugin against this host's plugin-abi",
                    want.abi_major, want.abi_minor
                ),
            ))
        }
        LibraryError::AbiInstability(report) => {
            let text = report.to_string();
            tracing::debug!(report = %text, "abi_stable's full layout report");
            format!(
                "abi_stable's layout check refused it: {}",
                summarize_layout(&text)
            )
        }
        LibraryError::Many(errors) => errors.iter().map(explain).collect::<Vec<_>>().join("; "),
        other => one_line(&other.to_string()),
    }
}

/// The `Error:`/`Expected:`/`Found:` lines of abi_stable's layout report, on one line; the
/// whole report on one line if it has none.
fn summarize_layout(text: &str) -> String {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .peekable();
    let mut kept = Vec::new();
    while let Some(line) = lines.next() {
        if line.starts_with("Error:") {
            kept.push(line.to_owned());
            for label in ["Expected:", "Found:"] {
                if lines.peek() == Some(&label) {
                    lines.next();
                    if let Some(value) = lines.next() {
                        kept.push(format!("{label} {value}"));
                    }
                }
            }
        }
    }
    if kept.is_empty() {
        one_line(text)
    } else {
        kept.join("; ")
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Seconds since the unix epoch (0 for times before it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_abi::Phase;

    fn info(name: &str, version: &str) -> PluginInfo {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            priority: 1,
            phases: vec![Phase::Access],
            schema: serde_json::json!({"name": name, "fields": [
                {"config": {"type": "record", "fields": []}}
            ]}),
            fail_closed: None,
            calls_services: Vec::new(),
        }
    }

    #[test]
    fn layout_reports_keep_their_error_lines() {
        let report = "Compared <this>\n  To <other>\n1 error(s)inside:\n\
                      Error:too many fields\nExpected:\n    5\nFound:\n    4\n  more\n";
        assert_eq!(
            summarize_layout(report),
            "Error:too many fields; Expected: 5; Found: 4"
        );
        assert_eq!(summarize_layout("  a\n  b  "), "a b");
    }

    #[test]
    fn schemas_kong_would_refuse_are_refused() {
        let mut bad = info("p", "1.0.0");
        bad.schema["fields"][0]["config"]["fields"] =
            serde_json::json!([{"n": {"type": "integer", "nilable": true}}]);
        let e = validate(&bad).unwrap_err();
        assert!(e.contains("config.n: unknown attribute `nilable`"), "{e}");
    }

    #[test]
    fn kong_rules_for_names_and_versions() {
        assert!(validate(&info("key-auth", "1.2.3")).is_ok());
        // Kong 3.0 and later refuse anything but x.y.z at `kong start`.
        let e = validate(&info("hello", "1")).unwrap_err();
        assert!(
            e.contains("VERSION field does not follow the \"x.y.z\" format"),
            "{e}"
        );
        assert!(validate(&info("x", "1.0")).is_err());
        assert!(validate(&info("Hello", "1.0.0")).is_err());
        assert!(validate(&info("", "1.0.0")).is_err());
        assert!(validate(&info("x", "1.2.3.4")).is_err());
        assert!(validate(&info("x", "1.2.3-beta")).is_err());
        let mut none = info("x", "1.0.0");
        none.phases.clear();
        assert!(validate(&none).is_err());
        let mut huge = info("x", "1.0.0");
        huge.priority = 1 << 60;
        assert!(validate(&huge).unwrap_err().contains("invalid priority"));
    }
}
