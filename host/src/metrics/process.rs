//! The process's own figures under the names Prometheus' client libraries give them
//! (`process_resident_memory_bytes`, ...), read from `/proc/self` at each scrape.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
    registry::Unit,
};

/// The collector of `process_*` metrics.
#[derive(Debug)]
pub struct Process;

/// Encodes one metric of one series.
fn one(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    let descriptor = encoder.encode_descriptor(name, help, unit.as_ref(), metric.metric_type())?;
    metric.encode(descriptor)
}

fn gauge(value: u64) -> ConstGauge<f64> {
    ConstGauge::new(value as f64)
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        let e = &mut encoder;
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            let cpu = ConstCounter::new((stat.utime + stat.stime) as f64 / ticks);
            one(
                e,
                "process_cpu",
                "User and system CPU time spent",
                Some(Unit::Seconds),
                cpu,
            )?;
            let rss = gauge(stat.rss * procfs::page_size());
            one(
                e,
                "process_resident_memory",
                "Resident memory size",
                Some(Unit::Bytes),
                rss,
            )?;
            let size = gauge(stat.vsize);
            one(
                e,
                "process_virtual_memory",
                "Virtual memory size",
                Some(Unit::Bytes),
                size,
            )?;
            let threads = ConstGauge::new(stat.num_threads);
            let help = "Threads of the process, worker threads and plugins' own";
            one(e, "process_threads", help, None, threads)?;
            if let Ok(boot) = procfs::boot_time_secs() {
                let started = ConstGauge::new(boot as f64 + stat.starttime as f64 / ticks);
                let help = "Start time of the process since the unix epoch";
                one(e, "process_start_time", help, Some(Unit::Seconds), started)?;
            }
        }
        if let Ok(fds) = me.fd_count() {
            one(
                e,
                "process_open_fds",
                "Open file descriptors",
                None,
                gauge(fds as u64),
            )?;
        }
        if let Ok(limits) = me.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            let help = "The limit of open file descriptors";
            one(e, "process_max_fds", help, None, gauge(max))?;
        }
        Ok(())
    }
}
