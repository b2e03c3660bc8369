//! hello served over MsgPack:1 and over ProtoBuf:1 by the same pluginhost build, side by side:
//! events/s, the server's CPU per event, and what the kernel counts of its I/O per event
//! (read and write system calls, bytes read from and written to Kong). The bytes are what
//! Kong's side writes and reads for each event, so they show the dialect's cost to Kong too.

use std::{path::Path, time::Duration};

use serde_json::json;

use super::{
    bench::start_pluginhost,
    children::ServerProcess,
    client::{self, Exchange, Figures, KONG_POOL_SIZE, Load},
    report::{k, table, us},
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
    /// The server's read and write system calls per event.
    pub syscalls_per_event: Option<f64>,
    /// Bytes the server read (Kong wrote) per event.
    pub bytes_in_per_event: Option<f64>,
    /// Bytes the server wrote (Kong read) per event.
    pub bytes_out_per_event: Option<f64>,
}

/// Both dialects.
#[derive(Debug, Clone)]
pub struct Dialects {
    /// MsgPack:1 rows, then ProtoBuf:1 rows, each in [`IN_FLIGHT`] order.
    pub rows: Vec<Row>,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

impl Row {
    fn of(dialect: &'static str, rounds: &[Figures]) -> Row {
        let per_event = |f: &Figures, n: u64| n as f64 / f.events.max(1) as f64;
        let io = |pick: fn(&super::procfs::Io) -> u64| {
            median(
                rounds
                    .iter()
                    .filter_map(|f| f.server_io.as_ref().map(|io| per_event(f, pick(io))))
                    .collect(),
            )
        };
        Row {
            dialect,
            in_flight: rounds.first().map_or(0, |f| f.in_flight),
            events_per_s: median(rounds.iter().map(Figures::events_per_s).collect()).unwrap_or(0.0),
            cpu_per_event: median(
                rounds
                    .iter()
                    .filter_map(|f| f.server_cpu_per_event.map(|d| d.as_secs_f64()))
                    .collect(),
            )
            .map(Duration::from_secs_f64),
            syscalls_per_event: io(|io| io.syscr + io.syscw),
            bytes_in_per_event: io(|io| io.rchar),
            bytes_out_per_event: io(|io| io.wchar),
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
    let load = |server: &ServerProcess, exchange: Exchange, in_flight: usize| {
        client::run(&Load {
            socket: server.socket.clone(),
            in_flight,
            pool_size: KONG_POOL_SIZE,
            warmup: Duration::from_millis(300),
            measure,
            server_pid: Some(server.pid()),
            exchange,
        })
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
    Ok(Dialects {
        rows: m.into_iter().chain(p).collect(),
    })
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
                    opt(r.bytes_in_per_event, 0),
                    opt(r.bytes_out_per_event, 0),
                ]
            })
            .collect();
        table(
            &[
                "hello over",
                "in flight",
                "events/s",
                "CPU µs/event",
                "read+write syscalls/event",
                "bytes from Kong/event",
                "bytes to Kong/event",
            ],
            &rows,
        )
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
