//! Memory under abandoned events, and over a long run (`make soak`).
//!
//! Kong abandons an event whenever a PDK call raises in Lua or the client goes away, and
//! tells the server nothing. go-pluginserver kept each such event's goroutine forever. Here a
//! burst of abandoned events is started three times over; after each, the reaper must bring
//! the resident memory back down, and every event must be reported reaped.

use std::{
    fmt::Write,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::json;

use super::{
    bench::start_pluginhost,
    client::{self, Exchange, KONG_POOL_SIZE, Load},
    procfs,
    report::table,
};

/// The event timeout the memory run gives pluginhost, so that reaping comes quickly.
const EVENT_TIMEOUT_S: f64 = 2.0;

/// Rounds of abandoned events.
const ROUNDS: usize = 3;

/// What one round of abandoned events did to pluginhost's memory.
#[derive(Debug, Clone)]
pub struct Round {
    /// Events started and abandoned.
    pub started: usize,
    /// RSS with all of them suspended.
    pub peak_kib: u64,
    /// Threads then.
    pub threads: u64,
    /// RSS once they were reaped.
    pub after_kib: u64,
    /// Events pluginhost logged as reaped, in total so far.
    pub reaped_total: usize,
}

/// The memory figures.
#[derive(Debug, Clone)]
pub struct Memory {
    /// Events abandoned per round.
    pub abandoned: usize,
    /// RSS before any event.
    pub idle_kib: u64,
    /// Each round.
    pub rounds: Vec<Round>,
}

impl Memory {
    /// Bounded: every event reaped, and the last round ends no higher than the first (with a
    /// 10 % allowance for allocator noise).
    pub fn bounded(&self) -> bool {
        let all = self.abandoned * self.rounds.len();
        let (Some(first), Some(last)) = (self.rounds.first(), self.rounds.last()) else {
            return false;
        };
        last.reaped_total == all && last.after_kib as f64 <= first.after_kib as f64 * 1.1
    }

    /// One line for the targets table.
    pub fn summary(&self) -> String {
        let peak = self.rounds.iter().map(|r| r.peak_kib).max().unwrap_or(0);
        let after: Vec<String> = self.rounds.iter().map(|r| mib(r.after_kib)).collect();
        let reaped = self.rounds.last().map_or(0, |r| r.reaped_total);
        format!(
            "idle {} MiB, peak {} MiB, after each reap {} MiB; {reaped}/{} reaped",
            mib(self.idle_kib),
            mib(peak),
            after.join(" / "),
            self.abandoned * self.rounds.len()
        )
    }

    /// The per-round table.
    pub fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rounds
            .iter()
            .enumerate()
            .map(|(i, r)| {
                vec![
                    (i + 1).to_string(),
                    r.started.to_string(),
                    mib(r.peak_kib),
                    r.threads.to_string(),
                    mib(r.after_kib),
                    r.reaped_total.to_string(),
                ]
            })
            .collect();
        let mut out = format!(
            "pluginhost idle, after 200 ms of completed hello events: {} MiB RSS. Event timeout \
             {EVENT_TIMEOUT_S} s.\n\n",
            mib(self.idle_kib)
        );
        out.push_str(&table(
            &[
                "round",
                "events abandoned",
                "RSS with them suspended (MiB)",
                "threads",
                "RSS after reaping (MiB)",
                "reaped so far",
            ],
            &rows,
        ));
        out
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Runs `ROUNDS` rounds of `count` abandoned hello events against a fresh pluginhost.
pub fn measure(binary: &Path, dir: &Path, plugins: &Path, count: usize) -> anyhow::Result<Memory> {
    let timeout = EVENT_TIMEOUT_S.to_string();
    let server = start_pluginhost(
        binary,
        dir,
        "abandon",
        plugins,
        &["-event-timeout", &timeout],
    )?;
    let pid = server.pid();
    let instance = client::start_instance(&server.socket, "hello", &json!({}))?;
    // Completed events first, as in any Kong's steady state: pluginhost learns that hello's
    // handlers are quick and runs them on its serving worker (they start apart, each on a
    // worker of its own, until then).
    client::warm_up(&server.socket, instance)?;
    let rss = || procfs::rss_kib(pid).context("cannot read pluginhost's RSS");
    let idle_kib = rss()?;
    let log = dir.join("abandon.log");
    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        let started = client::abandon(&server.socket, instance, count, 64)?;
        let peak_kib = rss()?;
        let threads = procfs::threads(pid).unwrap_or(0);
        let want = count * round;
        let deadline = Instant::now() + Duration::from_secs_f64(EVENT_TIMEOUT_S * 5.0 + 5.0);
        let mut reaped_total = reaped_in_file(&log);
        while reaped_total < want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            reaped_total = reaped_in_file(&log);
        }
        rounds.push(Round {
            started,
            peak_kib,
            threads,
            after_kib: rss()?,
            reaped_total,
        });
    }
    Ok(Memory {
        abandoned: count,
        idle_kib,
        rounds,
    })
}

fn reaped_in_file(log: &Path) -> usize {
    reaped(&std::fs::read_to_string(log).unwrap_or_default())
}

/// Events pluginhost's log reports reaped (`reaped events Kong abandoned events=N`).
pub fn reaped(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("reaped events Kong abandoned"))
        .filter_map(|l| l.split("events=").nth(1))
        .filter_map(|n| n.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}

/// `make soak`: hello at 16 in flight for `duration`, RSS and events/s every `every`.
/// Returns a Markdown report.
pub fn soak(
    binary: &Path,
    hello: &Path,
    duration: Duration,
    every: Duration,
) -> anyhow::Result<String> {
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(hello, plugins.join("hello.so"))?;
    let server = start_pluginhost(binary, dir, "soak", &plugins, &[])?;
    let instance = client::start_instance(&server.socket, "hello", &json!({}))?;
    let started = Instant::now();
    let mut rows = Vec::new();
    while started.elapsed() < duration {
        let figures = client::run(&Load {
            socket: server.socket.clone(),
            in_flight: 16,
            pool_size: KONG_POOL_SIZE,
            warmup: Duration::ZERO,
            measure: every,
            server_pid: Some(server.pid()),
            authorization: None,
            exchange: Exchange::Event {
                instance,
                phase: "access".into(),
            },
        })?;
        let rss = procfs::rss_kib(server.pid()).unwrap_or(0);
        let row = vec![
            format!("{:.0}", started.elapsed().as_secs_f64()),
            format!("{:.0}", figures.events_per_s()),
            mib(rss),
        ];
        eprintln!("loadgen soak: {}", row.join("  "));
        rows.push(row);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# pluginhost soak\n\nhello, 16 events in flight, {:.0} s, on {}.\n",
        duration.as_secs_f64(),
        super::bench::machine()
    );
    out.push_str(&table(&["seconds", "events/s", "RSS (MiB)"], &rows));
    Ok(out)
}
