//! The `pluginhost` command. See the crate docs of `pluginhost` for the map of the code.

use std::process::ExitCode;

use pluginhost::{
    check,
    cli::{Cli, Command},
    dump, event, kong_conf, logging, new, serve, version,
};

fn main() -> ExitCode {
    let cli = Cli::from_env();
    let dumping = cli.dump_plugin_info.is_some()
        || cli.dump_plugin_info_json.is_some()
        || cli.dump_all_plugins
        || cli.dump;
    let printing = matches!(
        cli.command,
        Some(Command::KongConf(_) | Command::New(_) | Command::Event(_))
    );
    let _logging = logging::init(cli.serve.log_format, dumping || printing);
    if cli.version {
        // stdout may be a closed pipe; nothing useful to do about it.
        let _ = pluginhost::stdout::print(version::text().as_bytes());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::CheckPlugin(args)) = &cli.command {
        return check::run(args, cli.policy()).unwrap_or_else(|e| {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        });
    }
    if let Some(Command::KongConf(args)) = &cli.command {
        return match kong_conf::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Event(args)) = &cli.command {
        return event::run(args, cli.policy()).unwrap_or_else(|e| {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        });
    }
    if let Some(Command::New(args)) = &cli.command {
        return match new::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let result = if dumping {
        dump::run(&cli).map_err(anyhow::Error::from)
    } else {
        serve::run(&cli)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
