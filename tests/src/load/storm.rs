//! A service that hangs, and one that is merely slow, each on this build and on the baseline
//! build beside it (the A/B of `make bench`).
//!
//! * **The storm**: `blocker`'s service hangs (gate mode, a gate that never opens) while Kong
//!   keeps sending its events and gives each up after 2 s. Another plugin (`sleeper`, 10 ms)
//!   and another instance of `blocker` (10 ms) are measured before and during the storm; both
//!   servers run with the same `-max-threads 256` (the old default), so the figure shows the
//!   shares, not a larger bound.
//! * **The slow service**: a handler that waits 2 s for its service, 600 events in flight
//!   (ideal: 300 events/s), each server with its own defaults; the resident memory each
//!   handler held apart costs is read from the server's RSS and threads in the middle of it.

use std::{
    path::Path,
    thread,
    time::{Duration, Instant},
};

use serde_json::json;

use super::{
    bench::start_pluginhost,
    children::ServerProcess,
    client::{self, Exchange, Figures, Load},
    procfs,
};

/// Kong's patience with one event in these runs.
const GIVE_UP: Duration = Duration::from_secs(2);

/// The thread bound both builds get for the storm.
const STORM_MAX_THREADS: &str = "256";

/// What one build did.
#[derive(Debug, Clone)]
pub struct Build {
    /// The build's name in the report.
    pub name: String,
    /// The other plugin's events/s before the storm, and during it.
    pub other: (f64, f64),
    /// The other instance's events/s before the storm, and during it.
    pub sibling: (f64, f64),
    /// The storm's events: given up by Kong (started, or never answered), and refused.
    pub storm: Figures,
    /// The slow service at its in-flight count.
    pub slow: Figures,
    /// The slow service's ideal events/s.
    pub slow_ideal: f64,
    /// Resident KiB per thread the slow service held, in the middle of its run.
    pub kib_per_held_thread: Option<f64>,
    /// Threads then.
    pub threads_held: Option<u64>,
}

/// The sizes of one run: the full one, or a tiny one that proves the code runs.
struct Sizes {
    storm_in_flight: usize,
    storm_window: Duration,
    window: Duration,
    slow_in_flight: usize,
    slow_service: Duration,
}

impl Sizes {
    fn of(smoke: bool) -> Sizes {
        if smoke {
            Sizes {
                storm_in_flight: 40,
                storm_window: Duration::from_millis(600),
                window: Duration::from_millis(200),
                slow_in_flight: 20,
                slow_service: Duration::from_millis(200),
            }
        } else {
            Sizes {
                storm_in_flight: 400,
                storm_window: Duration::from_secs(8),
                window: Duration::from_secs(2),
                slow_in_flight: 600,
                slow_service: Duration::from_secs(2),
            }
        }
    }
}

/// Measures the storm and the slow service on each build of `builds` (`(name, binary,
/// plugins)`, its plugins directory holding `blocker` and `sleeper`), in `dir`.
pub fn measure(
    builds: &[(&str, &Path, &Path)],
    dir: &Path,
    smoke: bool,
) -> anyhow::Result<Vec<Build>> {
    let sizes = Sizes::of(smoke);
    builds
        .iter()
        .map(|(name, binary, plugins)| measure_build(name, binary, dir, plugins, &sizes))
        .collect()
}

fn load(server: &ServerProcess, instance: u64, in_flight: usize, window: Duration) -> Load {
    Load {
        socket: server.socket.clone(),
        in_flight,
        pool_size: in_flight.max(client::KONG_POOL_SIZE),
        warmup: Duration::from_millis(200),
        measure: window,
        server_pid: Some(server.pid()),
        authorization: None,
        exchange: Exchange::Event {
            instance,
            phase: "access".into(),
        },
    }
}

fn measure_build(
    name: &str,
    binary: &Path,
    dir: &Path,
    plugins: &Path,
    sizes: &Sizes,
) -> anyhow::Result<Build> {
    let storm_dir = format!("storm-{}", name.replace(' ', "-"));
    let server = start_pluginhost(
        binary,
        dir,
        &storm_dir,
        plugins,
        &["-max-threads", STORM_MAX_THREADS],
    )?;
    let start = |plugin, config| client::start_instance(&server.socket, plugin, &config);
    let sibling = start("blocker", json!({"mode": "sleep", "ms": 10}))?;
    let other = start("sleeper", json!({"ms": 10}))?;
    let never = dir.join(&storm_dir).join("the-service-never-answers");
    let hung = start("blocker", json!({"mode": "gate", "path": never}))?;
    // The blocker's phase shows it is slow before the storm, as in production.
    client::run_as_kong(&load(&server, sibling, 4, sizes.window), GIVE_UP)?;
    let rate = |instance| -> anyhow::Result<f64> {
        Ok(
            client::run_as_kong(&load(&server, instance, 16, sizes.window), GIVE_UP)?
                .events_per_s(),
        )
    };
    let before = (rate(other)?, rate(sibling)?);
    let (storm, during) = thread::scope(|s| -> anyhow::Result<_> {
        let storm = s.spawn(|| {
            client::run_as_kong(
                &load(&server, hung, sizes.storm_in_flight, sizes.storm_window),
                GIVE_UP,
            )
        });
        // Once the storm has held what it can hold.
        thread::sleep(GIVE_UP + sizes.window);
        let during = (rate(other)?, rate(sibling)?);
        let storm = storm
            .join()
            .map_err(|_| anyhow::anyhow!("the storm panicked"))??;
        Ok((storm, during))
    })?;
    drop(server);
    eprintln!("loadgen: the storm measured on {name}");

    let server = start_pluginhost(
        binary,
        dir,
        &format!("slow-{}", name.replace(' ', "-")),
        plugins,
        &[],
    )?;
    let warm = client::start_instance(
        &server.socket,
        "blocker",
        &json!({"mode": "sleep", "ms": 10}),
    )?;
    client::run_as_kong(&load(&server, warm, 4, sizes.window), GIVE_UP)?;
    let slow = client::start_instance(
        &server.socket,
        "blocker",
        &json!({"mode": "sleep", "ms": sizes.slow_service.as_millis()}),
    )?;
    let idle_rss = procfs::rss_kib(server.pid());
    let idle_threads = procfs::threads(server.pid());
    let mut slow_load = load(&server, slow, sizes.slow_in_flight, sizes.slow_service * 3);
    // Every handler has started before the window opens.
    slow_load.warmup = sizes.slow_service + Duration::from_millis(500);
    let (figures, held) = thread::scope(|s| {
        let run = s.spawn(|| client::run_as_kong(&slow_load, sizes.slow_service * 5));
        let middle = Instant::now() + slow_load.warmup + sizes.slow_service;
        thread::sleep(middle.saturating_duration_since(Instant::now()));
        let held = procfs::rss_kib(server.pid()).zip(procfs::threads(server.pid()));
        (run.join(), held)
    });
    let slow_figures = figures.map_err(|_| anyhow::anyhow!("the slow service panicked"))??;
    let (kib_per_held_thread, threads_held) = match (held, idle_rss, idle_threads) {
        (Some((rss, threads)), Some(idle_rss), Some(idle_threads)) if threads > idle_threads => {
            let extra = threads - idle_threads;
            (
                Some(rss.saturating_sub(idle_rss) as f64 / extra as f64),
                Some(extra),
            )
        }
        _ => (None, None),
    };
    drop(server);
    eprintln!("loadgen: the slow service measured on {name}");
    Ok(Build {
        name: name.to_owned(),
        other: (before.0, during.0),
        sibling: (before.1, during.1),
        storm,
        slow_ideal: sizes.slow_in_flight as f64 / sizes.slow_service.as_secs_f64(),
        slow: slow_figures,
        kib_per_held_thread,
        threads_held,
    })
}

/// The report's section.
pub fn render(builds: &[Build]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let rows: Vec<Vec<String>> = builds
        .iter()
        .map(|b| {
            let ratio = |(before, after): (f64, f64)| {
                if before > 0.0 {
                    format!("{:.0} → {:.0} ({:.2})", before, after, after / before)
                } else {
                    "—".into()
                }
            };
            vec![
                b.name.clone(),
                ratio(b.other),
                ratio(b.sibling),
                format!("{}", b.storm.given_up),
                format!("{}", b.storm.failed),
            ]
        })
        .collect();
    let _ = writeln!(
        out,
        "A storm: one instance's service hangs, its events given up after {GIVE_UP:?}, both \
         builds at -max-threads {STORM_MAX_THREADS}. Events/s of another plugin and of \
         another instance of the same plugin (10 ms each, 16 in flight), before → during \
         (during ÷ before):\n"
    );
    out.push_str(&super::report::table(
        &[
            "build",
            "another plugin",
            "another instance",
            "storm events given up",
            "storm events refused",
        ],
        &rows,
    ));
    let rows: Vec<Vec<String>> = builds
        .iter()
        .map(|b| {
            vec![
                b.name.clone(),
                format!(
                    "{:.0} ({:.2} of {:.0})",
                    b.slow.events_per_s(),
                    b.slow.events_per_s() / b.slow_ideal,
                    b.slow_ideal
                ),
                format!("{:.2} s", b.slow.p50.as_secs_f64()),
                format!("{}", b.slow.failed + b.slow.given_up),
                b.threads_held.map_or("—".into(), |n| n.to_string()),
                b.kib_per_held_thread
                    .map_or("—".into(), |k| format!("{k:.0} KiB")),
            ]
        })
        .collect();
    let in_flight = builds.first().map_or(0, |b| b.slow.in_flight);
    let _ = writeln!(
        out,
        "\nA slow service: {in_flight} events in flight of a handler that waits for it, each \
         build with its defaults:\n"
    );
    out.push_str(&super::report::table(
        &[
            "build",
            "events/s (÷ ideal)",
            "p50",
            "failed or given up",
            "threads held",
            "RSS per held thread",
        ],
        &rows,
    ));
    out
}
