//! The benchmark's handlers that block or compute (the `blocker` test plugin), each against
//! its ideal: a 10 ms blocking handler at 16 and 64 in flight (ideal: in flight ÷ 10 ms),
//! hello beside that blocking load (against hello alone), and a handler computing 200 µs per
//! event at 16 in flight (against one core's 5000 events/s).

use std::{thread, time::Duration};

use serde_json::json;

use super::{
    children::ServerProcess,
    client::{self, Figures, Load},
    report::{Point, k, table, us},
};

/// How long the blocking handler waits.
pub const BLOCK: Duration = Duration::from_millis(10);

/// How long the computing handler computes.
pub const COMPUTE: Duration = Duration::from_micros(200);

/// What the blocking and computing loads gave.
pub struct Blocking {
    /// `(in flight, the 10 ms handler's point)`.
    pub blocked: Vec<Point>,
    /// hello at 16 in flight alone, and beside the 10 ms handler at 16 in flight.
    pub hello_alone: Point,
    /// See `hello_alone`.
    pub hello_beside: Point,
    /// The 200 µs handler at 16 in flight.
    pub computing: Point,
}

/// Measures the loads on `host` (serving `blocker` and `hello`), `rounds` rounds of `measure`.
pub fn measure(host: &ServerProcess, rounds: usize, measure: Duration) -> anyhow::Result<Blocking> {
    let socket = &host.socket;
    let start = |config| client::start_instance(socket, "blocker", &config);
    let sleeper = start(json!({"mode": "sleep", "ms": BLOCK.as_millis()}))?;
    let spinner = start(json!({"mode": "spin", "us": COMPUTE.as_micros()}))?;
    let hello = client::start_instance(socket, "hello", &json!({}))?;
    let load = |instance: u64, in_flight: usize| {
        Load::access(socket, host.pid(), instance, in_flight, measure)
    };
    let mut blocked = Vec::new();
    for n in [16, 64] {
        let figures: Vec<Figures> = (0..rounds)
            .map(|_| client::run(&load(sleeper, n)))
            .collect::<Result<_, _>>()?;
        blocked.push(Point::median_of(&figures));
    }
    let mut alone = Vec::new();
    let mut beside = Vec::new();
    for _ in 0..rounds {
        alone.push(client::run(&load(hello, 16))?);
        // Two Kong workers at once: one sending the blocking events, one hello's.
        let (blocking, hello) = thread::scope(|s| {
            let blocking = s.spawn(|| client::run(&load(sleeper, 16)));
            let hello = client::run(&load(hello, 16));
            (blocking.join(), hello)
        });
        blocking.map_err(|_| anyhow::anyhow!("the blocking load panicked"))??;
        beside.push(hello?);
    }
    let computing: Vec<Figures> = (0..rounds)
        .map(|_| client::run(&load(spinner, 16)))
        .collect::<Result<_, _>>()?;
    Ok(Blocking {
        blocked,
        hello_alone: Point::median_of(&alone),
        hello_beside: Point::median_of(&beside),
        computing: Point::median_of(&computing),
    })
}

/// The ideal events/s of the blocking handler at `in_flight`.
pub fn blocking_ideal(in_flight: usize) -> f64 {
    in_flight as f64 / BLOCK.as_secs_f64()
}

/// One core's ideal events/s for the computing handler.
pub fn one_core_ideal() -> f64 {
    1.0 / COMPUTE.as_secs_f64()
}

impl Blocking {
    /// The report's section.
    pub fn table(&self) -> String {
        let mut rows = Vec::new();
        for p in &self.blocked {
            let ideal = blocking_ideal(p.in_flight);
            rows.push(vec![
                format!(
                    "handler blocking {} ms, {} in flight",
                    BLOCK.as_millis(),
                    p.in_flight
                ),
                k(ideal),
                k(p.events_per_s),
                format!("{:.2}", p.events_per_s / ideal),
                us(p.p99),
            ]);
        }
        rows.push(vec![
            "hello, 16 in flight, alone".into(),
            "–".into(),
            k(self.hello_alone.events_per_s),
            "–".into(),
            us(self.hello_alone.p99),
        ]);
        rows.push(vec![
            "hello, 16 in flight, beside the blocking handler at 16".into(),
            k(self.hello_alone.events_per_s),
            k(self.hello_beside.events_per_s),
            format!(
                "{:.2}",
                self.hello_beside.events_per_s / self.hello_alone.events_per_s
            ),
            us(self.hello_beside.p99),
        ]);
        rows.push(vec![
            format!("handler computing {} µs, 16 in flight", COMPUTE.as_micros()),
            format!("{} (one core)", k(one_core_ideal())),
            k(self.computing.events_per_s),
            format!("{:.2}", self.computing.events_per_s / one_core_ideal()),
            us(self.computing.p99),
        ]);
        table(
            &["load", "ideal events/s", "events/s", "÷ ideal", "p99 µs"],
            &rows,
        )
    }
}
