//! `policy = redis`: one counter per key and window in Redis, shared by every Kong node.
//!
//! Each request is one round trip: `MULTI; SET key 0 EX <window> NX; INCR key; EXEC`. The
//! counter is created with its expiry and incremented atomically, so two nodes never both
//! get the last slot, and a window's key disappears by itself once it is over.
//!
//! The client is synchronous (the `redis` crate): pluginhost lets a handler block, holding up
//! only its own event, so an async client would only add a runtime to start, size and stop
//! inside the plugin. Connections are kept per Redis (address, database and credentials), for
//! every instance and event of this process: connected on first use, reused, and all dropped
//! at the first failure, so a restarted Redis is picked up again with no restart of
//! pluginhost. A request that finds its reused connection dead (Redis restarted) retries once
//! on a new one. A refused connection fails at once; only an unreachable Redis costs the
//! timeout. (r2d2 was tried first: its checkout waits out the whole timeout however fast the
//! connection is refused, and it runs three threads per pool; what is needed here is a stack
//! of idle connections.)

use std::{
    collections::HashMap,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use redis::{ConnectionAddr, ConnectionLike, IntoConnectionInfo, RedisConnectionInfo};

use crate::{
    RedisConfig,
    window::{Decision, Window},
};

/// Idle connections kept per Redis at most: one per event waiting on it.
const POOL_SIZE: usize = 64;

/// The connections to one Redis, and whether it is known to be down.
pub struct Redis {
    client: redis::Client,
    timeout: Duration,
    /// Connections not in use.
    idle: Mutex<Vec<redis::Connection>>,
    /// Set at the first failure of an outage, cleared at the first success after it: each
    /// outage is logged once.
    down: AtomicBool,
    /// Where it is, for messages.
    pub address: String,
}

/// Every Redis this process talks to, by its address, database and credentials.
static ALL: LazyLock<Mutex<HashMap<String, Arc<Redis>>>> = LazyLock::new(Default::default);

/// What a counting round trip ended with.
pub enum Outcome {
    /// Counted; `recovered` says Redis had failed before this.
    Counted {
        /// The decision.
        decision: Decision,
        /// Whether this ends an outage.
        recovered: bool,
    },
    /// Redis failed; `first` says this is the first failure of an outage.
    Failed {
        /// Why.
        error: String,
        /// Whether this is the first failure since Redis last answered.
        first: bool,
    },
}

impl Redis {
    /// The shared connections to the Redis of `config`.
    pub fn of(config: &RedisConfig) -> Result<Arc<Redis>, String> {
        let timeout = Duration::from_millis(u64::from(config.timeout.max(1)));
        let addr = match &config.path {
            Some(path) => ConnectionAddr::Unix(path.into()),
            None => ConnectionAddr::Tcp(config.host.clone(), config.port),
        };
        let address = addr.to_string();
        let key = format!(
            "{address}/{}/{:?}/{:?}/{}",
            config.database, config.username, config.password, config.timeout
        );
        let mut all = ALL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(redis) = all.get(&key) {
            return Ok(Arc::clone(redis));
        }
        let mut settings = RedisConnectionInfo::default().set_db(i64::from(config.database));
        if let Some(username) = &config.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &config.password {
            settings = settings.set_password(password);
        }
        let info = addr
            .into_connection_info()
            .map_err(|e| format!("redis at {address}: {e}"))?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(|e| format!("redis at {address}: {e}"))?;
        let redis = Arc::new(Redis {
            client,
            timeout,
            idle: Mutex::default(),
            down: AtomicBool::new(false),
            address,
        });
        all.insert(key, Arc::clone(&redis));
        Ok(redis)
    }

    /// Counts one request under `key` in `window`.
    pub fn count(&self, key: &str, limit: u32, window: Window, seconds: u32) -> Outcome {
        let key = format!("pluginhost:rate-limit:{key}:{}", window.start);
        let counted = self.with_connection(|conn| {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&key)
                .arg(0)
                .arg("EX")
                .arg(seconds)
                .arg("NX")
                .ignore()
                .cmd("INCR")
                .arg(&key)
                .query::<(u64,)>(conn)
        });
        match counted {
            Ok((count,)) => Outcome::Counted {
                decision: Decision::for_count(count, limit, window),
                recovered: self.down.swap(false, Ordering::AcqRel),
            },
            Err(error) => Outcome::Failed {
                error: error.to_string(),
                first: !self.down.swap(true, Ordering::AcqRel),
            },
        }
    }

    /// Runs `call` on an idle connection, or a new one.
    fn with_connection<T>(
        &self,
        call: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let reused = idle.is_some();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let mut result = call(&mut conn);
        if let Err(e) = &result {
            // Every connection to a Redis that failed is suspect.
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
            if !reused || !(e.is_io_error() || e.is_connection_dropped()) {
                return result;
            }
            // A connection from before a restart: once more, on a new one.
            conn = self.connect()?;
            result = call(&mut conn);
        }
        if result.is_ok() && conn.is_open() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < POOL_SIZE {
                idle.push(conn);
            }
        }
        result
    }

    /// A new connection, with the configured timeout for connecting, sending and receiving.
    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self.client.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }
}
