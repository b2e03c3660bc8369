//! How the serving spreads over the machine: hello from several client processes (Kong's
//! nginx workers are processes), the share of the server's CPU time on its busiest thread,
//! an idle server's wake-ups, and the threads a cold burst of new events starts.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::json;

use super::{
    children::ServerProcess,
    client::{self, Exchange, Figures, Load},
    procfs,
    report::{k, table, us},
};
use crate::kong::{Answer, Entity, Kong};

/// Runs `events` events of the blocker plugin's `where` mode on the server at `socket`,
/// `concurrency` at a time, and returns the server thread that ran each.
pub fn threads_of_events(
    socket: &Path,
    events: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let kong = Kong::new(socket);
    let entity = Entity::new(&kong, "blocker", json!({"mode": "where"}));
    let per_thread = events.div_ceil(concurrency.max(1));
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                s.spawn(|| -> anyhow::Result<Vec<String>> {
                    (0..per_thread)
                        .map(|_| {
                            let outcome = entity
                                .run("access", |_| Answer::Nil)
                                .map_err(anyhow::Error::msg)?;
                            outcome
                                .calls
                                .iter()
                                .find(|c| {
                                    c.method == "kong.response.set_header"
                                        && c.args[0].as_str() == Some("x-thread")
                                })
                                .and_then(|c| c.args[1].as_str())
                                .map(str::to_owned)
                                .context("the event set no x-thread header")
                        })
                        .collect()
                })
            })
            .collect();
        let mut all = Vec::new();
        for run in runs {
            all.extend(run.join().expect("a client thread panicked")?);
        }
        Ok(all)
    })
}

/// `figures` as one JSON object, for a parent process to read.
pub fn figures_json(figures: &Figures) -> String {
    json!({
        "events": figures.events,
        "rpcs": figures.rpcs,
        "seconds": figures.seconds,
        "p99_us": figures.p99.as_secs_f64() * 1e6,
    })
    .to_string()
}

/// Hello from several client processes against one server.
#[derive(Debug, Clone)]
pub struct SpreadPoint {
    /// Which server.
    pub label: String,
    /// Events per second, all clients together.
    pub events_per_s: f64,
    /// Server CPU time per event.
    pub cpu_per_event: Option<Duration>,
    /// The busiest server thread's share of the server's CPU time.
    pub busiest_share: Option<f64>,
    /// Server threads that used at least 5 % of its CPU time.
    pub busy_threads: usize,
}

/// Hello at `in_flight` events in flight from `clients` client processes (each `loadgen run`,
/// each with its own instance), measured for `seconds` after `warmup`.
pub fn measure_spread(
    label: &str,
    server: &ServerProcess,
    clients: usize,
    in_flight: usize,
    warmup: Duration,
    seconds: Duration,
) -> anyhow::Result<SpreadPoint> {
    let me = std::env::current_exe()?;
    let children: Vec<_> = (0..clients)
        .map(|_| {
            Command::new(&me)
                .arg("run")
                .arg(&server.socket)
                .args(["--plugin", "hello", "--json"])
                .arg("--in-flight")
                .arg((in_flight / clients).max(1).to_string())
                .arg("--seconds")
                .arg(seconds.as_secs_f64().to_string())
                .arg("--warmup")
                .arg(warmup.as_secs_f64().to_string())
                .stdout(Stdio::piped())
                .spawn()
                .context("cannot start a client process")
        })
        .collect::<anyhow::Result<_>>()?;
    // The clients start, then warm up: the window opens with theirs.
    std::thread::sleep(warmup + Duration::from_millis(50));
    let before = procfs::thread_cpu_times(server.pid()).unwrap_or_default();
    let started = Instant::now();
    std::thread::sleep(seconds);
    let after = procfs::thread_cpu_times(server.pid()).unwrap_or_default();
    let window = started.elapsed();
    let mut events = 0.0;
    let mut client_seconds: f64 = 0.0;
    for child in children {
        let out = child.wait_with_output()?;
        anyhow::ensure!(out.status.success(), "a client process failed");
        let figures: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("a client process printed no figures")?;
        events += figures["events"].as_f64().unwrap_or(0.0);
        client_seconds = client_seconds.max(figures["seconds"].as_f64().unwrap_or(0.0));
    }
    let used: Vec<Duration> = after
        .iter()
        .map(|(tid, t)| {
            let was = before
                .iter()
                .find(|(b, _)| b == tid)
                .map_or(Duration::ZERO, |(_, t)| *t);
            t.saturating_sub(was)
        })
        .collect();
    let total: Duration = used.iter().sum();
    let busiest = used.iter().max().copied().unwrap_or_default();
    let rate = events / client_seconds.max(f64::EPSILON);
    Ok(SpreadPoint {
        label: label.to_owned(),
        events_per_s: rate,
        cpu_per_event: (rate > 0.0).then(|| {
            total
                .div_f64(rate * window.as_secs_f64())
                .max(Duration::ZERO)
        }),
        busiest_share: (!total.is_zero()).then(|| busiest.as_secs_f64() / total.as_secs_f64()),
        busy_threads: used
            .iter()
            .filter(|u| !total.is_zero() && u.as_secs_f64() >= 0.05 * total.as_secs_f64())
            .count(),
    })
}

/// An idle server: wake-ups per second and CPU share over `seconds` without any event.
#[derive(Debug, Clone)]
pub struct Idle {
    /// Context switches of all its threads, per second.
    pub wakeups_per_s: f64,
    /// Its CPU time as a share of one core.
    pub cpu_share: f64,
}

/// Measures `server` idle for `seconds`, after a few hello events have come and gone.
pub fn measure_idle(server: &ServerProcess, seconds: Duration) -> anyhow::Result<Idle> {
    let instance = client::start_instance(&server.socket, "hello", &json!({}))?;
    client::warm_up(&server.socket, instance)?;
    // The connections the load opened are closed; what is left to settle, settles.
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.pid();
    let (switches, cpu) = (
        procfs::context_switches(pid).context("no context switches")?,
        procfs::cpu_time(pid).context("no cpu time")?,
    );
    std::thread::sleep(seconds);
    let switched = procfs::context_switches(pid).context("no context switches")? - switches;
    let used = procfs::cpu_time(pid).context("no cpu time")? - cpu;
    Ok(Idle {
        wakeups_per_s: switched as f64 / seconds.as_secs_f64(),
        cpu_share: used.as_secs_f64() / seconds.as_secs_f64(),
    })
}

/// A cold burst: `connections` events at once on a server that has never run hello.
#[derive(Debug, Clone)]
pub struct Burst {
    /// Events at once.
    pub connections: usize,
    /// Server threads before.
    pub threads_before: u64,
    /// The most server threads seen during the burst.
    pub threads_peak: u64,
    /// RSS before and after, in KiB.
    pub rss_kib: (u64, u64),
}

/// Measures a cold burst of `connections` hello events on `server`.
pub fn measure_burst(server: &ServerProcess, connections: usize) -> anyhow::Result<Burst> {
    let pid = server.pid();
    let instance = client::start_instance(&server.socket, "hello", &json!({}))?;
    let threads_before = procfs::threads(pid).unwrap_or(0);
    let rss_before = procfs::rss_kib(pid).unwrap_or(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let peak = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(procfs::threads(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        });
        let run = client::run(&Load {
            socket: server.socket.clone(),
            in_flight: connections,
            pool_size: connections,
            warmup: Duration::ZERO,
            measure: Duration::from_millis(300),
            server_pid: None,
            authorization: None,
            exchange: Exchange::Event {
                instance,
                phase: "access".into(),
            },
        });
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = sampler.join().expect("the sampler panicked");
        run.map(|_| peak)
    })?;
    Ok(Burst {
        connections,
        threads_before,
        threads_peak: peak,
        rss_kib: (rss_before, procfs::rss_kib(pid).unwrap_or(0)),
    })
}

/// Every figure of the spread section of the report.
#[derive(Debug, Clone)]
pub struct Spread {
    /// Client processes.
    pub clients: usize,
    /// Events in flight, all clients together.
    pub in_flight: usize,
    /// One point per server measured.
    pub points: Vec<SpreadPoint>,
    /// The idle figures, per server.
    pub idle: Vec<(String, Idle)>,
    /// The cold burst.
    pub burst: Option<Burst>,
}

impl Spread {
    /// The report's tables.
    pub fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .points
            .iter()
            .map(|p| {
                vec![
                    p.label.clone(),
                    k(p.events_per_s),
                    p.cpu_per_event.map_or("–".into(), us),
                    p.busiest_share.map_or("–".into(), |s| format!("{s:.2}")),
                    p.busy_threads.to_string(),
                ]
            })
            .collect();
        let mut out = format!(
            "hello from {} client processes, {} in flight in all:\n\n",
            self.clients, self.in_flight
        );
        out.push_str(&table(
            &[
                "server",
                "events/s",
                "CPU µs/event",
                "busiest thread's share of CPU",
                "threads with ≥ 5 % of it",
            ],
            &rows,
        ));
        let rows: Vec<Vec<String>> = self
            .idle
            .iter()
            .map(|(label, idle)| {
                vec![
                    label.clone(),
                    format!("{:.1}", idle.wakeups_per_s),
                    format!("{:.2} %", idle.cpu_share * 100.0),
                ]
            })
            .collect();
        out.push_str("\nIdle, after a few events:\n\n");
        out.push_str(&table(
            &["server", "wake-ups/s", "CPU, share of a core"],
            &rows,
        ));
        if let Some(b) = &self.burst {
            out.push_str(&format!(
                "\nA cold burst of {} hello events at once: threads {} → at most {}, RSS {:.1} → \
                 {:.1} MiB.\n",
                b.connections,
                b.threads_before,
                b.threads_peak,
                b.rss_kib.0 as f64 / 1024.0,
                b.rss_kib.1 as f64 / 1024.0
            ));
        }
        out
    }
}
