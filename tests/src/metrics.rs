//! A scraper of pluginhost's `/metrics`: a real HTTP client, and the exposition format parsed
//! as Prometheus reads it, so that tests compare numbers, not text.

use std::time::Duration;

pub use prometheus_parse::{Sample, Scrape, Value as SampleValue};

use crate::server::Server;

/// `-metrics-listen` on a port the kernel picks; [`address`] reads which from the log.
pub const LISTEN_ANY: [&str; 2] = ["-metrics-listen", "127.0.0.1:0"];

/// The `HOST:PORT` a server started with [`LISTEN_ANY`] serves its metrics on.
pub fn address(server: &Server) -> String {
    let log = server.wait_for_log("serving metrics at /metrics");
    let line = log
        .lines()
        .find(|l| l.contains("serving metrics at /metrics"))
        .expect("the line was found");
    line.split("address=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}

/// One response of `/metrics`: its content type and body.
pub struct Response {
    /// `Content-Type`.
    pub content_type: String,
    /// The exposition text.
    pub body: String,
}

/// `GET http://address/metrics` with `accept`, if given.
pub fn get(address: &str, accept: Option<&str>) -> Result<Response, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.get(format!("http://{address}/metrics"));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let mut response = request.call().map_err(|e| format!("GET /metrics: {e}"))?;
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("GET /metrics: {e}"))?;
    Ok(Response { content_type, body })
}

/// Scrapes `address` in the Prometheus text format and parses it.
pub fn scrape(address: &str) -> Metrics {
    let response = get(address, None).expect("the metrics endpoint answers");
    Metrics::parse(&response.body)
}

/// What the server at `address` holds in buffered request bytes now (`pluginhost_buffered_bytes`).
pub fn buffered_bytes(address: &str) -> f64 {
    scrape(address).value("pluginhost_buffered_bytes", &[])
}

/// A parsed scrape.
pub struct Metrics(pub Scrape);

impl Metrics {
    /// Parses exposition text.
    pub fn parse(text: &str) -> Metrics {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        Metrics(Scrape::parse(lines).expect("the exposition text parses"))
    }

    /// The samples of `name` whose labels include every pair of `labels`.
    pub fn samples<'s>(
        &'s self,
        name: &'s str,
        labels: &'s [(&'s str, &'s str)],
    ) -> impl Iterator<Item = &'s Sample> + 's {
        self.0.samples.iter().filter(move |s| {
            s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
    }

    /// The sum of the counters or gauges `name` matching `labels` (0 when there is none).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels)
            .map(|s| match &s.value {
                SampleValue::Counter(v) | SampleValue::Gauge(v) | SampleValue::Untyped(v) => *v,
                other => panic!("{name} is not a counter or gauge: {other:?}"),
            })
            .sum()
    }

    /// The observations of histogram `name` matching `labels`, all series together.
    pub fn observations(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels)
            .filter_map(|s| match &s.value {
                SampleValue::Histogram(buckets) => buckets
                    .iter()
                    .find(|b| b.less_than.is_infinite())
                    .map(|b| b.count),
                _ => None,
            })
            .sum()
    }
}
