//! What metrics cost: hello on a pluginhost with `-metrics-listen`, scraped four times a
//! second (Prometheus' default is every 15 s), beside one without, at 16 and 64 in flight,
//! each round measuring one right after the other, the medians of twice the usual rounds.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;

use super::{
    bench::start_pluginhost,
    client::{self, Figures, Load},
    report::{Point, k, table, us},
};

/// Events in flight measured.
pub const IN_FLIGHT: [usize; 2] = [16, 64];

/// How often the scraper asks.
const SCRAPE_EVERY: Duration = Duration::from_millis(250);

/// The cost target: metrics on may cost this share of events/s and CPU per event at most.
pub const MAX_COST: f64 = 0.03;

/// Both servers' points at each of [`IN_FLIGHT`].
pub struct MetricsCost {
    /// Without `-metrics-listen`.
    pub off: Vec<Point>,
    /// With it, scraped all along.
    pub on: Vec<Point>,
    /// Scrapes answered while measuring.
    pub scrapes: usize,
    /// At each of [`IN_FLIGHT`]: the medians, over the pairs of rounds measured one right
    /// after the other, of on ÷ off for events/s and for CPU per event.
    pub paired: Vec<(f64, Option<f64>)>,
}

/// Measures hello (`plugins` holds it) on two servers in `dir`.
pub fn measure(
    pluginhost: &Path,
    dir: &Path,
    plugins: &Path,
    rounds: usize,
    measure: Duration,
) -> anyhow::Result<MetricsCost> {
    let off = start_pluginhost(pluginhost, dir, "metrics-off", plugins, &[])?;
    let on = start_pluginhost(
        pluginhost,
        dir,
        "metrics-on",
        plugins,
        &["-metrics-listen", "127.0.0.1:0"],
    )?;
    let address = address_in_log(&dir.join("metrics-on.log"))?;
    let on_instance = client::start_instance(&on.socket, "hello", &json!({}))?;
    let off_instance = client::start_instance(&off.socket, "hello", &json!({}))?;

    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicUsize::new(0));
    let scraper = {
        let (stop, scrapes) = (Arc::clone(&stop), Arc::clone(&scrapes));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if crate::metrics::get(&address, None).is_ok() {
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(SCRAPE_EVERY);
            }
        })
    };
    let mut cost = MetricsCost {
        off: Vec::new(),
        on: Vec::new(),
        scrapes: 0,
        paired: Vec::new(),
    };
    for in_flight in IN_FLIGHT {
        let (mut off_rounds, mut on_rounds): (Vec<Figures>, Vec<Figures>) = Default::default();
        // Twice the rounds, in turns which server goes first: the effect measured is smaller
        // than this machine's noise between two seconds.
        for round in 0..2 * rounds {
            let load = |server: &super::children::ServerProcess, instance| {
                client::run(&Load::access(
                    &server.socket,
                    server.pid(),
                    instance,
                    in_flight,
                    measure,
                ))
            };
            if round % 2 == 0 {
                off_rounds.push(load(&off, off_instance)?);
                on_rounds.push(load(&on, on_instance)?);
            } else {
                on_rounds.push(load(&on, on_instance)?);
                off_rounds.push(load(&off, off_instance)?);
            }
        }
        cost.paired.push(paired_ratios(&off_rounds, &on_rounds));
        cost.off.push(Point::median_of(&off_rounds));
        cost.on.push(Point::median_of(&on_rounds));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = scraper.join();
    cost.scrapes = scrapes.load(Ordering::Relaxed);
    anyhow::ensure!(cost.scrapes > 0, "the metrics endpoint never answered");
    Ok(cost)
}

/// The medians of on ÷ off over rounds measured in pairs: a burst of the machine's noise
/// moves both of a pair, and only a few pairs.
fn paired_ratios(off: &[Figures], on: &[Figures]) -> (f64, Option<f64>) {
    fn median(mut values: Vec<f64>) -> Option<f64> {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    }
    let pairs = || off.iter().zip(on);
    let rate = median(
        pairs()
            .map(|(a, b)| (b.events as f64 / b.seconds) / (a.events as f64 / a.seconds))
            .collect(),
    )
    .unwrap_or(f64::NAN);
    let cpu = median(
        pairs()
            .filter_map(|(a, b)| {
                let (a, b) = (a.server_cpu_per_event?, b.server_cpu_per_event?);
                Some(b.as_secs_f64() / a.as_secs_f64())
            })
            .collect(),
    );
    (rate, cpu)
}

/// The address a server started with `-metrics-listen 127.0.0.1:0` logged.
fn address_in_log(log: &Path) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(address) = text
            .lines()
            .filter(|l| l.contains("serving metrics at /metrics"))
            .find_map(|l| l.split("address=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
        {
            return Ok(address.to_owned());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no metrics address in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl MetricsCost {
    /// What metrics on cost at the `index`th of [`IN_FLIGHT`], from the paired rounds: the
    /// share of events/s lost, and of CPU per event added (`None` without CPU figures).
    pub fn cost(&self, index: usize) -> (f64, Option<f64>) {
        let (rate, cpu) = self.paired[index];
        (1.0 - rate, cpu.map(|c| c - 1.0))
    }

    /// The report's section.
    pub fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .off
            .iter()
            .zip(&self.on)
            .zip(&self.paired)
            .map(|((off, on), (rate, paired_cpu))| {
                let cpu = |p: &Point| p.cpu_per_event.map_or("-".into(), us);
                let cpu_ratio = off
                    .cpu_per_event
                    .zip(on.cpu_per_event)
                    .map_or("-".into(), |(a, b)| {
                        format!("{:.3}", b.as_secs_f64() / a.as_secs_f64())
                    });
                vec![
                    off.in_flight.to_string(),
                    k(off.events_per_s),
                    k(on.events_per_s),
                    format!("{:.3}", on.events_per_s / off.events_per_s),
                    us(off.p99),
                    us(on.p99),
                    cpu(off),
                    cpu(on),
                    cpu_ratio,
                    format!("{rate:.3}"),
                    paired_cpu.map_or("-".into(), |c| format!("{c:.3}")),
                ]
            })
            .collect();
        let mut out = table(
            &[
                "in flight",
                "off events/s",
                "on events/s",
                "on ÷ off",
                "off p99 µs",
                "on p99 µs",
                "off CPU µs/event",
                "on CPU µs/event",
                "CPU on ÷ off",
                "paired: events/s on ÷ off",
                "paired: CPU on ÷ off",
            ],
            &rows,
        );
        out.push_str(&format!(
            "\n{} scrapes answered while measuring (one every {} ms).\n",
            self.scrapes,
            SCRAPE_EVERY.as_millis()
        ));
        out
    }
}
