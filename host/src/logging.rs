//! Logs go to stderr (Kong copies the server's output into its error log); stdout is for dumps.
//!
//! Nothing that serves may wait on stderr: Kong reads it through a pipe and can lag, and a
//! full pipe used to stop every event after a few hundred lines. Lines therefore go through a
//! bounded queue to a thread of their own (tracing-appender's non-blocking writer); when the
//! queue is full they are dropped and counted, and the next line that gets through is preceded
//! by one saying how many were lost. Every line is capped at [`crate::cap::MAX_TEXT`] bytes; a
//! JSON line keeps being JSON, its long strings cut instead of the line.

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

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `time LEVEL message fields`, as people read it.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message` and every field
    /// (`plugin`, `event`, ...) at the top level.
    Json,
}

/// What the queue dropped, for the metrics.
static DROPPED: std::sync::OnceLock<ErrorCounter> = std::sync::OnceLock::new();

/// Log lines dropped so far because stderr was not read fast enough.
pub fn dropped_lines() -> usize {
    DROPPED.get().map_or(0, ErrorCounter::dropped_lines)
}

/// Installs the stderr logger. `PLUGINHOST_LOG` filters it (`debug`, `pluginhost=trace`...);
/// without it a server logs from `info` on, and a command whose output is for its user (a
/// dump, `kong-conf`, `new`: `quiet`) only warnings and errors, which are about that output.
pub fn init(format: Format, quiet: bool) -> Logging {
    let level = if quiet { "warn" } else { "info" };
    let filter =
        EnvFilter::try_from_env("PLUGINHOST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let (queue, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("pluginhost-log")
        .finish(io::stderr());
    let _ = DROPPED.set(queue.error_counter());
    let writer = Capped {
        queue: queue.clone(),
        dropped: queue.error_counter(),
        reported: std::sync::Arc::default(),
        json: format == Format::Json,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        // Its default reports a failed write with eprintln!, which blocks on a full pipe and
        // panics on a closed one; a log line lost then is fine, a dead server is not.
        .log_internal_errors(false);
    match format {
        Format::Text => builder.with_ansi(io::stderr().is_terminal()).init(),
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    Logging { _guard: guard }
}

/// The queue to stderr, each line capped, with the report of dropped lines.
struct Capped {
    queue: NonBlocking,
    dropped: ErrorCounter,
    /// Dropped lines already reported.
    reported: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Whether lines are JSON objects.
    json: bool,
}

impl<'a> MakeWriter<'a> for Capped {
    type Writer = CappedLine;

    fn make_writer(&'a self) -> CappedLine {
        CappedLine {
            queue: self.queue.clone(),
            dropped: self.dropped.clone(),
            reported: std::sync::Arc::clone(&self.reported),
            json: self.json,
        }
    }
}

/// The writer of one line: the formatter writes each event with one call.
struct CappedLine {
    queue: NonBlocking,
    dropped: ErrorCounter,
    reported: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    json: bool,
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
            let message = format!(
                "pluginhost: {} log lines were dropped: stderr was not read fast enough",
                dropped - reported
            );
            let report = if self.json {
                format!(
                    "{}\n",
                    serde_json::json!({"level": "WARN", "message": message})
                )
            } else {
                format!("{message}\n")
            };
            let _ = self.queue.write(report.as_bytes());
        }
        if self.json && line.len() > MAX_TEXT {
            let _ = self.queue.write(&cap_json_line(line, MAX_TEXT))?;
        } else {
            let _ = self.queue.write(&cap_line(line, MAX_TEXT))?;
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.queue.flush()
    }
}

/// A JSON log line longer than `max`, with each string value cut to its share of `max`, so
/// that it stays one valid object.
fn cap_json_line(line: &[u8], max: usize) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(line) else {
        return cap_line(line, max).into_owned();
    };
    let share = max / object.len().max(1);
    for value in object.values_mut() {
        if let serde_json::Value::String(text) = value {
            *text = crate::cap::cap(text, share).into_owned();
        } else if value.to_string().len() > share {
            *value =
                serde_json::Value::String(crate::cap::cap(&value.to_string(), share).into_owned());
        }
    }
    let mut capped = serde_json::Value::Object(object).to_string().into_bytes();
    capped.push(b'\n');
    capped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_json_line_stays_one_json_object() {
        let line = format!(
            "{}\n",
            serde_json::json!({"level": "WARN", "message": "x".repeat(10_000), "plugin": "hello"})
        );
        let capped = cap_json_line(line.as_bytes(), 4096);
        assert!(capped.len() < 4096 + 200, "{}", capped.len());
        let object: serde_json::Value = serde_json::from_slice(&capped).unwrap();
        assert_eq!(object["plugin"], "hello");
        assert!(object["message"].as_str().unwrap().ends_with("bytes cut]"));
    }
}
