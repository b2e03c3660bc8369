//! MsgPack:1's statuses: an instance's (`{Name, Id, Config, StartTime}`), and
//! `plugin.GetStatus`'s answer in go-pluginserver's shape, `{Pid, Plugins: {name: {Name, Modtime,
//! LoadTime, Generation, Sha256, File, Instances, LastStartInstance, LastCloseInstance}}}`.
//! Generation, Sha256 and File are pluginhost's own (hot reload). With metrics on, each plugin
//! also has `Events` (per phase: `Started`, `InFlight`, `Ended` by outcome) and `PdkCalls` (by
//! method), the counters `/metrics` serves.

use std::sync::atomic::Ordering::Relaxed;

use plugin_abi::Phase;
use rmpv::Value;

use crate::{
    host::Host,
    instances::Instance,
    metrics::{Outcome, PluginMetrics},
    wire::msgpack::message::{from_json, map},
};

/// The status of every plugin `host` serves.
pub fn value(host: &Host) -> Value {
    let plugins = host
        .registry
        .all()
        .into_iter()
        .map(|p| {
            let instances = host
                .instances
                .of_plugin(p.name())
                .iter()
                .map(|i| instance_value(i))
                .collect();
            let mut status = map([
                ("Name", Value::from(p.name())),
                ("Modtime", Value::from(p.mod_time)),
                ("LoadTime", Value::from(p.load_time)),
                ("Generation", Value::from(p.generation)),
                ("Sha256", Value::from(p.sha256.as_str())),
                ("File", Value::from(p.path.to_string_lossy().as_ref())),
                ("Instances", Value::Array(instances)),
                (
                    "LastStartInstance",
                    Value::from(p.last_start_instance.load(Relaxed)),
                ),
                (
                    "LastCloseInstance",
                    Value::from(p.last_close_instance.load(Relaxed)),
                ),
            ]);
            if let (Value::Map(fields), Some(counters)) = (&mut status, p.metrics()) {
                fields.extend(counter_fields(counters));
            }
            (Value::from(p.name()), status)
        })
        .collect();
    map([
        ("Pid", Value::from(host.pid)),
        ("Plugins", Value::Map(plugins)),
    ])
}

/// `Events` and `PdkCalls` of one plugin.
fn counter_fields(counters: &PluginMetrics) -> [(Value, Value); 2] {
    let phases = Phase::ALL
        .iter()
        .filter_map(|&phase| Some((phase, counters.phase_if_any(phase)?)))
        .map(|(phase, counts)| {
            let ended = Outcome::ALL
                .iter()
                .map(|&o| (Value::from(o.as_str()), Value::from(counts.ended_count(o))))
                .collect();
            let fields = map([
                ("Started", Value::from(counts.started_count())),
                ("InFlight", Value::from(counts.in_flight_count())),
                ("Ended", Value::Map(ended)),
            ]);
            (Value::from(phase.as_str()), fields)
        })
        .collect();
    let calls = counters
        .pdk_calls()
        .into_iter()
        .map(|(method, n)| (Value::from(method), Value::from(n)))
        .collect();
    [
        (Value::from("Events"), Value::Map(phases)),
        (Value::from("PdkCalls"), Value::Map(calls)),
    ]
}

/// The status map of an instance.
pub fn instance_value(instance: &Instance) -> Value {
    map([
        ("Name", Value::from(instance.plugin.name())),
        ("Id", Value::from(instance.id)),
        ("Config", from_json(&instance.config)),
        ("StartTime", Value::from(instance.start_time)),
    ])
}
