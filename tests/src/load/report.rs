//! The Markdown report of a benchmark.

use std::{fmt::Write, time::Duration};

use super::client::Figures;

/// Medians of the rounds of one server, exchange and load.
#[derive(Debug, Clone)]
pub struct Point {
    /// Events in flight.
    pub in_flight: usize,
    /// Median events/s.
    pub events_per_s: f64,
    /// Median RPC/s.
    pub rpcs_per_s: f64,
    /// Median p50.
    pub p50: Duration,
    /// Median p99.
    pub p99: Duration,
    /// Median server CPU per event.
    pub cpu_per_event: Option<Duration>,
}

impl Point {
    /// The medians of `rounds` (each figure on its own: they need not come from one round).
    pub fn median_of(rounds: &[Figures]) -> Point {
        let mut rates: Vec<f64> = rounds.iter().map(Figures::events_per_s).collect();
        let mut rpcs: Vec<f64> = rounds.iter().map(Figures::rpcs_per_s).collect();
        let mut p50: Vec<Duration> = rounds.iter().map(|f| f.p50).collect();
        let mut p99: Vec<Duration> = rounds.iter().map(|f| f.p99).collect();
        let mut cpu: Vec<Duration> = rounds
            .iter()
            .filter_map(|f| f.server_cpu_per_event)
            .collect();
        Point {
            in_flight: rounds.first().map_or(0, |f| f.in_flight),
            events_per_s: median_f64(&mut rates),
            rpcs_per_s: median_f64(&mut rpcs),
            p50: median(&mut p50),
            p99: median(&mut p99),
            cpu_per_event: (!cpu.is_empty()).then(|| median(&mut cpu)),
        }
    }
}

fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// Microseconds with one decimal.
pub fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Thousands of events with one decimal.
pub fn k(rate: f64) -> String {
    format!("{:.1} k", rate / 1000.0)
}

/// A Markdown table from a header and rows.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header.iter().map(|_| "---|").collect::<String>()
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_tables() {
        let f = |rate: u64, p50: u64| Figures {
            in_flight: 4,
            events: rate,
            rpcs: rate * 3,
            seconds: 1.0,
            p50: Duration::from_micros(p50),
            p99: Duration::from_micros(p50 * 2),
            server_cpu_per_event: Some(Duration::from_micros(10)),
            client_cpu_per_event: None,
            connections: 4,
            bytes_to_server: 0,
            bytes_from_server: 0,
            given_up: 0,
            failed: 0,
        };
        let point = Point::median_of(&[f(100, 9), f(300, 1), f(200, 5)]);
        assert_eq!(point.events_per_s, 200.0);
        assert_eq!(point.rpcs_per_s, 600.0);
        assert_eq!(point.p50, Duration::from_micros(5));
        assert_eq!(point.in_flight, 4);
        let t = table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| 1 | 2 |\n");
    }
}
