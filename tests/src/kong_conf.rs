//! Kong's reading of the plugin server settings of kong.conf, and how it runs their commands
//! (the protocol's sections on configuration keys and spawning):
//!
//! * each `pluginserver_names` entry is lower-cased, and its keys are
//!   `pluginserver_<name with - as _>_socket|_start_cmd|_query_cmd`;
//! * an unset socket is `/usr/local/kong/<name>.socket` in Kong 2.3 - 3.8 (Kong's prefix is
//!   ignored) and `<prefix>/<name>.socket` from 3.9; an unset start or query command has a
//!   default only if a file exists in `/usr/local/bin`; from 3.9 a missing query command is a
//!   configuration error;
//! * the query command runs through `/bin/sh` in the nginx master (`io.popen`); the start
//!   command runs as `/bin/sh -c "exec <command>"` from a worker, whose environment nginx
//!   scrubbed to `TZ`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use plugin_abi::schema::KongVersion;

/// Kong's default prefix.
const DEFAULT_PREFIX: &str = "/usr/local/kong";

/// The first Kong that puts an unset socket in its own prefix and requires a query command.
const PREFIXED_SOCKETS: KongVersion = KongVersion::new(3, 9, 0);

/// The settings of a kong.conf.
#[derive(Debug, Clone, Default)]
pub struct KongConf(BTreeMap<String, String>);

/// One plugin server entry, as Kong derives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDef {
    /// The entry's name, lower-cased.
    pub name: String,
    /// Where Kong connects.
    pub socket: PathBuf,
    /// What Kong starts, if anything (otherwise the server is managed outside Kong).
    pub start_cmd: Option<String>,
    /// What Kong runs to learn what the server serves.
    pub query_cmd: Option<String>,
}

impl KongConf {
    /// Parses `key = value` lines; `#` starts a comment, blank lines are skipped. A key set
    /// twice is refused: in lines meant to be pasted, it is a mistake.
    pub fn parse(text: &str) -> Result<KongConf, String> {
        let mut settings = BTreeMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("not a kong.conf setting: {line}"))?;
            let key = key.trim().to_owned();
            if settings
                .insert(key.clone(), value.trim().to_owned())
                .is_some()
            {
                return Err(format!("{key} is set twice"));
            }
        }
        Ok(KongConf(settings))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Every key set.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// An array setting (`plugins`, `pluginserver_names`): comma-separated, trimmed.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default()
    }

    /// The server entries Kong release `kong` (2.3 or later) derives, or the configuration
    /// error that stops it.
    pub fn servers(&self, kong: KongVersion) -> Result<Vec<ServerDef>, String> {
        let prefix = self.get("prefix").unwrap_or(DEFAULT_PREFIX);
        let bin = |file: String| {
            let path = Path::new("/usr/local/bin").join(file);
            path.exists().then(|| path.display().to_string())
        };
        let mut servers = Vec::new();
        for name in self.list("pluginserver_names") {
            let name = name.to_lowercase();
            let key = name.replace('-', "_");
            let setting = |what: &str| {
                self.get(&format!("pluginserver_{key}_{what}"))
                    .map(str::to_owned)
            };
            let socket = setting("socket").unwrap_or_else(|| match kong >= PREFIXED_SOCKETS {
                true => format!("{prefix}/{name}.socket"),
                false => format!("{DEFAULT_PREFIX}/{name}.socket"),
            });
            let start_cmd = setting("start_cmd").or_else(|| bin(name.clone()));
            let query_cmd = setting("query_cmd").or_else(|| match kong >= PREFIXED_SOCKETS {
                true => bin(name.clone()).map(|exe| format!("{exe} -dump")),
                false => bin(format!("query_{name}")),
            });
            if query_cmd.is_none() && kong >= PREFIXED_SOCKETS {
                return Err(format!("query_command undefined for pluginserver {name}"));
            }
            servers.push(ServerDef {
                name,
                socket: socket.into(),
                start_cmd,
                query_cmd,
            });
        }
        Ok(servers)
    }
}

/// Runs a query command as Kong does: `io.popen`, through `/bin/sh`.
pub fn run_query(line: &str) -> Output {
    Command::new("/bin/sh")
        .args(["-c", line])
        .output()
        .expect("cannot run /bin/sh")
}

/// The process Kong starts for a start command: `/bin/sh -c "exec <line>"`, with the
/// environment nginx leaves its workers (only `TZ`).
pub fn start_command(line: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command.args(["-c", &format!("exec {line}")]).env_clear();
    if let Some(tz) = std::env::var_os("TZ") {
        command.env("TZ", tz);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_lower_cased_and_keyed_with_underscores() {
        let conf = KongConf::parse(
            "pluginserver_names = My-Plugin, other  # a comment\n\
             pluginserver_my_plugin_socket = /run/my.socket\n\
             pluginserver_my_plugin_query_cmd = /opt/my -dump\n\
             pluginserver_other_query_cmd = /opt/other -dump\n",
        )
        .unwrap();
        let servers = conf.servers(KongVersion::new(3, 9, 0)).unwrap();
        assert_eq!(servers[0].name, "my-plugin");
        assert_eq!(servers[0].socket, Path::new("/run/my.socket"));
        assert_eq!(servers[1].socket, Path::new("/usr/local/kong/other.socket"));
        let old = conf.servers(KongVersion::new(3, 8, 0)).unwrap();
        assert_eq!(old[1].socket, Path::new("/usr/local/kong/other.socket"));
    }

    #[test]
    fn the_default_socket_follows_the_prefix_from_3_9_only() {
        let conf = KongConf::parse(
            "prefix = /srv/kong\npluginserver_names = p\npluginserver_p_query_cmd = /p -dump\n",
        )
        .unwrap();
        let socket = |kong| conf.servers(kong).unwrap()[0].socket.clone();
        assert_eq!(
            socket(KongVersion::new(3, 8, 0)),
            Path::new("/usr/local/kong/p.socket")
        );
        assert_eq!(
            socket(KongVersion::new(3, 9, 0)),
            Path::new("/srv/kong/p.socket")
        );
    }

    #[test]
    fn from_3_9_a_query_command_is_required() {
        let conf = KongConf::parse("pluginserver_names = no-such-server-here\n").unwrap();
        assert!(conf.servers(KongVersion::new(3, 8, 0)).is_ok());
        assert_eq!(
            conf.servers(KongVersion::new(3, 9, 0)).unwrap_err(),
            "query_command undefined for pluginserver no-such-server-here"
        );
    }

    #[test]
    fn commands_run_through_the_shell_and_start_with_a_scrubbed_environment() {
        let out = run_query("printf '%s' 'two words'");
        assert_eq!(out.stdout, b"two words");
        let out = start_command("/usr/bin/env").output().unwrap();
        let env = String::from_utf8(out.stdout).unwrap();
        assert!(!env.contains("HOME="), "{env}");
    }
}
