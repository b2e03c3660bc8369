//! Logs go to stderr (Kong copies the server's output into its error log); stdout is for dumps.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the stderr logger. `PLUGINHOST_LOG` filters it (`debug`, `pluginhost=trace`...).
pub fn init() {
    let filter =
        EnvFilter::try_from_env("PLUGINHOST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        // Its default reports a failed write with eprintln!, which panics when Kong has stopped
        // reading our stderr pipe; a log line lost then is fine, a dead server is not.
        .log_internal_errors(false)
        .init();
}
