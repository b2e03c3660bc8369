//! One plugin, its own server: a plugin crate's executable that serves just that plugin, as
//! go-pdk's `server.StartServer` does for Go. Kong starts it (`pluginserver_NAME_start_cmd`),
//! asks it what it serves (`-dump`), and starts it again when it exits.
//!
//! The executable serves with the same engine as pluginhost ([`crate::serve`]): the same
//! workers, limits, metrics, signals and socket, the same flags ([`ServeFlags`]). Only where
//! the plugin comes from differs: it is linked in ([`plugin_abi::Exported`]), so nothing is
//! loaded and no build is checked, plugin and server being one build. It is supervised as
//! pluginhost is ([`crate::supervisor`]): a crash ends only this plugin's events in flight, and
//! SIGUSR2 upgrades it in place after its executable is replaced.
//!
//! A plugin crate opts in with a feature that brings in this crate, and a one-line `main`:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     pluginhost::embedded::main::<hello::Hello>()
//! }
//! ```

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{CommandFactory, FromArgMatches, Parser};
use plugin_abi::Exported;

use crate::{
    cli::{ServeFlags, normalize},
    dump, loader, logging,
    serve::{self, Plugins},
    version,
};

/// One plugin serving itself to Kong over a Unix socket (Kong's embedded plugin server), with
/// pluginhost's engine.
#[derive(Debug, Parser)]
#[command(disable_version_flag = true, max_term_width = 100)]
pub struct EmbeddedCli {
    /// The flags of every server.
    #[command(flatten)]
    pub serve: ServeFlags,

    /// Dump info about plugins: print {"Protocol":"MsgPack:1","Plugins":[this plugin]} and exit
    /// (Kong's query command).
    #[arg(long)]
    pub dump: bool,

    /// Print the plugin, its version and the build, and exit.
    #[arg(long)]
    pub version: bool,
}

/// Parses `args` (Go style or GNU style) as the program `name`.
pub fn parse(
    name: &str,
    args: impl IntoIterator<Item = OsString>,
) -> Result<EmbeddedCli, clap::Error> {
    let command = EmbeddedCli::command()
        .name(name.to_owned())
        .bin_name(name.to_owned());
    let matches = command.try_get_matches_from(normalize(args))?;
    EmbeddedCli::from_arg_matches(&matches)
}

/// The whole program of a plugin `P` serving itself: call it from `main`.
pub fn main<P: Exported>() -> ExitCode {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("plugin"));
    let args: Vec<OsString> = std::env::args_os().collect();
    // Kong names the socket after the program as it was started.
    let name = args
        .first()
        .map(Path::new)
        .and_then(Path::file_name)
        .or_else(|| exe.file_name())
        .map_or_else(|| "plugin".to_owned(), |n| n.to_string_lossy().into_owned());
    let cli = match parse(&name, args) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let _logging = logging::init(cli.serve.log_format, cli.version || cli.dump);
    let plugin = match loader::builtin(P::root_module(), &exe) {
        Ok(plugin) => plugin,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if cli.version {
        crate::stdout::print(version_text(&plugin.info).as_bytes()).map_err(Into::into)
    } else if let Err(e) = cli.serve.kong.protocol.check_kong(cli.serve.kong_version) {
        Err(anyhow::anyhow!(e))
    } else if cli.dump {
        let mut info = plugin.info.clone();
        info.schema = plugin_abi::schema::for_kong(&info.schema, cli.serve.schema_kong());
        crate::stdout::print(&dump::dump_document(
            &[&info],
            cli.serve.kong_version,
            cli.serve.kong.protocol,
        ))
        .map_err(Into::into)
    } else {
        let socket = socket_path(&cli.serve, &name);
        let kong = cli.serve.schema_kong();
        serve::serve_until_stopped(
            &cli.serve,
            &socket,
            kong,
            Plugins::Builtin(Box::new(plugin)),
        )
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where program `name` listens: `-socket`, or `<kong-prefix>/<name>.socket`, as Kong expects.
pub fn socket_path(flags: &ServeFlags, name: &str) -> PathBuf {
    flags.socket_path(&format!("{name}.socket"))
}

/// The `-version` text: the plugin, and the build that serves it.
pub fn version_text(info: &plugin_abi::PluginInfo) -> String {
    format!(
        "Plugin: {name} {version} (priority {priority})\n\
         Server: pluginhost {host} engine, one plugin per process\n\
         Rust Version: {rustc} ({commit})\n\
         Target: {target}\n",
        name = info.name,
        version = info.version,
        priority = info.priority,
        host = env!("CARGO_PKG_VERSION"),
        rustc = version::RUSTC_VERSION,
        commit = version::RUSTC_COMMIT,
        target = version::TARGET,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> EmbeddedCli {
        let argv = std::iter::once("my-plugin")
            .chain(args.iter().copied())
            .map(OsString::from);
        parse("my-plugin", argv).unwrap()
    }

    #[test]
    fn kong_s_flags_go_style() {
        let cli = parse_args(&["-kong-prefix", "/p", "-max-events", "10", "-dump"]);
        assert!(cli.dump);
        assert_eq!(
            socket_path(&cli.serve, "my-plugin"),
            PathBuf::from("/p/my-plugin.socket")
        );
        assert_eq!(cli.serve.max_events(), 10);
        let cli = parse_args(&["-socket", "/s.sock"]);
        assert_eq!(
            socket_path(&cli.serve, "my-plugin"),
            PathBuf::from("/s.sock")
        );
        let default = parse_args(&[]);
        assert_eq!(
            socket_path(&default.serve, "my-plugin"),
            PathBuf::from("/usr/local/kong/my-plugin.socket")
        );
    }

    #[test]
    fn help_names_the_program_and_the_shared_flags() {
        let argv = ["my-plugin", "-help"].map(OsString::from);
        let help = parse("my-plugin", argv).unwrap_err().to_string();
        for flag in [
            "--dump",
            "--kong-prefix",
            "--max-request-bytes",
            "--metrics-listen",
        ] {
            assert!(help.contains(flag), "{flag} in {help}");
        }
        assert!(help.contains("my-plugin"), "{help}");
    }
}
