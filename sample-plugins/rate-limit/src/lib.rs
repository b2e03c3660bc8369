//! `rate-limit`: at most `limit` requests per window, counted per consumer or per client IP.
//! Every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; past
//! the limit the request ends with `429` and `Retry-After`.
//!
//! Kong starts one instance of a plugin per configuration in each of its workers, all served
//! by this one process. The counters are therefore kept process-wide, keyed by the route and
//! the configuration, so that every worker counts against the same limit.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
};

use plugin_abi::{HandlerResult, Kong, PdkResult, Plugin, pdk::MultiMap, serde::Serialize};

/// The plugin's configuration.
#[plugin_abi::config]
pub struct Config {
    /// How many requests each consumer or client may make per window.
    #[schemars(range(min = 1))]
    pub limit: u32,
    /// The length of a window, in seconds.
    #[serde(default = "default_window")]
    #[schemars(range(min = 1, max = 86400))]
    pub window_seconds: u32,
    /// Whom the limit applies to; requests without a consumer are counted by client IP.
    #[serde(default)]
    pub limit_by: LimitBy,
}

fn default_window() -> u32 {
    60
}

/// Whom a limit applies to.
#[plugin_abi::config]
#[derive(Serialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum LimitBy {
    /// The authenticated consumer (the client IP when there is none).
    #[default]
    Consumer,
    /// The client's IP address.
    Ip,
}

/// One fixed window of one counter.
struct Window {
    start: u64,
    count: u32,
}

/// Counters shared by every instance in this process: key → current window.
static COUNTERS: LazyLock<Mutex<HashMap<String, Window>>> = LazyLock::new(Default::default);

/// Past this many counters, those of finished windows are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// A configured `rate-limit` instance.
pub struct RateLimit {
    config: Config,
    /// The part of every counter key that identifies this configuration.
    scope: String,
}

/// What the counter said about one request.
struct Decision {
    allowed: bool,
    remaining: u32,
    reset: u64,
}

impl RateLimit {
    /// Whom this request is counted for.
    fn identifier(&self, kong: &Kong) -> PdkResult<String> {
        if let LimitBy::Consumer = self.config.limit_by
            && let Some(consumer) = kong.client().get_consumer()?
        {
            return Ok(format!("consumer:{}", consumer.id));
        }
        Ok(format!("ip:{}", kong.client().get_forwarded_ip()?))
    }

    fn count(&self, key: String, now: u64) -> Decision {
        let window = u64::from(self.config.window_seconds);
        let start = now - now % window;
        let mut counters = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
        if counters.len() > PRUNE_ABOVE {
            counters.retain(|_, w| w.start + window > now);
        }
        let current = counters.entry(key).or_insert(Window { start, count: 0 });
        if current.start != start {
            *current = Window { start, count: 0 };
        }
        let allowed = current.count < self.config.limit;
        if allowed {
            current.count += 1;
        }
        Decision {
            allowed,
            remaining: self.config.limit - current.count,
            reset: start + window - now,
        }
    }
}

#[plugin_abi::plugin(name = "rate-limit", priority = 910)]
impl Plugin for RateLimit {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.limit == 0 || config.window_seconds == 0 {
            return Err("config.limit and config.window_seconds must be at least 1".into());
        }
        let by = match config.limit_by {
            LimitBy::Consumer => "consumer",
            LimitBy::Ip => "ip",
        };
        let scope = format!("{}/{}s/{by}", config.limit, config.window_seconds);
        Ok(RateLimit { config, scope })
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        // Kong's request start time keeps every call of one request in the same window.
        let now = kong.nginx().req_start_time()? as u64;
        // Kong has no route for requests it matched by other means; they share one scope.
        let route = kong.router().get_route().map(|r| r.id).unwrap_or_default();
        let key = format!("{}|{route}|{}", self.scope, self.identifier(kong)?);
        let decision = self.count(key, now);
        let headers: MultiMap = [
            ("ratelimit-limit", self.config.limit.to_string()),
            ("ratelimit-remaining", decision.remaining.to_string()),
            ("ratelimit-reset", decision.reset.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), vec![value]))
        .collect();
        if decision.allowed {
            kong.response().set_headers(&headers)?;
            return Ok(());
        }
        let mut headers = headers;
        headers.insert("retry-after".into(), vec![decision.reset.to_string()]);
        kong.response()
            .error(429, Some("API rate limit exceeded"), Some(&headers))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
