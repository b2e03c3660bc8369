//! `make bench`: pluginhost against the echo and mock baselines, measured in one run.
//!
//! For each number of events in flight, every round measures the echo server, then for each
//! exchange the mock, pluginhost, and pluginhost on one thread (`-max-threads 1`, the server
//! before it had worker threads) one right after the other, so that a baseline and the figure
//! compared with it are seconds apart. Each figure is the median of the rounds: this machine
//! is shared, and a neighbour's burst should move one round, not the result. Then the
//! handlers that block or compute ([`super::blocking`]).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::json;

use super::{
    blocking::{self, Blocking},
    children::ServerProcess,
    client::{self, Exchange, Figures, KONG_POOL_SIZE, Load},
    crash,
    dialects::{self, Dialects},
    embedded::{self, Embedded},
    introspection::{self, Introspection},
    memory::{self, Memory},
    metrics_cost::{self, MetricsCost},
    plot::{self, Series},
    ratelimit::{self, RateLimit},
    report::{Point, k, table, us},
    spread::{self, Spread},
    storm,
};

/// What to measure and where.
#[derive(Debug, Clone)]
pub struct Bench {
    /// The pluginhost binary.
    pub pluginhost: PathBuf,
    /// The built `hello` plugin.
    pub hello: PathBuf,
    /// The built `rust-request-transformer` plugin.
    pub transformer: PathBuf,
    /// The built `blocker` test plugin.
    pub blocker: PathBuf,
    /// The built `sleeper` test plugin (another plugin whose service answers).
    pub sleeper: PathBuf,
    /// The built `rate-limit` plugin.
    pub rate_limit: PathBuf,
    /// The built `token-introspection` plugin.
    pub token_introspection: PathBuf,
    /// The built `panicky` test plugin, which aborts the process on demand.
    pub panicky: PathBuf,
    /// Where the report and plot go.
    pub out: PathBuf,
    /// Events in flight, one point each.
    pub in_flight: Vec<usize>,
    /// Rounds per point (the median is reported).
    pub rounds: usize,
    /// Measured time per round and server.
    pub measure: Duration,
    /// Abandoned events for the memory figure.
    pub abandoned: usize,
    /// Plugins for the dump figure.
    pub dump_plugins: usize,
    /// Another pluginhost build to compare with (the commit before, say).
    pub baseline: Option<PathBuf>,
    /// hello's own executable (its `embedded` feature), measured beside the shared server.
    pub hello_embedded: Option<PathBuf>,
}

/// Client processes of the spread figure, and their events in flight in all.
const SPREAD_CLIENTS: usize = 2;
const SPREAD_IN_FLIGHT: usize = 64;

/// One exchange measured against its mock.
struct Workload {
    title: &'static str,
    plugin: &'static str,
    config: serde_json::Value,
    script: &'static str,
}

fn workloads() -> Vec<Workload> {
    let headers: serde_json::Map<String, serde_json::Value> = (1..=9)
        .map(|i| (format!("x-bench-{i}"), json!(i.to_string())))
        .collect();
    vec![
        Workload {
            title: "hello (3 RPCs)",
            plugin: "hello",
            config: json!({}),
            script: "hello",
        },
        Workload {
            title: "10 PDK calls (11 RPCs)",
            plugin: "rust-request-transformer",
            config: json!({ "add": { "headers": headers } }),
            script: "ten-calls",
        },
    ]
}

/// Runs the benchmark and writes `report.md` and `plot.png` into `bench.out`; returns the
/// report's text.
pub fn run(bench: &Bench) -> anyhow::Result<String> {
    let work = tempfile::tempdir().context("cannot make a work directory")?;
    let dir = work.path();
    // Each figure's plugins, in a directory of its own: what they always served; the storm's
    // blocker and sleeper; the crash's hello, and panicky to abort the process.
    let served = [
        ("hello.so", bench.hello.as_path()),
        ("rust-request-transformer.so", bench.transformer.as_path()),
        ("blocker.so", bench.blocker.as_path()),
    ];
    let storm = [
        ("blocker.so", bench.blocker.as_path()),
        ("sleeper.so", bench.sleeper.as_path()),
    ];
    let crash = [
        ("hello.so", bench.hello.as_path()),
        ("panicky.so", bench.panicky.as_path()),
    ];
    let plugins = plugin_dir(dir, "plugins", &served, None)?;
    let me = std::env::current_exe()?;
    let mut builds = vec![Build {
        name: "this build",
        binary: &bench.pluginhost,
        plugins: plugins.clone(),
        storm: plugin_dir(dir, "storm-plugins", &storm, None)?,
        crash: plugin_dir(dir, "crash-plugins", &crash, None)?,
    }];
    if let Some(baseline) = &bench.baseline {
        let beside = baseline.parent();
        builds.push(Build {
            name: "baseline build",
            binary: baseline,
            plugins: plugin_dir(dir, "baseline-plugins", &served, beside)?,
            storm: plugin_dir(dir, "baseline-storm-plugins", &storm, beside)?,
            crash: plugin_dir(dir, "baseline-crash-plugins", &crash, beside)?,
        });
    }
    let steal_before = steal_ticks();
    let started = Instant::now();

    let echo = {
        let socket = dir.join("echo.sock");
        let mut command = Command::new(&me);
        command.arg("echo-server").arg(&socket);
        ServerProcess::start(command, socket, &dir.join("echo.log"))?
    };
    let host = start_pluginhost(&bench.pluginhost, dir, "serving", &plugins, &[])?;
    let single = start_pluginhost(
        &bench.pluginhost,
        dir,
        "one-thread",
        &plugins,
        &["-max-threads", "1"],
    )?;
    let workloads = workloads();
    let mut mocks = Vec::new();
    let mut exchanges = Vec::new();
    for w in &workloads {
        let socket = dir.join(format!("mock-{}.sock", w.script));
        let mut command = Command::new(&me);
        command
            .arg("mock-server")
            .arg(&socket)
            .args(["--script", w.script]);
        let mock = ServerProcess::start(command, socket, &dir.join("mock.log"))?;
        let on_mock = client::start_instance(&mock.socket, w.plugin, &w.config)?;
        let on_host = client::start_instance(&host.socket, w.plugin, &w.config)
            .with_context(|| format!("pluginhost did not start {}", w.plugin))?;
        let on_single = client::start_instance(&single.socket, w.plugin, &w.config)?;
        mocks.push(mock);
        exchanges.push((on_mock, on_host, on_single));
    }

    let measure = |server: &ServerProcess, exchange: Exchange, in_flight: usize| {
        client::run(&Load {
            socket: server.socket.clone(),
            in_flight,
            pool_size: KONG_POOL_SIZE,
            warmup: Duration::from_millis(300),
            measure: bench.measure,
            server_pid: Some(server.pid()),
            authorization: None,
            exchange,
        })
    };
    let frame = echo_frame();
    let mut echo_points = Vec::new();
    // [workload][in-flight index] → (mock, pluginhost, pluginhost on one thread)
    let mut points: Vec<Vec<(Point, Point, Point)>> = vec![Vec::new(); workloads.len()];
    for &n in &bench.in_flight {
        let mut echo_rounds: Vec<Figures> = Vec::new();
        let mut rounds: Vec<(Vec<Figures>, Vec<Figures>, Vec<Figures>)> =
            vec![Default::default(); workloads.len()];
        for _ in 0..bench.rounds {
            echo_rounds.push(measure(
                &echo,
                Exchange::Echo {
                    frame: frame.clone(),
                },
                n,
            )?);
            for (i, (on_mock, on_host, on_single)) in exchanges.iter().enumerate() {
                let event = |instance| Exchange::Event {
                    instance,
                    phase: "access".into(),
                };
                rounds[i].0.push(measure(&mocks[i], event(*on_mock), n)?);
                rounds[i].1.push(measure(&host, event(*on_host), n)?);
                rounds[i].2.push(measure(&single, event(*on_single), n)?);
            }
        }
        echo_points.push(Point::median_of(&echo_rounds));
        for (i, (mock, host, single)) in rounds.iter().enumerate() {
            points[i].push((
                Point::median_of(mock),
                Point::median_of(host),
                Point::median_of(single),
            ));
        }
        eprintln!("loadgen: {n} in flight measured");
    }
    let spread = measure_spread(bench, &builds, dir, &host, &single)?;
    eprintln!("loadgen: spread over threads, idle and cold burst measured");
    drop(single);
    drop(mocks);
    drop(echo);
    let blocking = blocking::measure(&host, bench.rounds.min(3), bench.measure)?;
    eprintln!("loadgen: blocking and computing handlers measured");
    drop(host);
    let storm_builds: Vec<_> = builds
        .iter()
        .map(|b| (b.name, b.binary, b.storm.as_path()))
        .collect();
    let storms = storm::measure(&storm_builds, dir, bench.measure < Duration::from_secs(1))?;
    let crash_builds: Vec<_> = builds
        .iter()
        .map(|b| (b.name, b.binary, b.crash.as_path()))
        .collect();
    let crashes = crash::measure(&crash_builds, dir, bench.rounds.clamp(1, 5))?;
    eprintln!("loadgen: a crash measured");
    let metrics = metrics_cost::measure(
        &bench.pluginhost,
        dir,
        &plugins,
        bench.rounds,
        bench.measure,
    )?;
    eprintln!("loadgen: metrics on and off measured");
    let rate_limit = ratelimit::measure(
        &bench.pluginhost,
        dir,
        &bench.rate_limit,
        bench.rounds.min(3),
        bench.measure,
    )?;
    eprintln!("loadgen: rate-limit measured");
    let introspection = introspection::measure(
        &bench.pluginhost,
        dir,
        &bench.token_introspection,
        &bench.hello,
        bench.rounds.min(3),
        bench.measure,
    )?;
    eprintln!("loadgen: token-introspection measured");

    let embedded = bench
        .hello_embedded
        .as_ref()
        .map(|exe| {
            embedded::measure(
                &bench.pluginhost,
                &bench.hello,
                exe,
                dir,
                bench.rounds.min(3),
                bench.measure,
            )
        })
        .transpose()?;
    eprintln!("loadgen: hello embedded and shared measured");
    let dialects = dialects::measure(
        &bench.pluginhost,
        &bench.hello,
        dir,
        bench.rounds.min(3),
        bench.measure,
    )?;
    eprintln!("loadgen: hello over MsgPack:1 and ProtoBuf:1 measured");
    let memory = memory::measure(&bench.pluginhost, dir, &plugins, bench.abandoned)?;
    eprintln!("loadgen: memory measured");
    let dump = time_dump(&bench.pluginhost, dir, &bench.hello, bench.dump_plugins)?;
    let steal = steal_ticks().zip(steal_before).map(|(after, before)| {
        let hz = rustix::param::clock_ticks_per_second() as f64;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        (after - before) as f64 / hz / (started.elapsed().as_secs_f64() * cpus)
    });

    std::fs::create_dir_all(&bench.out)?;
    let report = render(
        bench,
        &workloads,
        &echo_points,
        &points,
        &blocking,
        &storms,
        &crashes,
        &rate_limit,
        &introspection,
        &metrics,
        &memory,
        &dump,
        &spread,
        embedded.as_ref(),
        &dialects,
        steal,
    );
    std::fs::write(bench.out.join("report.md"), &report)?;
    let mut series = Vec::new();
    for (w, pts) in workloads.iter().zip(&points) {
        for (label, pick) in [("mock", 0), ("pluginhost", 1), ("one thread", 2)] {
            series.push(Series {
                label: format!("{label}, {}", w.title),
                points: pts
                    .iter()
                    .map(|(mock, host, single)| {
                        let p = [mock, host, single][pick];
                        (p.in_flight, p.events_per_s, p.p99.as_secs_f64() * 1e6)
                    })
                    .collect(),
            });
        }
    }
    let title = format!("pluginhost vs the no-plugin mock, {}", machine());
    plot::draw(&bench.out.join("plot.png"), &title, &series)?;
    Ok(report)
}

/// Hello from several client processes on the served, the one-thread and the baseline
/// server; each one idle; and a cold burst on a fresh server.
fn measure_spread(
    bench: &Bench,
    builds: &[Build],
    dir: &Path,
    host: &ServerProcess,
    single: &ServerProcess,
) -> anyhow::Result<Spread> {
    let plugins = &builds[0].plugins;
    let baseline = builds
        .get(1)
        .map(|b| start_pluginhost(b.binary, dir, "baseline", &b.plugins, &[]))
        .transpose()?;
    let mut servers = vec![("pluginhost", host), ("one thread", single)];
    if let Some(baseline) = &baseline {
        servers.push(("baseline build", baseline));
    }
    let warmup = Duration::from_millis(300);
    let mut rounds: Vec<Vec<spread::SpreadPoint>> = vec![Vec::new(); servers.len()];
    for _ in 0..bench.rounds.min(3) {
        for (i, (label, server)) in servers.iter().enumerate() {
            rounds[i].push(spread::measure_spread(
                label,
                server,
                SPREAD_CLIENTS,
                SPREAD_IN_FLIGHT,
                warmup,
                bench.measure,
            )?);
        }
    }
    let points = rounds
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.events_per_s.total_cmp(&b.events_per_s));
            r.swap_remove(r.len() / 2)
        })
        .collect();
    let idle_for = (bench.measure * 3).max(Duration::from_millis(500));
    let idle = servers
        .iter()
        .map(|(label, server)| Ok((label.to_string(), spread::measure_idle(server, idle_for)?)))
        .collect::<anyhow::Result<_>>()?;
    let fresh = start_pluginhost(&bench.pluginhost, dir, "cold", plugins, &[])?;
    let burst = spread::measure_burst(&fresh, 1000.min(bench.abandoned.max(50)))?;
    Ok(Spread {
        clients: SPREAD_CLIENTS,
        in_flight: SPREAD_IN_FLIGHT,
        points,
        idle,
        burst: Some(burst),
    })
}

/// A pluginhost build measured beside another, and the plugins each figure serves it: the
/// baseline's are its own builds, for a plugin must match its host's ABI revision.
struct Build<'a> {
    name: &'static str,
    binary: &'a Path,
    plugins: PathBuf,
    storm: PathBuf,
    crash: PathBuf,
}

/// A plugins directory `name` in `dir` holding `files` (each its name there and this build's
/// file); with `beside`, each file is instead the one of the same name in that directory (the
/// baseline's own build of the plugin, made beside its binary by `make bench BASELINE_REV=`).
fn plugin_dir(
    dir: &Path,
    name: &str,
    files: &[(&str, &Path)],
    beside: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    let out = dir.join(name);
    std::fs::create_dir_all(&out)?;
    for (to, file) in files {
        let from = match (beside, file.file_name()) {
            (Some(beside), Some(file_name)) => beside.join(file_name),
            _ => file.to_path_buf(),
        };
        std::fs::copy(&from, out.join(to)).with_context(|| {
            format!(
                "cannot copy {} (a baseline's plugins are built beside its binary)",
                from.display()
            )
        })?;
    }
    Ok(out)
}

/// Starts pluginhost on `plugins`, with its prefix `dir/name` and its log `dir/name.log`.
pub fn start_pluginhost(
    binary: &Path,
    dir: &Path,
    name: &str,
    plugins: &Path,
    extra: &[&str],
) -> anyhow::Result<ServerProcess> {
    let prefix = dir.join(name);
    std::fs::create_dir_all(&prefix)?;
    let mut command = Command::new(binary);
    command
        .arg("-kong-prefix")
        .arg(&prefix)
        .arg("-plugins-directory")
        .arg(plugins)
        .args(extra);
    let socket = prefix.join("go_pluginserver.sock");
    ServerProcess::start(command, socket, &dir.join(format!("{name}.log")))
        .with_context(|| format!("cannot start {}", binary.display()))
}

/// The bytes of a `HandleEvent` request, the size of what the echo round trips carry.
fn echo_frame() -> Vec<u8> {
    let mut frame = Vec::new();
    super::wire::request_head(&mut frame, 1, "plugin.HandleEvent");
    super::wire::handle_event_param(&mut frame, 123_456_789, "access");
    frame
}

/// How long `-dump-all-plugins` takes with `count` plugins: the median of 5 runs.
pub struct Dump {
    /// Plugins in the directory.
    pub plugins: usize,
    /// Plugins the dump listed.
    pub listed: usize,
    /// Median wall time.
    pub median: Duration,
}

fn time_dump(binary: &Path, dir: &Path, hello: &Path, count: usize) -> anyhow::Result<Dump> {
    let plugins = dir.join("dump-plugins");
    std::fs::create_dir_all(&plugins)?;
    let bytes = std::fs::read(hello)?;
    for i in 0..count {
        // Same length as "hello", so every offset in the file stays valid.
        let name = format!("h{i:04}");
        let renamed = crate::fixtures::replace_all(&bytes, b"hello", name.as_bytes());
        std::fs::write(plugins.join(format!("{name}.so")), renamed)?;
    }
    let mut times = Vec::new();
    let mut listed = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let out = Command::new(binary)
            .arg("-plugins-directory")
            .arg(&plugins)
            .arg("-dump-all-plugins")
            .output()?;
        times.push(started.elapsed());
        anyhow::ensure!(
            out.status.success(),
            "-dump-all-plugins failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dumped: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        listed = dumped.as_array().map_or(0, Vec::len);
    }
    times.sort_unstable();
    Ok(Dump {
        plugins: count,
        listed,
        median: times[times.len() / 2],
    })
}

/// Ticks of CPU time stolen by the hypervisor so far (`steal` in `/proc/stat`).
fn steal_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().next()?.split_whitespace().nth(8)?.parse().ok()
}

/// CPU model and count, and the kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} × {model}, Linux {}", kernel.trim())
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

fn cpu(p: &Point) -> String {
    p.cpu_per_event.map_or("–".into(), us)
}

fn cpu_ratio(a: &Point, b: &Point) -> String {
    match (a.cpu_per_event, b.cpu_per_event) {
        (Some(a), Some(b)) => ratio(a.as_secs_f64(), b.as_secs_f64()),
        _ => "–".into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn render(
    bench: &Bench,
    workloads: &[Workload],
    echo: &[Point],
    points: &[Vec<(Point, Point, Point)>],
    blocking: &Blocking,
    storms: &[storm::Build],
    crashes: &[crash::Build],
    rate_limit: &RateLimit,
    introspection: &Introspection,
    metrics: &MetricsCost,
    memory: &Memory,
    dump: &Dump,
    spread: &Spread,
    embedded: Option<&Embedded>,
    dialects: &Dialects,
    steal: Option<f64>,
) -> String {
    let mut out = String::new();
    out.push_str("# pluginhost benchmark\n\n");
    out.push_str(&format!(
        "Measured {} on {}; {} rounds of {:.1} s per point, medians; {} of the CPU time was \
         stolen by the hypervisor during the run.\n\n",
        rfc3339_now(),
        machine(),
        bench.rounds,
        bench.measure.as_secs_f64(),
        steal.map_or("an unknown share".into(), |s| format!("{:.0} %", s * 100.0)),
    ));
    out.push_str("## Baseline: one Unix-socket round trip (echo)\n\n");
    let rows: Vec<Vec<String>> = echo
        .iter()
        .map(|p| {
            vec![
                p.in_flight.to_string(),
                k(p.rpcs_per_s),
                us(p.p50),
                us(p.p99),
            ]
        })
        .collect();
    out.push_str(&table(
        &["in flight", "round trips/s", "p50 µs", "p99 µs"],
        &rows,
    ));
    for (w, pts) in workloads.iter().zip(points) {
        out.push_str(&format!("\n## {}\n\n", w.title));
        let rows: Vec<Vec<String>> = pts
            .iter()
            .map(|(mock, host, single)| {
                vec![
                    host.in_flight.to_string(),
                    k(mock.events_per_s),
                    k(host.events_per_s),
                    format!("**{}**", ratio(host.events_per_s, mock.events_per_s)),
                    k(single.events_per_s),
                    format!("**{}**", ratio(host.events_per_s, single.events_per_s)),
                    us(mock.p50),
                    us(host.p50),
                    us(host.p99),
                    cpu(mock),
                    cpu(host),
                    cpu(single),
                    cpu_ratio(host, single),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "in flight",
                "mock events/s",
                "pluginhost events/s",
                "÷ mock",
                "one thread events/s",
                "÷ one thread",
                "mock p50 µs",
                "pluginhost p50 µs",
                "pluginhost p99 µs",
                "mock CPU µs/event",
                "pluginhost CPU µs/event",
                "one thread CPU µs/event",
                "CPU ÷ one thread",
            ],
            &rows,
        ));
    }
    out.push_str("\n## Every core serves: hello from several Kong-like processes\n\n");
    out.push_str(&spread.table());
    out.push_str("\n## Handlers that block or compute (pluginhost, default threads)\n\n");
    out.push_str(&blocking.table());
    out.push_str("\n## A service that hangs, and one that is slow\n\n");
    out.push_str(&storm::render(storms));
    out.push_str("\n## A plugin that aborts the process\n\n");
    out.push_str(&crash::render(crashes));
    out.push_str(
        "\n## rate-limit: counting locally and in Redis (pluginhost, default threads)\n\n",
    );
    out.push_str(&rate_limit.table());
    out.push_str(
        "\n## token-introspection: answers from the shared cache, and every token introspected \
         (pluginhost, default threads)\n\n",
    );
    out.push_str(&introspection.table());
    if let Some(embedded) = embedded {
        out.push_str("\n## One plugin per process: hello embedded beside hello in pluginhost\n\n");
        out.push_str(&embedded.table());
    }
    out.push_str(
        "\n## The two dialects: hello over MsgPack:1 and over ProtoBuf:1 (pluginhost)\n\n",
    );
    out.push_str(&dialects.table());
    out.push_str("\n## Metrics on (scraped) and off: hello (pluginhost, default threads)\n\n");
    out.push_str(&metrics.table());
    out.push_str("\n## Targets (hello)\n\n");
    let hello = &points[0];
    let at = |n: usize| {
        hello
            .iter()
            .find(|(_, h, _)| h.in_flight == n)
            .map(|(m, h, _)| (m, h))
    };
    let rtt = echo.iter().find(|p| p.in_flight == 1).map(|p| p.p50);
    let mut rows = Vec::new();
    for n in [16, 64] {
        if let Some((mock, host)) = at(n) {
            let r = host.events_per_s / mock.events_per_s;
            rows.push(vec![
                format!("events/s at {n} in flight, ÷ mock"),
                "≥ 0.90".into(),
                format!("{r:.2}"),
                verdict(r >= 0.90),
            ]);
        }
    }
    if let (Some((mock, host)), Some(rtt)) = (at(1), rtt) {
        let r = host.p50.as_secs_f64() / rtt.as_secs_f64();
        let m = mock.p50.as_secs_f64() / rtt.as_secs_f64();
        rows.push(vec![
            "p50 at 1 in flight, ÷ one socket round trip".into(),
            "≤ 3.0".into(),
            format!("{r:.2} (mock: {m:.2})"),
            verdict(r <= 3.0),
        ]);
    }
    if let Some((_, host)) = at(16)
        && let Some(c) = host.cpu_per_event
    {
        rows.push(vec![
            "server CPU per event, 16 in flight".into(),
            "≤ 16 µs".into(),
            format!("{} µs", us(c)),
            verdict(c <= Duration::from_micros(16)),
        ]);
    }
    if let Some((mock, host)) = at(16)
        && let (Some(m), Some(h)) = (mock.cpu_per_event, host.cpu_per_event)
    {
        let r = h.as_secs_f64() / m.as_secs_f64();
        rows.push(vec![
            "server CPU per event, 16 in flight, ÷ mock".into(),
            "≤ 1.15".into(),
            format!("{r:.2}"),
            verdict(r <= 1.15),
        ]);
    }
    for (w, pts) in workloads.iter().zip(points) {
        for (_, host, single) in pts {
            let r = host.events_per_s / single.events_per_s;
            rows.push(vec![
                format!(
                    "{}, {} in flight: events/s ÷ one thread",
                    w.title, host.in_flight
                ),
                "≥ 0.95".into(),
                format!("{r:.2}"),
                verdict(r >= 0.95),
            ]);
            if let (Some(h), Some(s)) = (host.cpu_per_event, single.cpu_per_event) {
                let r = h.as_secs_f64() / s.as_secs_f64();
                rows.push(vec![
                    format!(
                        "{}, {} in flight: CPU/event ÷ one thread",
                        w.title, host.in_flight
                    ),
                    "≤ 1.05".into(),
                    format!("{r:.2}"),
                    verdict(r <= 1.05),
                ]);
            }
        }
    }
    for p in &blocking.blocked {
        let r = p.events_per_s / blocking::blocking_ideal(p.in_flight);
        rows.push(vec![
            format!("10 ms blocking handler, {} in flight, ÷ ideal", p.in_flight),
            "≥ 0.92".into(),
            format!("{r:.2}"),
            verdict(r >= 0.92),
        ]);
    }
    let beside = blocking.hello_beside.events_per_s / blocking.hello_alone.events_per_s;
    rows.push(vec![
        "hello beside the blocking handler: events/s ÷ alone".into(),
        "≥ 0.90".into(),
        format!("{beside:.2}"),
        verdict(beside >= 0.90),
    ]);
    let p99 = blocking.hello_beside.p99.as_secs_f64() / blocking.hello_alone.p99.as_secs_f64();
    rows.push(vec![
        "hello beside the blocking handler: p99 ÷ alone".into(),
        "≤ 1.5".into(),
        format!("{p99:.2}"),
        verdict(p99 <= 1.5),
    ]);
    if let Some(this) = storms.first() {
        for (what, (before, during)) in [
            ("another plugin", this.other),
            ("another instance", this.sibling),
        ] {
            let r = during / before;
            rows.push(vec![
                format!("a storm of hung events: {what}'s events/s during ÷ before"),
                "≥ 0.8".into(),
                format!("{r:.2}"),
                verdict(r >= 0.8),
            ]);
        }
        let r = this.slow.events_per_s() / this.slow_ideal;
        rows.push(vec![
            format!(
                "a slow service, {} in flight: events/s ÷ ideal, none failed",
                this.slow.in_flight
            ),
            "≥ 0.85, 0".into(),
            format!("{r:.2}, {}", this.slow.failed + this.slow.given_up),
            verdict(r >= 0.85 && this.slow.failed + this.slow.given_up == 0),
        ]);
    }
    rows.push(vec![
        "200 µs computing handler, 16 in flight".into(),
        "≥ 7000 events/s".into(),
        k(blocking.computing.events_per_s),
        verdict(blocking.computing.events_per_s >= 7000.0),
    ]);
    for (i, n) in metrics_cost::IN_FLIGHT.iter().enumerate() {
        let (rate, cpu) = metrics.cost(i);
        let limit = metrics_cost::MAX_COST;
        rows.push(vec![
            format!("metrics on, hello at {n} in flight: events/s lost"),
            format!("≤ {:.0} %", limit * 100.0),
            format!("{:.1} %", rate * 100.0),
            verdict(rate <= limit),
        ]);
        if let Some(cpu) = cpu {
            rows.push(vec![
                format!("metrics on, hello at {n} in flight: CPU/event added"),
                format!("≤ {:.0} %", limit * 100.0),
                format!("{:.1} %", cpu * 100.0),
                verdict(cpu <= limit),
            ]);
        }
    }
    if let Some(p) = spread.points.first()
        && let Some(share) = p.busiest_share
    {
        rows.push(vec![
            format!(
                "hello from {} processes, {} in flight: busiest thread's share of the CPU",
                spread.clients, spread.in_flight
            ),
            "≤ 0.60".into(),
            format!("{share:.2}"),
            verdict(share <= 0.6),
        ]);
    }
    for other in spread.points.iter().skip(1) {
        let ours = &spread.points[0];
        let r = ours.events_per_s / other.events_per_s;
        rows.push(vec![
            format!(
                "hello from {} processes: events/s ÷ {}",
                spread.clients, other.label
            ),
            "≥ 0.95".into(),
            format!("{r:.2}"),
            verdict(r >= 0.95),
        ]);
        if let (Some(a), Some(b)) = (ours.cpu_per_event, other.cpu_per_event) {
            let r = a.as_secs_f64() / b.as_secs_f64();
            rows.push(vec![
                format!(
                    "hello from {} processes: CPU/event ÷ {}",
                    spread.clients, other.label
                ),
                "≤ 1.05".into(),
                format!("{r:.2}"),
                verdict(r <= 1.05),
            ]);
        }
    }
    if let Some((_, idle)) = spread.idle.first() {
        rows.push(vec![
            "idle: wake-ups per second".into(),
            "≤ 10".into(),
            format!("{:.1}", idle.wakeups_per_s),
            verdict(idle.wakeups_per_s <= 10.0),
        ]);
    }
    if let Some(b) = &spread.burst {
        rows.push(vec![
            format!("cold burst of {} events: threads started", b.connections),
            "bounded (≤ 4 per serving thread)".into(),
            (b.threads_peak.saturating_sub(b.threads_before)).to_string(),
            verdict(
                b.threads_peak.saturating_sub(b.threads_before) as usize
                    <= 4 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
        ]);
    }
    for (n, rate, cpu) in embedded.map(Embedded::ratios).unwrap_or_default() {
        rows.push(vec![
            format!("hello embedded at {n} in flight: events/s ÷ shared"),
            "≥ 0.90".into(),
            format!("{rate:.2}"),
            verdict(rate >= 0.9),
        ]);
        if let Some(cpu) = cpu {
            rows.push(vec![
                format!("hello embedded at {n} in flight: CPU/event ÷ shared"),
                "≤ 1.10".into(),
                format!("{cpu:.2}"),
                verdict(cpu <= 1.1),
            ]);
        }
    }
    for (n, rate, cpu, syscalls) in dialects.ratios() {
        rows.push(vec![
            format!("hello over ProtoBuf:1 at {n} in flight: events/s ÷ MsgPack:1"),
            "≥ 0.90".into(),
            format!("{rate:.2}"),
            verdict(rate >= 0.9),
        ]);
        if let Some(cpu) = cpu {
            rows.push(vec![
                format!("hello over ProtoBuf:1 at {n} in flight: CPU/event ÷ MsgPack:1"),
                "≤ 1.10".into(),
                format!("{cpu:.2}"),
                verdict(cpu <= 1.1),
            ]);
        }
        if let Some(syscalls) = syscalls {
            rows.push(vec![
                format!("hello over ProtoBuf:1 at {n} in flight: syscalls/event ÷ MsgPack:1"),
                "≤ 1.10".into(),
                format!("{syscalls:.2}"),
                verdict(syscalls <= 1.1),
            ]);
        }
    }
    rows.push(vec![
        format!("RSS, {} abandoned events → reaped", memory.abandoned),
        "bounded, all reaped".into(),
        memory.summary(),
        verdict(memory.bounded()),
    ]);
    rows.push(vec![
        format!("-dump-all-plugins, {} plugins", dump.plugins),
        "< 300 ms".into(),
        format!(
            "{:.0} ms ({} listed)",
            dump.median.as_secs_f64() * 1e3,
            dump.listed
        ),
        verdict(dump.median < Duration::from_millis(300) && dump.listed == dump.plugins),
    ]);
    out.push_str(&table(&["figure", "target", "measured", "holds"], &rows));
    out.push_str(&format!("\n## Memory\n\n{}", memory.table()));
    out
}

fn verdict(holds: bool) -> String {
    if holds { "yes" } else { "**no**" }.into()
}

/// The current UTC time.
fn rfc3339_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
