//! The `token-introspection` sample against an introspection endpoint on loopback: every
//! token answered from the shared cache (a hit), and every token introspected (a miss:
//! `cache_seconds = 0`), at 16 and 64 events in flight, with hello beside them as the cost of
//! a plugin that calls nothing.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

use serde_json::json;

use super::{
    bench::start_pluginhost,
    client::{self, Figures, Load},
    report::{Point, k, table, us},
};

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

/// An RFC 7662 endpoint on loopback that finds every token active, keeps connections open,
/// and counts the requests it answers.
fn endpoint() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/introspect", listener.local_addr()?);
    let asked = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&asked);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut reader = BufReader::new(stream);
                let body = br#"{"active":true,"sub":"u-1","scope":"read","exp":4102444800}"#;
                let mut response =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len())
                        .into_bytes();
                response.extend_from_slice(body);
                let mut line = String::new();
                loop {
                    let mut length = 0;
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {
                                if let Some(n) =
                                    line.to_ascii_lowercase().strip_prefix("content-length:")
                                {
                                    length = n.trim().parse().unwrap_or(0);
                                }
                            }
                        }
                    }
                    if reader.read_exact(&mut vec![0; length]).is_err()
                        || reader.get_mut().write_all(&response).is_err()
                    {
                        return;
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    Ok((url, asked))
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
    let (url, asked) = endpoint()?;
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
            let (mut events, before) = (0, asked.load(Ordering::Relaxed));
            for _ in 0..rounds {
                let mut load = Load::access(&host.socket, host.pid(), instance, in_flight, measure);
                // Every event counted, so that the endpoint's requests divide by them.
                load.warmup = Duration::ZERO;
                load.authorization = token.map(|t| format!("Bearer {t}"));
                let round = client::run(&load)?;
                events += round.events;
                figures.push(round);
            }
            let asked = asked.load(Ordering::Relaxed) - before;
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
