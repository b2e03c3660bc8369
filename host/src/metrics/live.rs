//! The figures the server keeps anyway, read when scraped rather than counted twice: whoever
//! keeps them is a [`Source`] (the host: plugins, instances, buffers, suspended events; the
//! workers: their threads), and the log's dropped lines.

use std::sync::{Arc, Mutex};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

/// One gauge a source reports: its series, each for a plugin or for the whole server.
pub struct Gauge {
    /// The name, without the `pluginhost_` prefix.
    pub name: &'static str,
    /// The help text.
    pub help: &'static str,
    /// `(plugin, value)`; `None` for one series without labels.
    pub series: Vec<(Option<String>, i64)>,
}

impl Gauge {
    /// A gauge of one series, for the whole server.
    pub fn single(name: &'static str, help: &'static str, value: usize) -> Gauge {
        Gauge {
            name,
            help,
            series: vec![(None, count(value))],
        }
    }
}

/// Whatever keeps figures the scrape reads.
pub trait Source: Send + Sync + 'static {
    /// The gauges as they are now.
    fn gauges(&self) -> Vec<Gauge>;
}

/// Every source registered, read at each scrape.
#[derive(Default)]
pub struct Live {
    sources: Mutex<Vec<Arc<dyn Source>>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    /// Reads `source` at every scrape from now on.
    pub fn watch(&self, source: Arc<dyn Source>) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }
}

/// A count as a gauge's value.
pub fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let dropped = ConstCounter::new(crate::logging::dropped_lines() as u64);
        dropped.encode(encoder.encode_descriptor(
            "log_lines_dropped",
            "Log lines dropped because stderr was not read fast enough",
            None,
            dropped.metric_type(),
        )?)?;
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for gauge in sources.iter().flat_map(|s| s.gauges()) {
            let mut family =
                encoder.encode_descriptor(gauge.name, gauge.help, None, MetricType::Gauge)?;
            if let [(None, value)] = gauge.series.as_slice() {
                ConstGauge::new(*value).encode(family)?;
                continue;
            }
            for (plugin, value) in &gauge.series {
                if let Some(plugin) = plugin {
                    ConstGauge::new(*value)
                        .encode(family.encode_family(&[("plugin", plugin.as_str())])?)?;
                }
            }
        }
        Ok(())
    }
}
