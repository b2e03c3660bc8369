//! `plugin.SetPluginDir`, `plugin.GetStatus`, `plugin.GetPluginInfo`: not used by Kong itself,
//! but by tools and tests, as with go-pluginserver.

use std::{path::Path, sync::Arc};

use plugin_abi::Phase;
use rmpv::Value;

use super::instances::{instance_value, no_such_plugin};
use crate::{
    dump,
    host::Host,
    metrics::{Outcome, PluginMetrics},
    wire::msgpack::{
        message::{Reply, map},
        params::text,
    },
};

/// `plugin.SetPluginDir dir` → `"ok"`: loads what is new in `dir`, which must be the plugins
/// directory the server was started with. Anyone who can connect could otherwise have the
/// server load the code of any directory; go-pluginserver's own tests name the directory it
/// serves, and Kong never sends it.
pub fn set_plugin_dir(host: &Arc<Host>, param: &Value) -> Result<Reply, String> {
    let dir = text(param).ok_or("plugin.SetPluginDir takes a directory path")?;
    let served = &host.settings.plugins_dir;
    if served.as_os_str().is_empty() {
        return Err(format!(
            "plugin.SetPluginDir {dir}: this server serves the one plugin it was built with"
        ));
    }
    let same = match (Path::new(&dir).canonicalize(), served.canonicalize()) {
        (Ok(asked), Ok(served)) => asked == served,
        _ => false,
    };
    if !same {
        return Err(format!(
            "plugin.SetPluginDir {dir}: pluginhost loads plugins only from its plugins directory \
             {}; start it with -plugins-directory {dir} to serve that one",
            served.display()
        ));
    }
    host.load_plugins(served).map_err(|e| e.to_string())?;
    Ok(Reply::Value(Value::from("ok")))
}

/// `plugin.GetStatus` → `{Pid, Plugins: {name: {Name, Modtime, LoadTime, Generation, Sha256,
/// File, Instances, LastStartInstance, LastCloseInstance}}}`. Generation, Sha256 and File are
/// pluginhost's own (hot reload); the rest is go-pluginserver's shape. With metrics on, each
/// plugin also has `Events` (per phase: `Started`, `InFlight`, `Ended` by outcome) and
/// `PdkCalls` (by method), the counters `/metrics` serves.
pub fn get_status(host: &Arc<Host>) -> Result<Reply, String> {
    use std::sync::atomic::Ordering::Relaxed;
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
    Ok(Reply::Value(map([
        ("Pid", Value::from(host.pid)),
        ("Plugins", Value::Map(plugins)),
    ])))
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

/// `plugin.GetPluginInfo name` → `{Name, Phases, Version, Priority, Schema}`.
pub fn get_plugin_info(host: &Arc<Host>, param: &Value) -> Result<Reply, String> {
    let name = text(param).ok_or("plugin.GetPluginInfo takes a plugin name")?;
    let plugin = host
        .registry
        .get(&name)
        .ok_or_else(|| no_such_plugin(host, &name))?;
    Ok(Reply::Value(dump::info_value(&plugin.info)))
}
