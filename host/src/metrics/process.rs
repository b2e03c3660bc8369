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

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(me) = procfs::process::Process::myself() else {
            return Ok(());
        };
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            let cpu = ConstCounter::new((stat.utime + stat.stime) as f64 / ticks);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu",
                "User and system CPU time spent",
                Some(&Unit::Seconds),
                cpu.metric_type(),
            )?)?;
            let page = procfs::page_size();
            let rss = ConstGauge::new((stat.rss * page) as f64);
            rss.encode(encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory size",
                Some(&Unit::Bytes),
                rss.metric_type(),
            )?)?;
            let virt = ConstGauge::new(stat.vsize as f64);
            virt.encode(encoder.encode_descriptor(
                "process_virtual_memory",
                "Virtual memory size",
                Some(&Unit::Bytes),
                virt.metric_type(),
            )?)?;
            let threads = ConstGauge::new(stat.num_threads);
            threads.encode(encoder.encode_descriptor(
                "process_threads",
                "Threads of the process, worker threads and plugins' own",
                None,
                threads.metric_type(),
            )?)?;
            if let Ok(boot) = procfs::boot_time_secs() {
                let started = ConstGauge::new(boot as f64 + stat.starttime as f64 / ticks);
                started.encode(encoder.encode_descriptor(
                    "process_start_time",
                    "Start time of the process since the unix epoch",
                    Some(&Unit::Seconds),
                    started.metric_type(),
                )?)?;
            }
        }
        if let Ok(fds) = me.fd_count() {
            let fds = ConstGauge::new(i64::try_from(fds).unwrap_or(i64::MAX));
            fds.encode(encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors",
                None,
                fds.metric_type(),
            )?)?;
        }
        if let Ok(limits) = me.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            let max = ConstGauge::new(i64::try_from(max).unwrap_or(i64::MAX));
            max.encode(encoder.encode_descriptor(
                "process_max_fds",
                "The limit of open file descriptors",
                None,
                max.metric_type(),
            )?)?;
        }
        Ok(())
    }
}
