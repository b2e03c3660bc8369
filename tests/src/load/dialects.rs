//! hello served over MsgPack:1 and over ProtoBuf:1 by the same pluginhost build, side by side:
//! events/s, the server's CPU and system calls per event (the kernel's count, see
//! [`super::syscalls`]), and the bytes Kong's side writes and reads per event, which is what
//! Kong encodes and decodes: the dialect's cost to Kong.

use std::{path::Path, time::Duration};

use serde_json::json;

use super::{
    bench::start_pluginhost,
    children::ServerProcess,
    client::{self, Exchange, Figures, KONG_POOL_SIZE, Load},
    report::{k, table, us},
    syscalls,
};

/// Events in flight measured.
pub const IN_FLIGHT: [usize; 3] = [1, 16, 64];

/// One dialect at one number of events in flight: medians of the rounds.
#[derive(Debug, Clone)]
pub struct Row {
    /// The dialect.
    pub dialect: &'static str,
    /// Events in flight.
    pub in_flight: usize,
    /// Events per second.
    pub events_per_s: f64,
    /// The server's CPU time per event.
    pub cpu_per_event: Option<Duration>,
    /// The server's system calls per event.
    pub syscalls_per_event: Option<f64>,
    /// Bytes Kong wrote per event.
    pub bytes_to_server: f64,
    /// Bytes Kong read per event.
    pub bytes_from_server: f64,
}

/// Both dialects.
#[derive(Debug, Clone)]
pub struct Dialects {
    /// MsgPack:1 rows, then ProtoBuf:1 rows, each in [`IN_FLIGHT`] order.
    pub rows: Vec<Row>,
    /// Why system calls were not counted, if they were not.
    pub no_syscalls: Option<String>,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

impl Row {
    fn of(dialect: &'static str, rounds: &[(Figures, Option<u64>)]) -> Row {
        let per_event = |f: &Figures, n: u64| n as f64 / f.events.max(1) as f64;
        Row {
            dialect,
            in_flight: rounds.first().map_or(0, |(f, _)| f.in_flight),
            events_per_s: median(rounds.iter().map(|(f, _)| f.events_per_s()).collect())
                .unwrap_or(0.0),
            cpu_per_event: median(
                rounds
                    .iter()
                    .filter_map(|(f, _)| f.server_cpu_per_event.map(|d| d.as_secs_f64()))
                    .collect(),
            )
            .map(Duration::from_secs_f64),
            syscalls_per_event: median(
                rounds
                    .iter()
                    .filter_map(|(f, n)| n.map(|n| per_event(f, n)))
                    .collect(),
            ),
            bytes_to_server: median(
                rounds
                    .iter()
                    .map(|(f, _)| per_event(f, f.bytes_to_server))
                    .collect(),
            )
            .unwrap_or(0.0),
            bytes_from_server: median(
                rounds
                    .iter()
                    .map(|(f, _)| per_event(f, f.bytes_from_server))
                    .collect(),
            )
            .unwrap_or(0.0),
        }
    }
}

/// Measures hello over both dialects, `rounds` rounds of `measure` each, alternating.
pub fn measure(
    pluginhost: &Path,
    hello_so: &Path,
    dir: &Path,
    rounds: usize,
    measure: Duration,
) -> anyhow::Result<Dialects> {
    let plugins = dir.join("hello-dialects");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(hello_so, plugins.join("hello.so"))?;
    let msgpack = start_pluginhost(pluginhost, dir, "msgpack", &plugins, &[])?;
    let protobuf = start_pluginhost(
        pluginhost,
        dir,
        "protobuf",
        &plugins,
        &["-protocol", "ProtoBuf:1"],
    )?;
    let on_msgpack = client::start_instance(&msgpack.socket, "hello", &json!({}))?;
    let on_protobuf = client::start_instance_protobuf(&protobuf.socket, "hello", &json!({}))?;
    // Warmed up first, then measured from the first event, so that the count of system
    // calls covers the window (and a little of its end) and nothing before it.
    let load = |server: &ServerProcess, exchange: Exchange, in_flight: usize| {
        let run = |warmup, measure| {
            client::run(&Load {
                socket: server.socket.clone(),
                in_flight,
                pool_size: KONG_POOL_SIZE,
                warmup,
                measure,
                server_pid: Some(server.pid()),
                authorization: None,
                exchange: exchange.clone(),
            })
        };
        run(Duration::from_millis(300), Duration::from_millis(50))?;
        let counter = syscalls::Counter::start(server.pid());
        let figures = run(Duration::ZERO, measure)?;
        Ok::<_, std::io::Error>((figures, counter.and_then(syscalls::Counter::stop)))
    };
    let mut rows = [Vec::new(), Vec::new()];
    for n in IN_FLIGHT {
        let mut of = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            of[0].push(load(
                &msgpack,
                Exchange::Event {
                    instance: on_msgpack,
                    phase: "access".into(),
                },
                n,
            )?);
            of[1].push(load(
                &protobuf,
                Exchange::ProtoBufEvent {
                    instance: on_protobuf,
                    phase: "access".into(),
                },
                n,
            )?);
        }
        rows[0].push(Row::of("MsgPack:1", &of[0]));
        rows[1].push(Row::of("ProtoBuf:1", &of[1]));
    }
    let [m, p] = rows;
    let rows: Vec<Row> = m.into_iter().chain(p).collect();
    let no_syscalls = if rows.iter().all(|r| r.syscalls_per_event.is_none()) {
        Some(
            syscalls::unavailable()
                .unwrap_or_else(|| "perf could not count this process's system calls here".into()),
        )
    } else {
        None
    };
    Ok(Dialects { rows, no_syscalls })
}

impl Dialects {
    /// The report's table.
    pub fn table(&self) -> String {
        let opt =
            |v: Option<f64>, digits: usize| v.map_or("–".into(), |v| format!("{v:.digits$}"));
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.dialect.to_owned(),
                    r.in_flight.to_string(),
                    k(r.events_per_s),
                    r.cpu_per_event.map_or("–".into(), us),
                    opt(r.syscalls_per_event, 1),
                    format!("{:.0}", r.bytes_to_server),
                    format!("{:.0}", r.bytes_from_server),
                ]
            })
            .collect();
        let mut out = table(
            &[
                "hello over",
                "in flight",
                "events/s",
                "CPU µs/event",
                "syscalls/event",
                "bytes Kong writes/event",
                "bytes Kong reads/event",
            ],
            &rows,
        );
        if let Some(why) = &self.no_syscalls {
            out.push_str(&format!("\nSystem calls not counted: {why}.\n"));
        }
        out
    }

    /// ProtoBuf:1 ÷ MsgPack:1 at each number in flight: (in flight, events/s, CPU/event,
    /// syscalls/event).
    pub fn ratios(&self) -> Vec<(usize, f64, Option<f64>, Option<f64>)> {
        let half = self.rows.len() / 2;
        let (m, p) = self.rows.split_at(half);
        m.iter()
            .zip(p)
            .map(|(m, p)| {
                let cpu = m
                    .cpu_per_event
                    .zip(p.cpu_per_event)
                    .map(|(m, p)| p.as_secs_f64() / m.as_secs_f64());
                let sys = m
                    .syscalls_per_event
                    .zip(p.syscalls_per_event)
                    .map(|(m, p)| p / m);
                (m.in_flight, p.events_per_s / m.events_per_s, cpu, sys)
            })
            .collect()
    }
}
