//! Command-line flags, accepted the way go-pluginserver's Go `flag` package accepts them.
//!
//! Kong starts plugin servers with single-dash long flags (`-kong-prefix /usr/local/kong`,
//! `-dump-all-plugins`), and Go also takes `--flag` and `-flag=value`. clap speaks GNU style,
//! so [`normalize`] rewrites Go style into it before parsing.

use std::{ffi::OsString, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use plugin_abi::schema::KongVersion;

/// pluginhost serves Rust plugins (`cdylib` files built with plugin-abi) to Kong Gateway over
/// one Unix socket, speaking Kong's MsgPack-RPC plugin protocol as go-pluginserver does.
#[derive(Debug, Parser)]
#[command(name = "pluginhost", disable_version_flag = true, max_term_width = 100)]
pub struct Cli {
    /// A command other than serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The flags of every server.
    #[command(flatten)]
    pub serve: ServeFlags,

    /// Where the plugins are.
    #[command(flatten)]
    pub plugins: PluginsDirectory,

    /// Print one plugin's info as a MessagePack map and exit (Kong 2.x legacy mode).
    #[arg(long, value_name = "NAME")]
    pub dump_plugin_info: Option<String>,

    /// Print one plugin's info as a -dump document holding only that plugin, and exit
    /// (the query command of a Kong >= 3.9 pluginserver_names entry).
    #[arg(long, value_name = "NAME")]
    pub dump_plugin_info_json: Option<String>,

    /// Print every plugin's info as a JSON array and exit (Kong 2.3 - 3.8 query command).
    #[arg(long)]
    pub dump_all_plugins: bool,

    /// Print {"Protocol":"MsgPack:1","Plugins":[...]} JSON and exit (embedded-server style).
    #[arg(long)]
    pub dump: bool,

    /// Print the version and what a plugin's build must match, and exit.
    #[arg(long)]
    pub version: bool,

    /// Refuse plugins whose build differs from the host's in any way, not only where soundness
    /// is at stake (another rustc, profile or patch version then refuses the plugin).
    #[arg(long, global = true)]
    pub strict: bool,

    /// How many versions of one plugin a process loads while serving; past it, a new version
    /// is refused with a request to restart (old code is never unloaded). 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_generations: u32,

    /// Seconds between full rescans of the plugins directory, besides file events.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = positive_seconds)]
    pub rescan_interval: f64,

    /// Load plugin files, and use a plugins directory and cache, that other users could have
    /// written (group- or world-writable, or owned by another user than this one or root),
    /// and follow symlinks out of the plugins directory. By default they are refused, with
    /// the reason, as sshd's StrictModes refuses keys.
    #[arg(long)]
    pub allow_insecure_files: bool,
}

/// Where the plugins are: a flag of pluginhost's and of `kong-conf`, which writes the command
/// line that serves them.
#[derive(Debug, Args)]
pub struct PluginsDirectory {
    /// Directory holding the plugins (*.so).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub plugins_directory: PathBuf,
}

/// Where Kong looks for a server and which dialect it speaks: flags of every server and of
/// `kong-conf`, which writes them into Kong's configuration.
#[derive(Debug, Args)]
pub struct KongFlags {
    /// Kong's prefix directory, where the socket is made.
    #[arg(long, value_name = "PREFIX", default_value = "/usr/local/kong")]
    pub kong_prefix: PathBuf,

    /// The dialect Kong speaks to this server: MsgPack:1 (go-pluginserver's) or ProtoBuf:1
    /// (go-pdk's embedded servers', Kong 2.4 and later; also `protobuf`). The query commands
    /// tell Kong which.
    #[arg(long, value_name = "PROTOCOL", default_value = "MsgPack:1")]
    pub protocol: crate::dialect::Dialect,
}

/// The flags every server takes: pluginhost, and a plugin serving itself (see
/// [`crate::embedded`]), spelled the same.
#[derive(Debug, Args)]
pub struct ServeFlags {
    /// Kong's prefix and dialect.
    #[command(flatten)]
    pub kong: KongFlags,

    /// Listen on this socket instead of the one in Kong's prefix.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// The Kong release that reads the schemas (e.g. 3.9.1): they then carry what it accepts,
    /// field descriptions from 3.4.0 on. Without it, schemas are what every Kong from 2.0.0
    /// on accepts. -dump-plugin-info (Kong 2.0 - 2.2) never carries descriptions.
    #[arg(long, value_name = "VERSION")]
    pub kong_version: Option<KongVersion>,

    /// How log lines are written to stderr: `text` (for people and Kong's error log) or `json`
    /// (one object per line, for log pipelines).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = crate::logging::Format::Text)]
    pub log_format: crate::logging::Format,

    /// Leave field descriptions out of config schemas, whatever -kong-version says.
    #[arg(long)]
    pub no_descriptions: bool,

    /// Seconds an event may wait for Kong's next Step before it is abandoned and reaped.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = positive_seconds)]
    pub event_timeout: f64,

    /// KiB of stack each running handler gets. Only the pages a handler touches use memory;
    /// a handler that recurses deeper than this crashes the server, as a thread would.
    #[arg(long, value_name = "KIB", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(64..))]
    pub handler_stack_kib: u32,

    /// Serving threads: each accepts, and serves the connections of the Kong worker processes
    /// placed on it (all of one process on one thread). Default: one per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub threads: Option<u16>,

    /// The most worker threads there may be: more start while handlers hold theirs (blocking,
    /// computing), each plugin and instance within its share of them; an event whose share
    /// is spent is refused at once (logged). Default: 4096, or fewer where memory, open files
    /// or the kernel allow fewer. 1 serves everything on one thread, where a handler that
    /// blocks holds up every other event.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=8192))]
    pub max_threads: Option<u16>,

    /// Seconds a worker thread started for handlers that block or compute stays idle before it
    /// exits (started again when needed).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = positive_seconds)]
    pub thread_idle_seconds: f64,

    /// Bytes one request may be at most; a request, or a length declared inside one, beyond
    /// it closes its connection as soon as its header is read. Kong's largest requests carry
    /// raw bodies.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_request_bytes: u64,

    /// Bytes all connections together may hold of requests not yet complete; the connection
    /// that would pass it is closed, with a log line.
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_buffered_bytes: u64,

    /// The most events suspended at once. At it, the event waiting longest for a Step is
    /// reaped to make room (logged). Default: what vm.max_map_count allows, each suspended
    /// event's stack taking two memory mappings.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_events: Option<u32>,

    /// Serve Prometheus metrics at `/metrics` on this address: `HOST:PORT`, a bare `PORT`
    /// (on 127.0.0.1) or a Unix socket path. Off by default; nothing is recorded while off.
    #[arg(long, value_name = "ADDRESS")]
    pub metrics_listen: Option<crate::metrics::endpoint::Listen>,

    /// Let connect to the socket the members of this group (name or number) too; by default
    /// only the server's own user can (mode 0600).
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,

    /// Seconds an instance may stay unused before it is collected (Kong re-creates it on demand).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600.0, value_parser = positive_seconds)]
    pub instance_ttl: f64,

    /// Seconds running events get to finish after SIGTERM.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = positive_seconds)]
    pub shutdown_grace: f64,
}

/// Commands other than serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check plugins against this host without serving them, as `krakend check-plugin` and
    /// `krakend test-plugin` do: give plugin files (*.so), or a plugin's Cargo.lock with -s.
    CheckPlugin(CheckPluginArgs),
    /// Write a new plugin crate NAME into DIR (default ./NAME): a config, one handler, a unit
    /// test, this host's Cargo.lock and a README with the kong.conf lines. It builds, tests
    /// and passes check-plugin as written.
    New(NewArgs),
    /// Print the kong.conf lines that serve a plugins directory (or embedded executables) to
    /// a Kong release: the entries, sockets, start and query commands it needs.
    KongConf(KongConfArgs),
    /// Run one request through a plugin, as Kong would: a plugin file (*.so) loaded here, or
    /// a plugin of a running server (-socket). Prints each PDK call with Kong's answer, and
    /// what Kong sends the service and answers the client.
    Event(EventArgs),
}

/// The arguments of `pluginhost event`.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// A plugin file (*.so), or with -socket the name of a plugin the server serves.
    #[arg(value_name = "PLUGIN")]
    pub plugin: String,

    /// The plugin's configuration, as JSON (what Kong's Admin API holds for the entity).
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub config: String,

    /// The request's method.
    #[arg(short = 'X', long, value_name = "METHOD", default_value = "GET")]
    pub method: String,

    /// The request's URL, as the client sent it to Kong.
    #[arg(long, value_name = "URL", default_value = "http://localhost:8000/")]
    pub url: String,

    /// A request header, `Name: value`; as many as needed.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// The request's body.
    #[arg(short = 'd', long, value_name = "BODY")]
    pub body: Option<String>,

    /// A running server's socket (MsgPack:1): the plugin is run there instead of loaded here.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// The arguments of `pluginhost kong-conf`.
#[derive(Debug, Args)]
pub struct KongConfArgs {
    /// The Kong release the lines are for (2.0 - 2.2: legacy keys; 2.3 - 3.8: one entry;
    /// 3.9 and later: one entry per plugin).
    #[arg(long, value_name = "VERSION")]
    pub kong_version: KongVersion,

    /// The plugins directory pluginhost serves.
    #[command(flatten)]
    pub plugins: PluginsDirectory,

    /// Kong's prefix and the dialect of the servers.
    #[command(flatten)]
    pub kong: KongFlags,

    /// The pluginhost executable the lines start; default: this one.
    #[arg(long, value_name = "PATH")]
    pub pluginhost: Option<PathBuf>,

    /// Embedded executables (one plugin per process) to configure instead of a plugins
    /// directory, each its own entry named after its file.
    #[arg(long, value_name = "EXE", num_args = 1..)]
    pub embedded: Vec<PathBuf>,
}

/// The arguments of `pluginhost new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name, which Kong knows it by, and its crate's.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Where to write the crate (new or empty); default ./NAME.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// plugin-abi's directory; default: the one of the checkout this pluginhost was built from.
    #[arg(long, value_name = "DIR")]
    pub plugin_abi: Option<PathBuf>,
}

/// The arguments of `pluginhost check-plugin`.
#[derive(Debug, Args)]
pub struct CheckPluginArgs {
    /// Plugin files to check: preflight, fingerprint, and a real load in a child process.
    #[arg(value_name = "PLUGIN.so")]
    pub files: Vec<PathBuf>,

    /// The plugin's Cargo.lock: compare its toolchain and the crates it shares with this host.
    #[arg(
        short = 's',
        long = "sum",
        value_name = "CARGO_LOCK",
        conflicts_with = "files"
    )]
    pub lock: Option<PathBuf>,

    /// The rustc version the plugin is built with (with -s).
    #[arg(short = 'r', long = "rustc", value_name = "VERSION", requires = "lock")]
    pub rustc: Option<String>,

    /// The glibc version of the machine the plugin is built on (with -s).
    #[arg(short = 'l', long = "libc", value_name = "VERSION", requires = "lock")]
    pub libc: Option<String>,

    /// Print the `cargo update` commands that fix crate differences (with -s).
    #[arg(short = 'f', long = "format", requires = "lock")]
    pub fix: bool,

    /// Compare every crate both builds have, not only those that cross the boundary (with -s).
    #[arg(long, requires = "lock")]
    pub all: bool,

    /// Load the one file given in this process and report (used by check-plugin itself).
    #[arg(long, hide = true)]
    pub load_only: bool,
}

impl Cli {
    /// Parses the process arguments, Go style or GNU style.
    pub fn from_env() -> Cli {
        Cli::parse_from(normalize(std::env::args_os()))
    }

    /// The socket path to listen on.
    pub fn socket_path(&self) -> PathBuf {
        self.serve.socket_path("go_pluginserver.sock")
    }

    /// How plugin builds are checked.
    pub fn policy(&self) -> crate::fingerprint::Policy {
        crate::fingerprint::Policy {
            strict: self.strict,
        }
    }

    /// `-rescan-interval` as a duration.
    pub fn rescan_interval(&self) -> Duration {
        Duration::from_secs_f64(self.rescan_interval)
    }

    /// The Kong release the schemas are printed for (see [`ServeFlags::schema_kong`]); always
    /// the oldest for Kong 2.0 - 2.2's `-dump-plugin-info`.
    pub fn schema_kong(&self) -> KongVersion {
        match self.dump_plugin_info {
            Some(_) => KongVersion::OLDEST,
            None => self.serve.schema_kong(),
        }
    }

    /// The file trust rules (`-allow-insecure-files`).
    pub fn trust(&self) -> crate::loader::trust::Trust {
        crate::loader::trust::Trust {
            allow_insecure: self.allow_insecure_files,
        }
    }
}

impl ServeFlags {
    /// The socket path to listen on: `-socket`, or `name` in Kong's prefix.
    pub fn socket_path(&self, name: &str) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| self.kong.kong_prefix.join(name))
    }

    /// `-event-timeout` as a duration.
    pub fn event_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.event_timeout)
    }

    /// `-instance-ttl` as a duration.
    pub fn instance_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.instance_ttl)
    }

    /// The Kong release the schemas are printed for: `-kong-version`, or the oldest Kong when
    /// none is given or descriptions are refused.
    pub fn schema_kong(&self) -> KongVersion {
        match self.kong_version {
            Some(kong) if !self.no_descriptions => kong,
            _ => KongVersion::OLDEST,
        }
    }

    /// `-threads`, or one per core, within `-max-threads`.
    pub fn threads(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = self.threads.map_or(cores, usize::from);
        match self.max_threads {
            Some(max) => threads.min(usize::from(max)),
            None => threads,
        }
    }

    /// `-max-threads`, or what the machine allows (see [`crate::workers::sizing`]), never
    /// fewer than the serving threads and one more.
    pub fn max_threads(&self) -> usize {
        self.max_threads.map_or_else(
            || crate::workers::sizing::default_max_threads(self.threads() + 1),
            usize::from,
        )
    }

    /// `-thread-idle-seconds` as a duration.
    pub fn thread_idle(&self) -> Duration {
        Duration::from_secs_f64(self.thread_idle_seconds)
    }

    /// `-max-events`, or what `vm.max_map_count` allows beside the worker threads' stacks.
    pub fn max_events(&self) -> usize {
        self.max_events_beside(self.max_threads())
    }

    /// [`ServeFlags::max_events`] beside `max_threads` threads, known already: sizing reads a
    /// dozen files of `/proc` and `/sys`, once per start is enough.
    pub fn max_events_beside(&self, max_threads: usize) -> usize {
        self.max_events.map_or_else(
            || crate::stacks::stacks_the_kernel_allows(max_threads),
            |n| n as usize,
        )
    }

    /// Who may connect to the socket (`-socket-group`).
    pub fn socket_access(&self) -> Result<crate::socket::Access, crate::socket::SocketError> {
        match &self.socket_group {
            None => Ok(crate::socket::Access::Owner),
            Some(group) => crate::socket::group_id(group).map(crate::socket::Access::Group),
        }
    }

    /// What one request may be (`-max-request-bytes`).
    pub fn limits(&self) -> crate::wire::msgpack::frame::Limits {
        crate::wire::msgpack::frame::Limits {
            max_bytes: usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX),
            max_values: crate::wire::msgpack::frame::MAX_VALUES,
        }
    }

    /// `-shutdown-grace` as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs_f64(self.shutdown_grace)
    }

    /// `-max-buffered-bytes`.
    pub fn max_buffered(&self) -> usize {
        usize::try_from(self.max_buffered_bytes).unwrap_or(usize::MAX)
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

/// The flags that take no value, the subcommands' included, from clap's own definitions; Go
/// lets them be written `-flag=true` or `-flag=false`.
fn boolean_flags() -> &'static [String] {
    static FLAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FLAGS.get_or_init(|| {
        fn walk(command: &clap::Command, flags: &mut Vec<String>) {
            for arg in command.get_arguments() {
                if let (Some(long), false) = (arg.get_long(), arg.get_action().takes_values()) {
                    flags.push(long.to_owned());
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, flags);
            }
        }
        let mut flags = Vec::new();
        walk(&<Cli as clap::CommandFactory>::command(), &mut flags);
        flags
    })
}

/// Rewrites Go-style arguments into clap's: `-long-flag` becomes `--long-flag`, and
/// `-bool-flag=true|false` becomes `--bool-flag` or nothing. Single-letter flags (`-h`) and
/// everything after `--` are left alone.
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut rest_is_positional = false;
    for arg in args {
        let Some(text) = arg.to_str().filter(|_| !rest_is_positional) else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            rest_is_positional = true;
            out.push(arg);
            continue;
        }
        let body = match text.strip_prefix("--").or_else(|| text.strip_prefix('-')) {
            Some(body) if body.len() > 1 && !body.starts_with('-') => body,
            _ => {
                out.push(arg);
                continue;
            }
        };
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        match (boolean_flags().iter().any(|f| f == name), value) {
            (true, Some("false" | "0" | "f" | "F" | "FALSE" | "False")) => {}
            (true, Some(_)) => out.push(format!("--{name}").into()),
            _ => out.push(format!("--{body}").into()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let argv = std::iter::once("pluginhost")
            .chain(args.iter().copied())
            .map(OsString::from);
        Cli::try_parse_from(normalize(argv)).unwrap()
    }

    #[test]
    fn the_boolean_flags_come_from_the_definitions_subcommands_included() {
        let flags = boolean_flags();
        for flag in [
            "allow-insecure-files",
            "dump-all-plugins",
            "dump",
            "version",
            "strict",
            "no-descriptions",
            "all",
            "load-only",
        ] {
            assert!(flags.iter().any(|f| f == flag), "{flag} in {flags:?}");
        }
        assert!(!flags.iter().any(|f| f == "kong-prefix"), "takes a value");
        // `-strict=false` is no flag at all, `-load-only=true` the flag.
        let args = [
            "pluginhost",
            "-strict=false",
            "check-plugin",
            "-load-only=true",
            "x.so",
        ];
        let normalized = normalize(args.map(OsString::from));
        assert_eq!(
            normalized,
            ["pluginhost", "check-plugin", "--load-only", "x.so"]
        );
    }

    #[test]
    fn go_style_single_dash_flags() {
        let cli = parse(&["-kong-prefix", "/p", "-plugins-directory", "/d"]);
        assert_eq!(cli.serve.kong.kong_prefix, PathBuf::from("/p"));
        assert_eq!(cli.plugins.plugins_directory, PathBuf::from("/d"));
        assert_eq!(cli.socket_path(), PathBuf::from("/p/go_pluginserver.sock"));
    }

    #[test]
    fn equals_and_double_dash_forms() {
        let cli = parse(&[
            "-kong-prefix=/p",
            "--plugins-directory=/d",
            "--dump-plugin-info",
            "x",
        ]);
        assert_eq!(cli.serve.kong.kong_prefix, PathBuf::from("/p"));
        assert_eq!(cli.plugins.plugins_directory, PathBuf::from("/d"));
        assert_eq!(cli.dump_plugin_info.as_deref(), Some("x"));
    }

    #[test]
    fn go_boolean_values() {
        assert!(parse(&["-dump-all-plugins"]).dump_all_plugins);
        assert!(parse(&["-dump-all-plugins=true"]).dump_all_plugins);
        assert!(!parse(&["-dump-all-plugins=false"]).dump_all_plugins);
    }

    #[test]
    fn socket_override_and_timeouts() {
        let cli = parse(&["-socket", "/s.sock", "-event-timeout", "0.5"]);
        assert_eq!(cli.socket_path(), PathBuf::from("/s.sock"));
        assert_eq!(cli.serve.event_timeout(), Duration::from_millis(500));
    }

    #[test]
    fn check_plugin_takes_files_or_a_lock() {
        let cli = parse(&["check-plugin", "a.so", "b.so", "-strict"]);
        let Some(Command::CheckPlugin(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.files.len(), 2);
        assert!(cli.strict);
        let cli = parse(&[
            "check-plugin",
            "-s",
            "Cargo.lock",
            "-r",
            "1.94.1",
            "-f",
            "-all",
        ]);
        let Some(Command::CheckPlugin(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.lock, Some(PathBuf::from("Cargo.lock")));
        assert_eq!(args.rustc.as_deref(), Some("1.94.1"));
        assert!(args.fix && args.all);
    }

    #[test]
    fn unknown_flags_and_bad_values_are_errors() {
        let argv = |a: &[&str]| {
            normalize(
                std::iter::once("pluginhost")
                    .chain(a.iter().copied())
                    .map(OsString::from),
            )
        };
        assert!(Cli::try_parse_from(argv(&["-no-such-flag"])).is_err());
        assert!(Cli::try_parse_from(argv(&["-event-timeout", "-3"])).is_err());
    }

    /// The guide's table of flags, read as data: each row's first cell (`-flag VALUE`, or a
    /// subcommand's synopsis) and its default cell.
    fn guide_rows() -> Vec<(String, String)> {
        include_str!("../../docs/src/command-line.md")
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .map(|row| {
                let mut cells = row.split(" | ");
                let first = cells.next().unwrap_or_default();
                let synopsis = first.split('`').next().unwrap_or_default().to_owned();
                (synopsis, cells.next().unwrap_or_default().to_owned())
            })
            .collect()
    }

    fn shown(arg: &clap::Arg) -> bool {
        !arg.is_hide_set() && arg.get_id() != "help"
    }

    #[test]
    fn the_guides_flag_table_is_what_the_parser_defines() {
        let command = <Cli as clap::CommandFactory>::command();
        let rows = guide_rows();
        let flag_rows: BTreeMap<String, String> = rows
            .iter()
            .filter_map(|(synopsis, default)| {
                let flag = synopsis.split(' ').next()?.strip_prefix('-')?;
                Some((flag.to_owned(), default.clone()))
            })
            .collect();
        let mut defined = BTreeSet::new();
        for arg in command.get_arguments().filter(|a| shown(a)) {
            let long = arg.get_long().expect("every flag of pluginhost is long");
            defined.insert(long.to_owned());
            let default = flag_rows
                .get(long)
                .unwrap_or_else(|| panic!("-{long} has no row in the guide's table"));
            // The default cell opens with the default in a code span, or has none.
            let documented = default
                .strip_prefix('`')
                .and_then(|rest| rest.split('`').next());
            let values = arg.get_default_values();
            let parsed = values.first().map(|v| v.to_string_lossy().into_owned());
            assert_eq!(
                documented.map(str::to_owned),
                parsed,
                "-{long}: the guide's default against the parser's"
            );
        }
        let documented: BTreeSet<_> = flag_rows.keys().cloned().collect();
        assert_eq!(
            documented, defined,
            "the guide's flags against the parser's"
        );
        for sub in command.get_subcommands() {
            let name = sub.get_name();
            let synopsis: Vec<String> = rows
                .iter()
                .filter(|(s, _)| s.split(' ').next() == Some(name))
                .flat_map(|(s, _)| s.split(' '))
                .filter_map(|w| w.trim_matches(['[', ']', '…']).strip_prefix('-'))
                .map(|flag| flag.trim_start_matches('-').to_owned())
                .collect();
            assert!(
                !synopsis.is_empty(),
                "{name} has no row in the guide's table"
            );
            // A global flag (-strict) has its own row.
            let own = |a: &&clap::Arg| shown(a) && !a.is_positional() && !a.is_global_set();
            for arg in sub.get_arguments().filter(own) {
                let named = arg.get_long().map(str::to_owned).into_iter();
                let short = arg.get_short().map(String::from).into_iter();
                assert!(
                    named.chain(short).any(|flag| synopsis.contains(&flag)),
                    "{name}'s {} is not in its row of the guide's table",
                    arg.get_id()
                );
            }
        }
    }
}
