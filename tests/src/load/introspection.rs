//! The `token-introspection` sample against an introspection endpoint on loopback: every
//! token answered from the shared cache (a hit), and every token introspected (a miss:
//! `cache_seconds = 0`), at 16 and 64 events in flight, with hello beside them as the cost of
//! a plugin that calls nothing.

use std::{path::Path, time::Duration};

use serde_json::json;

use super::{
    bench::start_pluginhost,
    client::{self, Figures, Load},
    report::{Point, k, table, us},
};
use crate::introspection::Endpoint;

/// Events in flight measured.
pub const IN_FLIGHT: [usize; 2] = [16, 64];

/// One case at each of [`IN_FLIGHT`], with the endpoint's requests per event.
pub struct Case {
    pub points: Vec<Point>,
    pub asked_per_event: Vec<f64>,
}

/// The sample's figures beside hello's.
pub struct Introspection {
    pub hello: Vec<Point>,
    pub hit: Case,
    pub miss: Case,
}

/// Measures a pluginhost serving `plugin` (the built token-introspection) and `hello`.
pub fn measure(
    pluginhost: &Path,
    dir: &Path,
    plugin: &Path,
    hello: &Path,
    rounds: usize,
    measure: Duration,
) -> anyhow::Result<Introspection> {
    let plugins = dir.join("introspection-plugins");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(plugin, plugins.join("token-introspection.so"))?;
    std::fs::copy(hello, plugins.join("hello.so"))?;
    let endpoint =
        Endpoint::answering(r#"{"active":true,"sub":"u-1","scope":"read","exp":4102444800}"#)?;
    let url = &endpoint.url;
    let host = start_pluginhost(pluginhost, dir, "introspection", &plugins, &[])?;
    let config = |cache_seconds: u32| {
        json!({"introspection_url": url, "client_id": "gateway", "client_secret": "s",
               "cache_seconds": cache_seconds})
    };
    let hit = client::start_instance(&host.socket, "token-introspection", &config(3600))?;
    let miss = client::start_instance(&host.socket, "token-introspection", &config(0))?;
    let hello = client::start_instance(&host.socket, "hello", &json!({}))?;
    let case = |instance: u64, token: Option<&str>| -> anyhow::Result<Case> {
        let mut points = Vec::new();
        let mut asked_per_event = Vec::new();
        for in_flight in IN_FLIGHT {
            let mut figures: Vec<Figures> = Vec::new();
            let (mut events, before) = (0, endpoint.asked());
            for _ in 0..rounds {
                let mut load = Load::access(&host.socket, host.pid(), instance, in_flight, measure);
                // Every event counted, so that the endpoint's requests divide by them.
                load.warmup = Duration::ZERO;
                load.authorization = token.map(|t| format!("Bearer {t}"));
                let round = client::run(&load)?;
                events += round.events;
                figures.push(round);
            }
            let asked = endpoint.asked() - before;
            asked_per_event.push(asked as f64 / events.max(1) as f64);
            points.push(Point::median_of(&figures));
        }
        Ok(Case {
            points,
            asked_per_event,
        })
    };
    // The hit's one token is introspected once, before measuring.
    client::run(&Load {
        authorization: Some("Bearer t-1".into()),
        ..Load::access(&host.socket, host.pid(), hit, 1, Duration::from_millis(50))
    })?;
    Ok(Introspection {
        hello: case(hello, None)?.points,
        hit: case(hit, Some("t-1"))?,
        miss: case(miss, Some("t-2"))?,
    })
}

impl Introspection {
    /// The report's section.
    pub fn table(&self) -> String {
        let rows: Vec<Vec<String>> = IN_FLIGHT
            .iter()
            .enumerate()
            .map(|(i, in_flight)| {
                let (hello, hit, miss) =
                    (&self.hello[i], &self.hit.points[i], &self.miss.points[i]);
                vec![
                    in_flight.to_string(),
                    k(hello.events_per_s),
                    k(hit.events_per_s),
                    us(hit.p99),
                    format!("{:.2}", self.hit.asked_per_event[i]),
                    k(miss.events_per_s),
                    us(miss.p99),
                    format!("{:.2}", self.miss.asked_per_event[i]),
                    format!("{:.2}", hit.events_per_s / hello.events_per_s),
                ]
            })
            .collect();
        table(
            &[
                "in flight",
                "hello events/s",
                "hit events/s",
                "hit p99 µs",
                "hit: asked per event",
                "miss events/s",
                "miss p99 µs",
                "miss: asked per event",
                "hit ÷ hello",
            ],
            &rows,
        )
    }
}
