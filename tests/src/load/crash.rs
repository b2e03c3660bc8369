//! A plugin that aborts, on this build and on the baseline build beside it (the A/B of `make
//! bench`): how long from the crash until an event is answered again, and how many events of a
//! steady stream failed meanwhile. A build that serves in the process Kong starts dies with
//! the plugin, and Kong's process manager starts it again at once (as Kong does on exit); a
//! supervising build starts a new engine itself.

use std::{
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use serde_json::json;

use super::{bench::start_pluginhost, children::ServerProcess, procfs};
use crate::{
    kong::{Entity, Kong, nil},
    steady::{StopOnDrop, Tally, hello_workers},
};

/// Kong workers sending hello's events around each crash.
const WORKERS: usize = 4;

/// What one build did.
#[derive(Debug, Clone)]
pub struct Build {
    /// The build's name in the report.
    pub name: String,
    /// From the aborting event's end (Kong sees its connection close) to the first answered
    /// event on a new connection: the median of the rounds, and the slowest.
    pub to_serving: (Duration, Duration),
    /// Events of the stream that failed, per crash (the mean over the rounds).
    pub failed_per_crash: f64,
    /// Events of the stream answered, over all the rounds.
    pub answered: u64,
    /// Resident KiB of the process Kong started, when it is not the one serving (the cost of
    /// supervision).
    pub supervisor_kib: Option<u64>,
}

/// Crashes each build of `builds` (`(name, binary, plugins)`, its plugins directory holding
/// `hello` and `panicky`) `rounds` times, in `dir`.
pub fn measure(
    builds: &[(&str, &Path, &Path)],
    dir: &Path,
    rounds: usize,
) -> anyhow::Result<Vec<Build>> {
    builds
        .iter()
        .map(|(name, binary, plugins)| measure_build(name, binary, dir, plugins, rounds))
        .collect()
}

fn measure_build(
    name: &str,
    binary: &Path,
    dir: &Path,
    plugins: &Path,
    rounds: usize,
) -> anyhow::Result<Build> {
    let prefix = format!("crash-{}", name.replace(' ', "-"));
    let start = || start_pluginhost(binary, dir, &prefix, plugins, &[]);
    let mut server = start()?;
    let supervisor_kib = (server.pid() != server.started_pid())
        .then(|| procfs::rss_kib(server.started_pid()))
        .flatten();
    let socket = server.socket.clone();
    let mut times = Vec::with_capacity(rounds);
    let mut failed = 0;
    let mut answered = 0;
    for _ in 0..rounds {
        let stop = AtomicBool::new(false);
        let tally = Tally::default();
        let took = thread::scope(|s| -> anyhow::Result<Duration> {
            hello_workers(s, WORKERS, &socket, &stop, &tally);
            let _stop = StopOnDrop(&stop);
            thread::sleep(Duration::from_millis(300));
            let kong = Kong::tolerant(&socket);
            let aborting = Entity::new(&kong, "panicky", json!({"mode": "abort"}));
            if aborting.run("access", nil).is_ok() {
                anyhow::bail!("{name}: the aborting event was answered");
            }
            let crashed = Instant::now();
            serving_again(
                &mut server,
                &start,
                &socket,
                crashed + Duration::from_secs(30),
            )?;
            let took = crashed.elapsed();
            thread::sleep(Duration::from_millis(300));
            Ok(took)
        })?;
        times.push(took);
        failed += tally.failed.load(Ordering::Relaxed);
        answered += tally.ok.load(Ordering::Relaxed);
    }
    times.sort();
    Ok(Build {
        name: name.to_owned(),
        to_serving: (times[times.len() / 2], times[times.len() - 1]),
        failed_per_crash: failed as f64 / rounds as f64,
        answered,
        supervisor_kib,
    })
}

/// Runs hello's access event on a new connection until one is answered, starting the server
/// again at once if it exited, as Kong's process manager does.
fn serving_again(
    server: &mut ServerProcess,
    start: &impl Fn() -> anyhow::Result<ServerProcess>,
    socket: &Path,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        if server.exited() {
            *server = start()?;
        }
        let kong = Kong::tolerant(socket);
        if Entity::new(&kong, "hello", json!({}))
            .run("access", nil)
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("nothing answered on {} after a crash", socket.display());
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// The section of the report.
pub fn render(builds: &[Build]) -> String {
    let rows: Vec<Vec<String>> = builds
        .iter()
        .map(|b| {
            vec![
                b.name.clone(),
                format!("{:.1} ms", b.to_serving.0.as_secs_f64() * 1e3),
                format!("{:.1} ms", b.to_serving.1.as_secs_f64() * 1e3),
                format!("{:.1}", b.failed_per_crash),
                b.answered.to_string(),
                b.supervisor_kib
                    .map_or_else(|| "—".to_owned(), |kib| format!("{kib} KiB")),
            ]
        })
        .collect();
    let mut out = format!(
        "A plugin that aborts the process, {WORKERS} Kong workers sending hello's events \
         meanwhile. A build that serves in the process Kong starts is started again at once, as \
         Kong's process manager does; a supervising build starts a new engine itself:\n\n"
    );
    out.push_str(&super::report::table(
        &[
            "build",
            "crash → serving (median)",
            "slowest",
            "events failed per crash",
            "events answered",
            "supervisor RSS",
        ],
        &rows,
    ));
    out
}
