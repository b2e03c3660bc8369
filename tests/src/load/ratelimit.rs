//! `rate-limit` counting in this process (`policy = local`) beside counting in a real
//! redis-server on a Unix socket (`policy = redis`), at 16 and 64 events in flight: what one
//! Redis round trip per request costs, with the limit never reached.

use std::{path::Path, time::Duration};

use serde_json::json;

use super::{
    bench::start_pluginhost,
    client::{self, Figures, Load},
    report::{Point, k, table, us},
};
use crate::redis::RedisServer;

/// Events in flight measured.
pub const IN_FLIGHT: [usize; 2] = [16, 64];

/// The two policies' points, at each of [`IN_FLIGHT`].
pub struct RateLimit {
    /// `policy = local`.
    pub local: Vec<Point>,
    /// `policy = redis`.
    pub redis: Vec<Point>,
}

/// Measures a pluginhost serving `plugin` (the built rate-limit) in `dir`.
pub fn measure(
    pluginhost: &Path,
    dir: &Path,
    plugin: &Path,
    rounds: usize,
    measure: Duration,
) -> anyhow::Result<RateLimit> {
    let plugins = dir.join("rate-limit-plugins");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(plugin, plugins.join("rate-limit.so"))?;
    let redis = RedisServer::start();
    let host = start_pluginhost(pluginhost, dir, "rate-limit", &plugins, &[])?;
    // A limit never reached: every request is counted and let through.
    let config = |policy: &str| {
        json!({
            "limit": 4_000_000_000u32,
            "limit_by": "ip",
            "policy": policy,
            "redis": {"path": redis.socket()},
        })
    };
    let local = client::start_instance(&host.socket, "rate-limit", &config("local"))?;
    let in_redis = client::start_instance(&host.socket, "rate-limit", &config("redis"))?;
    let points = |instance: u64| -> anyhow::Result<Vec<Point>> {
        IN_FLIGHT
            .iter()
            .map(|&in_flight| {
                let figures: Vec<Figures> = (0..rounds)
                    .map(|_| {
                        client::run(&Load::access(
                            &host.socket,
                            host.pid(),
                            instance,
                            in_flight,
                            measure,
                        ))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Point::median_of(&figures))
            })
            .collect()
    };
    Ok(RateLimit {
        local: points(local)?,
        redis: points(in_redis)?,
    })
}

impl RateLimit {
    /// The report's section.
    pub fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .local
            .iter()
            .zip(&self.redis)
            .map(|(local, redis)| {
                vec![
                    local.in_flight.to_string(),
                    k(local.events_per_s),
                    us(local.p99),
                    k(redis.events_per_s),
                    us(redis.p99),
                    format!("{:.2}", redis.events_per_s / local.events_per_s),
                ]
            })
            .collect();
        table(
            &[
                "in flight",
                "local events/s",
                "local p99 µs",
                "redis events/s",
                "redis p99 µs",
                "redis ÷ local",
            ],
            &rows,
        )
    }
}
