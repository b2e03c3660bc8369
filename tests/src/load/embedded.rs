//! hello served by its own executable (one plugin per process) beside hello served by
//! pluginhost from its `.so`: the same engine, so the same events/s and CPU per event; what
//! differs is each process's memory and how long it takes to start.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::json;

use super::{
    bench::start_pluginhost,
    children::ServerProcess,
    client::{self, Load},
    procfs,
    report::{Point, k, table, us},
};

/// Events in flight measured.
pub const IN_FLIGHT: [usize; 2] = [16, 64];

/// One way of serving hello.
#[derive(Debug, Clone)]
pub struct Way {
    /// How.
    pub label: &'static str,
    /// One point per [`IN_FLIGHT`].
    pub points: Vec<Point>,
    /// RSS once started, KiB.
    pub rss_started_kib: u64,
    /// RSS after the load, KiB.
    pub rss_loaded_kib: u64,
    /// Median time from spawning the process to its socket accepting.
    pub start: Duration,
}

/// Both ways.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// Embedded first, then shared.
    pub ways: Vec<Way>,
}

/// Measures hello embedded (`hello_exe`) and shared (`pluginhost` serving `hello_so`), `rounds`
/// rounds of `measure` each, alternating.
pub fn measure(
    pluginhost: &Path,
    hello_so: &Path,
    hello_exe: &Path,
    dir: &Path,
    rounds: usize,
    measure: Duration,
) -> anyhow::Result<Embedded> {
    let plugins = dir.join("hello-only");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(hello_so, plugins.join("hello.so"))?;
    let embedded_prefix = dir.join("embedded");
    std::fs::create_dir_all(&embedded_prefix)?;
    let start_embedded = || {
        let mut command = Command::new(hello_exe);
        command.arg("-kong-prefix").arg(&embedded_prefix);
        ServerProcess::start(
            command,
            embedded_prefix.join(format!(
                "{}.socket",
                hello_exe.file_name().unwrap_or_default().to_string_lossy()
            )),
            &dir.join("embedded.log"),
        )
        .map_err(anyhow::Error::from)
    };
    let start_shared = || start_pluginhost(pluginhost, dir, "shared-hello", &plugins, &[]);
    let timed = |start: &dyn Fn() -> anyhow::Result<ServerProcess>| -> anyhow::Result<Duration> {
        let mut times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let server = start()?;
            times.push(started.elapsed());
            drop(server);
        }
        times.sort_unstable();
        Ok(times[1])
    };
    let starts = [timed(&start_embedded)?, timed(&start_shared)?];
    let servers = [start_embedded()?, start_shared()?];
    let rss_started: Vec<u64> = servers
        .iter()
        .map(|s| procfs::rss_kib(s.pid()).unwrap_or(0))
        .collect();
    let instances = servers
        .iter()
        .map(|s| client::start_instance(&s.socket, "hello", &json!({})))
        .collect::<Result<Vec<_>, _>>()?;
    let mut points = [Vec::new(), Vec::new()];
    for n in IN_FLIGHT {
        let mut rounds_of = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (i, server) in servers.iter().enumerate() {
                rounds_of[i].push(client::run(&Load::access(
                    &server.socket,
                    server.pid(),
                    instances[i],
                    n,
                    measure,
                ))?);
            }
        }
        for i in 0..2 {
            points[i].push(Point::median_of(&rounds_of[i]));
        }
    }
    let [embedded, shared] = points;
    let ways = [
        ("embedded (one plugin per process)", embedded),
        ("pluginhost (shared)", shared),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (label, points))| Way {
        label,
        points,
        rss_started_kib: rss_started[i],
        rss_loaded_kib: procfs::rss_kib(servers[i].pid()).unwrap_or(0),
        start: starts[i],
    })
    .collect();
    Ok(Embedded { ways })
}

impl Embedded {
    /// The report's table.
    pub fn table(&self) -> String {
        let mut rows = Vec::new();
        for way in &self.ways {
            for p in &way.points {
                rows.push(vec![
                    way.label.to_owned(),
                    p.in_flight.to_string(),
                    k(p.events_per_s),
                    p.cpu_per_event.map_or("–".into(), us),
                    format!("{:.1}", way.rss_started_kib as f64 / 1024.0),
                    format!("{:.1}", way.rss_loaded_kib as f64 / 1024.0),
                    format!("{:.0}", way.start.as_secs_f64() * 1e3),
                ]);
            }
        }
        table(
            &[
                "hello served by",
                "in flight",
                "events/s",
                "CPU µs/event",
                "RSS started MiB",
                "RSS after load MiB",
                "start ms",
            ],
            &rows,
        )
    }

    /// Embedded ÷ shared, events/s and CPU per event, at each point.
    pub fn ratios(&self) -> Vec<(usize, f64, Option<f64>)> {
        let (embedded, shared) = (&self.ways[0], &self.ways[1]);
        embedded
            .points
            .iter()
            .zip(&shared.points)
            .map(|(e, s)| {
                let cpu = match (e.cpu_per_event, s.cpu_per_event) {
                    (Some(e), Some(s)) => Some(e.as_secs_f64() / s.as_secs_f64()),
                    _ => None,
                };
                (e.in_flight, e.events_per_s / s.events_per_s, cpu)
            })
            .collect()
    }
}
