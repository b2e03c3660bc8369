//! stdout, which carries only what a command prints for its user or for Kong (a dump, the
//! kong.conf lines, what `new` wrote): everything else is a log line on stderr.

use std::io::Write;

/// Writes `bytes` whole to stdout, and flushes it.
pub fn print(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}
