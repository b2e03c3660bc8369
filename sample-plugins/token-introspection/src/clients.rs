//! What every instance of the plugin shares, in this process: one HTTP client (and so one
//! connection pool) per set of trusted certificate authorities, and one cache of answers.
//!
//! Kong starts an instance per configuration and nginx worker, and starts new ones whenever a
//! configuration changes; kept in the instance, the pool would be opened again per worker and
//! the cache filled again per worker and thrown away with each change.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use plugin_abi::TtlCache;
use ureq::{
    Agent,
    tls::{Certificate, RootCerts, TlsConfig},
};

use crate::introspect::{Claims, Endpoint};

/// Answers kept at most, over every endpoint.
const CACHED_TOKENS: usize = 100_000;

/// Idle connections kept per endpoint host: enough for the events that wait on it at once.
const IDLE_PER_HOST: usize = 64;

/// (endpoint, token) → what the endpoint said.
static ANSWERS: LazyLock<TtlCache<(String, String), Claims>> =
    LazyLock::new(|| TtlCache::new(CACHED_TOKENS));

/// The clients, by the PEM file of certificate authorities they trust (`None`: the public
/// roots).
static AGENTS: LazyLock<Mutex<HashMap<Option<String>, Agent>>> = LazyLock::new(Mutex::default);

/// The client that trusts `ca_file` (or the public roots), made on first use.
pub fn agent(ca_file: Option<&str>) -> Result<Agent, String> {
    let mut agents = AGENTS.lock().unwrap_or_else(|e| e.into_inner());
    let key = ca_file.map(str::to_owned);
    if let Some(agent) = agents.get(&key) {
        return Ok(agent.clone());
    }
    let roots = match ca_file {
        None => RootCerts::WebPki,
        Some(path) => RootCerts::Specific(Arc::new(read_certificates(path)?)),
    };
    let agent: Agent = Agent::config_builder()
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .max_idle_connections_per_host(IDLE_PER_HOST)
        .build()
        .into();
    agents.insert(key, agent.clone());
    Ok(agent)
}

/// Every certificate of a PEM file; an error names the file.
fn read_certificates(path: &str) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("ca_certificates {path}: {e}"))?;
    let certificates: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(format!("ca_certificates {path}: {e}"))),
        })
        .collect::<Result<_, _>>()?;
    if certificates.is_empty() {
        return Err(format!(
            "ca_certificates {path}: no certificate in the file"
        ));
    }
    Ok(certificates)
}

/// What `endpoint` said of `token`, if it said it recently enough.
pub fn cached(endpoint: &Endpoint, token: &str) -> Option<Claims> {
    ANSWERS.get(&(endpoint.url().to_string(), token.to_owned()))
}

/// Keeps `endpoint`'s answer for `token` for `at_most`, and no longer than the token lives.
pub fn keep(endpoint: &Endpoint, token: &str, claims: &Claims, at_most: Duration) {
    let ttl = claims.keep_for(at_most);
    if !ttl.is_zero() {
        let key = (endpoint.url().to_string(), token.to_owned());
        ANSWERS.insert(key, claims.clone(), ttl);
    }
}
