//! Logs go to stderr (Kong copies the server's output into its error log); stdout is for dumps.
//!
//! Nothing that serves may wait on stderr: Kong reads it through a pipe and can lag, and a
//! full pipe used to stop every event after a few hundred lines. Lines therefore go through a
//! bounded queue to a thread of their own (tracing-appender's non-blocking writer); when the
//! queue is full they are dropped and counted, and the next line that gets through is preceded
//! by one saying how many were lost. Every line is capped at [`crate::cap::MAX_TEXT`] bytes.

use std::io::{self, IsTerminal, Write};

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

use crate::cap::{MAX_TEXT, cap_line};

/// Lines queued for stderr at most; about 4 MiB at the longest lines.
const QUEUED_LINES: usize = 1024;

/// Keeps the log thread; dropping it at exit writes what is still queued.
pub struct Logging {
    _guard: WorkerGuard,
}

/// Installs the stderr logger. `PLUGINHOST_LOG` filters it (`debug`, `pluginhost=trace`...).
pub fn init() -> Logging {
    let filter =
        EnvFilter::try_from_env("PLUGINHOST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (queue, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("pluginhost-log")
        .finish(io::stderr());
    let dropped = queue.error_counter();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Capped {
            queue,
            dropped,
            reported: std::sync::Arc::default(),
        })
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        // Its default reports a failed write with eprintln!, which blocks on a full pipe and
        // panics on a closed one; a log line lost then is fine, a dead server is not.
        .log_internal_errors(false)
        .init();
    Logging { _guard: guard }
}

/// The queue to stderr, each line capped, with the report of dropped lines.
struct Capped {
    queue: NonBlocking,
    dropped: ErrorCounter,
    /// Dropped lines already reported.
    reported: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<'a> MakeWriter<'a> for Capped {
    type Writer = CappedLine;

    fn make_writer(&'a self) -> CappedLine {
        CappedLine {
            queue: self.queue.clone(),
            dropped: self.dropped.clone(),
            reported: std::sync::Arc::clone(&self.reported),
        }
    }
}

/// The writer of one line: the formatter writes each event with one call.
struct CappedLine {
    queue: NonBlocking,
    dropped: ErrorCounter,
    reported: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Write for CappedLine {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        use std::sync::atomic::Ordering;
        let dropped = self.dropped.dropped_lines();
        let reported = self.reported.load(Ordering::Relaxed);
        if dropped > reported
            && self
                .reported
                .compare_exchange(reported, dropped, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let report = format!(
                "pluginhost: {} log lines were dropped: stderr was not read fast enough\n",
                dropped - reported
            );
            let _ = self.queue.write(report.as_bytes());
        }
        let _ = self.queue.write(&cap_line(line, MAX_TEXT))?;
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.queue.flush()
    }
}
