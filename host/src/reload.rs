//! Hot reload: the plugins directory is watched while serving, and a plugin file that is
//! added, replaced or removed is acted on once it is complete.
//!
//! notify only wakes the reconciler up; what happens is decided from the directory itself, so
//! a missed or coalesced event changes nothing, and a periodic rescan covers filesystems that
//! send no events at all. A file is acted on once its size, mtime and inode are the same on two
//! passes [`SETTLE`] apart: a deploy by rename is complete at once, a file copied in place is
//! complete when the copy stops writing. A file read while still half-written fails the ELF
//! preflight and is refused; when the writing goes on, its stamp changes and it is read again.

use std::{
    collections::{HashMap, HashSet},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
    time::{Duration, SystemTime},
};

use notify::{RecursiveMode, Watcher};

use crate::loader::trust::Trust;
use crate::{
    host::Host,
    loader,
    registry::{Loaded, log_loaded},
};

/// How long a file must stay unchanged before it is read.
pub const SETTLE: Duration = Duration::from_millis(300);

/// What identifies one written state of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    modified: SystemTime,
    inode: u64,
    device: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            len: meta.len(),
            modified: meta.modified().ok()?,
            inode: meta.ino(),
            device: meta.dev(),
        })
    }
}

/// The stamps of the plugin files of `dir` now: taken before the first load, so that a file
/// changed during it is read again.
pub fn stamps(dir: &Path, trust: Trust) -> HashMap<PathBuf, Stamp> {
    loader::scan(dir, trust)
        .map(|scan| scan.files)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|path| Some((path.clone(), Stamp::of(&path)?)))
        .collect()
}

/// Watches `dir` on a thread of its own (loading is blocking work: file copies and dlopen),
/// starting from the files `handled` already reflects.
pub fn spawn(
    host: Arc<Host>,
    dir: PathBuf,
    handled: HashMap<PathBuf, Stamp>,
    rescan: Duration,
) -> std::io::Result<()> {
    let (wake, woken) = mpsc::channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // A change, or a watcher error (a queue overflow), means "look again". Reading the
        // directory and its files is not a change: each pass would otherwise wake the next one,
        // three times a second for as long as the server runs.
        if event.is_ok_and(|e| matches!(e.kind, notify::EventKind::Access(_))) {
            return;
        }
        let _ = wake.send(());
    })
    .and_then(|mut watcher| {
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        Ok(watcher)
    });
    let watcher = match watcher {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::warn!(
                dir = %dir.display(),
                "cannot watch the plugins directory ({e}); rescanning every {rescan:?} instead"
            );
            None
        }
    };
    let mut reconciler = Reconciler {
        dir,
        handled,
        pending: HashMap::new(),
    };
    std::thread::Builder::new()
        .name("pluginhost-reload".into())
        .spawn(move || {
            let _watcher = watcher;
            let mut settling = true;
            loop {
                let wait = if settling { SETTLE } else { rescan };
                match woken.recv_timeout(wait) {
                    Ok(()) => {
                        // Let a burst of events end, then look once.
                        std::thread::sleep(SETTLE);
                        while woken.try_recv().is_ok() {}
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
                }
                settling = reconciler.pass(&host);
            }
        })?;
    Ok(())
}

/// Brings the registry in line with the directory, one pass at a time.
struct Reconciler {
    dir: PathBuf,
    /// The state each file was in when last acted on.
    handled: HashMap<PathBuf, Stamp>,
    /// Files seen changed, with the stamp they had then, waiting to settle.
    pending: HashMap<PathBuf, Stamp>,
}

impl Reconciler {
    /// One look at the directory. Returns whether files are still settling.
    fn pass(&mut self, host: &Host) -> bool {
        // Entries skipped were reported when the directory was first loaded, and are looked
        // at again on every pass: a symlink that gets its target becomes a file to load.
        let files = match loader::scan(&self.dir, host.registry.trust()) {
            Ok(scan) => scan.files,
            Err(e) => {
                tracing::warn!("{e}");
                return false;
            }
        };
        let stamped: Vec<(PathBuf, Stamp)> = files
            .into_iter()
            .filter_map(|file| Some((file.clone(), Stamp::of(&file)?)))
            .collect();
        let present: HashSet<&PathBuf> = stamped.iter().map(|(file, _)| file).collect();
        // Removals first: a plugin renamed to another file is then free to be served from it.
        let gone: Vec<PathBuf> = self
            .handled
            .keys()
            .filter(|path| !present.contains(path))
            .cloned()
            .collect();
        for path in gone {
            self.handled.remove(&path);
            for name in host.registry.remove_file(&path) {
                tracing::warn!(
                    plugin = name.as_str(),
                    file = %path.display(),
                    "plugin removed: its file was deleted; new instances are refused, started ones serve until Kong closes them"
                );
            }
        }
        self.pending.retain(|path, _| present.contains(path));
        let mut settling = false;
        for (file, stamp) in &stamped {
            if self.handled.get(file) == Some(stamp) {
                self.pending.remove(file);
                continue;
            }
            match self.pending.insert(file.clone(), *stamp) {
                Some(before) if before == *stamp && stamp.len > 0 => {
                    self.pending.remove(file);
                    self.handled.insert(file.clone(), *stamp);
                    act(host, file);
                }
                _ => settling = true,
            }
        }
        settling
    }
}

/// Loads a settled file: a new plugin, a new generation, or a refusal that leaves what served
/// before serving.
fn act(host: &Host, file: &Path) {
    match host.registry.load_file(file) {
        Ok(Loaded::New(plugin)) => log_loaded(&plugin),
        Ok(Loaded::Unchanged(name)) => {
            tracing::debug!(plugin = name.as_str(), file = %file.display(), "unchanged");
        }
        Err(e) => {
            let kept = host
                .registry
                .serving_from(file)
                .map(|p| {
                    format!(
                        " (generation {} of {} keeps serving)",
                        p.generation,
                        p.name()
                    )
                })
                .unwrap_or_default();
            tracing::error!("refused plugin {e}{kept}");
        }
    }
}
