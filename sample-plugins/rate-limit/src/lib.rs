//! `rate-limit`: at most `limit` requests per window, counted per consumer or per client IP,
//! in this process (`policy = local`) or in Redis, across every Kong node (`policy = redis`).
//! Every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; past
//! the limit the request ends with `429` and `Retry-After`.
//!
//! When Redis fails or times out, `fault_tolerant = true` (Kong's default) lets the request
//! through, logging once per outage; `false` answers 500.

mod local;
mod redis;
mod window;

use std::sync::Arc;

use plugin_abi::{HandlerResult, Kong, PdkResult, Plugin, pdk::MultiMap, serde::Serialize};

use crate::{
    redis::{Outcome, Redis},
    window::{Decision, Window},
};

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
    /// Where requests are counted: in this process, or in Redis for every Kong node at once.
    #[serde(default)]
    pub policy: CountIn,
    /// The Redis server, for `policy = redis`.
    #[serde(default)]
    pub redis: RedisConfig,
    /// When Redis fails: let the request through (logged once per outage), or answer 500.
    #[serde(default = "yes")]
    pub fault_tolerant: bool,
}

fn default_window() -> u32 {
    60
}

fn yes() -> bool {
    true
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

/// Where requests are counted.
#[plugin_abi::config]
#[derive(Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CountIn {
    /// In this process: every Kong worker of this node shares the count.
    #[default]
    Local,
    /// In Redis: every Kong node shares the count.
    Redis,
}

/// A Redis server, as Kong's own rate-limiting plugin names its settings.
#[plugin_abi::config]
#[derive(Clone)]
pub struct RedisConfig {
    /// Its host name or address.
    #[serde(default = "default_host")]
    pub host: String,
    /// Its TCP port.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// A Unix socket path, used instead of host and port when set.
    #[serde(default)]
    pub path: Option<String>,
    /// The user, for Redis 6 ACLs.
    #[serde(default)]
    pub username: Option<String>,
    /// The password.
    #[serde(default)]
    pub password: Option<String>,
    /// The database number.
    #[serde(default)]
    #[schemars(range(min = 0, max = 4096))]
    pub database: u32,
    /// Milliseconds to connect, send or receive before Redis counts as failed.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 60000))]
    pub timeout: u32,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            host: default_host(),
            port: default_port(),
            path: None,
            username: None,
            password: None,
            database: 0,
            timeout: default_timeout(),
        }
    }
}

fn default_host() -> String {
    "127.0.0.1".into()
}

fn default_port() -> u16 {
    6379
}

fn default_timeout() -> u32 {
    2000
}

/// What became of a request's count.
enum Verdict {
    /// Counted: let through or refused as the decision says.
    Counted(Decision),
    /// Redis failed and `fault_tolerant` lets it through uncounted.
    Uncounted,
    /// Redis failed and the request was answered 500.
    Answered,
}

/// A configured `rate-limit` instance.
pub struct RateLimit {
    config: Config,
    /// The part of every counter key that identifies this configuration.
    scope: String,
    /// The Redis of `policy = redis`.
    redis: Option<Arc<Redis>>,
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

    /// Counts the request.
    fn decide(&self, kong: &Kong, key: String, window: Window) -> PdkResult<Verdict> {
        let Config {
            limit,
            window_seconds,
            ..
        } = self.config;
        let Some(redis) = &self.redis else {
            return Ok(Verdict::Counted(local::count(
                key,
                limit,
                window,
                window_seconds,
            )));
        };
        match redis.count(&key, limit, window, window_seconds) {
            Outcome::Counted {
                decision,
                recovered,
            } => {
                if recovered {
                    kong.log().notice(format!(
                        "rate-limit: redis at {} answers again; counting resumes",
                        redis.address
                    ))?;
                }
                Ok(Verdict::Counted(decision))
            }
            Outcome::Failed { error, first } => {
                if first {
                    let then = if self.config.fault_tolerant {
                        "requests go through uncounted until it answers (fault_tolerant)"
                    } else {
                        "requests are answered 500 until it answers"
                    };
                    kong.log().err(format!(
                        "rate-limit: redis at {} failed: {error}; {then}",
                        redis.address
                    ))?;
                }
                if self.config.fault_tolerant {
                    return Ok(Verdict::Uncounted);
                }
                kong.response()
                    .error(500, Some("An unexpected error occurred"), None)?;
                Ok(Verdict::Answered)
            }
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
        let redis = match config.policy {
            CountIn::Local => None,
            CountIn::Redis => Some(Redis::of(&config.redis)?),
        };
        Ok(RateLimit {
            config,
            scope,
            redis,
        })
    }

    fn access(&self, kong: &Kong) -> HandlerResult {
        // Kong's request start time keeps every call of one request in the same window.
        let now = kong.nginx().req_start_time()? as u64;
        let window = Window::of(now, self.config.window_seconds);
        // Kong has no route for requests it matched by other means; they share one scope.
        let route = kong.router().get_route().map(|r| r.id).unwrap_or_default();
        let key = format!("{}|{route}|{}", self.scope, self.identifier(kong)?);
        let decision = match self.decide(kong, key, window)? {
            Verdict::Counted(decision) => decision,
            Verdict::Uncounted | Verdict::Answered => return Ok(()),
        };
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
