//! `log`: the Rust port of Kong's go-log. In the log phase it appends `kong.log.serialize()` to
//! a file, one JSON document per line.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::PathBuf,
    sync::Mutex,
};

use plugin_abi::{HandlerResult, Kong, Plugin};

/// The plugin's configuration.
#[plugin_abi::config]
pub struct Config {
    /// The file the log lines are appended to.
    pub path: String,
    /// Reopen the file for every line, so that log rotation by renaming is picked up.
    #[serde(default)]
    pub reopen: bool,
}

/// A configured `log` instance.
pub struct Log {
    path: PathBuf,
    reopen: bool,
    /// The open file when `reopen` is off. The lock also keeps lines whole: Kong runs log
    /// events of one instance concurrently, and each line is written by one `write_all` under it.
    file: Mutex<Option<File>>,
}

impl Log {
    fn open(&self) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
    }
}

#[plugin_abi::plugin(name = "log", priority = 1)]
impl Plugin for Log {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.path.is_empty() {
            return Err("config.path must name the file to log to".into());
        }
        Ok(Log {
            path: PathBuf::from(config.path),
            reopen: config.reopen,
            file: Mutex::new(None),
        })
    }

    fn log(&self, kong: &Kong) -> HandlerResult {
        let mut line = kong.log().serialize()?;
        line.push('\n');
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.reopen || guard.is_none() {
            *guard = Some(self.open()?);
        }
        let file = guard.as_mut().expect("opened above");
        file.write_all(line.as_bytes())?;
        if self.reopen {
            *guard = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
