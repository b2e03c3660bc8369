//! `plugin.StartInstance`, `plugin.InstanceStatus`, `plugin.CloseInstance`.

use std::sync::Arc;

use rmpv::Value;

use crate::{
    host::Host,
    instances::Instance,
    wire::msgpack::{
        message::{Reply, from_json, map},
        params::{bytes, field, text, uint},
    },
};

/// `plugin.StartInstance {Name, Config}` → `{Name, Id, Config, StartTime}`.
pub fn start_instance(host: &Arc<Host>, param: &Value) -> Result<Reply, String> {
    let name = field(param, "Name")
        .and_then(text)
        .ok_or("plugin.StartInstance: Name must be the plugin name")?;
    let plugin = host
        .registry
        .get(&name)
        .ok_or_else(|| no_such_plugin(host, &name))?;
    // Kong sends the JSON text as str or bin; an absent config is an empty one.
    let config = match field(param, "Config") {
        None => "{}",
        Some(v) => {
            let raw = bytes(v).ok_or("Decoding config: Config must be JSON text")?;
            std::str::from_utf8(raw).map_err(|e| format!("Decoding config: {e}"))?
        }
    };
    let instance = host.instances.start(plugin, config)?;
    Ok(Reply::Value(instance_value(&instance)))
}

/// `plugin.InstanceStatus id` → `{Name, Id, Config, StartTime}`.
pub fn instance_status(host: &Arc<Host>, param: &Value) -> Result<Reply, String> {
    let id = instance_id(param)?;
    let instance = host.instances.get(id).ok_or_else(|| no_instance(id))?;
    Ok(Reply::Value(instance_value(&instance)))
}

/// `plugin.CloseInstance id` → the instance's status before closing.
pub fn close_instance(host: &Arc<Host>, param: &Value) -> Result<Reply, String> {
    let id = instance_id(param)?;
    let instance = host.instances.close(id).ok_or_else(|| no_instance(id))?;
    Ok(Reply::Value(instance_value(&instance)))
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

/// The error text Kong matches (case-sensitively in Kong 2.0–2.4) to start a new instance.
pub fn no_instance(id: u64) -> String {
    format!("No plugin instance {id}")
}

fn instance_id(param: &Value) -> Result<u64, String> {
    uint(param).ok_or_else(|| format!("an instance id must be a non-negative integer, got {param}"))
}

/// go-pluginserver's text for a plugin it cannot open, with the reason spelled out.
pub fn no_such_plugin(host: &Host, name: &str) -> String {
    if let Some(file) = host.registry.removed_from(name) {
        return format!(
            "failed to open plugin {name}: its file {} was removed while pluginhost served it; \
             instances already started keep serving until closed",
            file.display()
        );
    }
    format!(
        "failed to open plugin {name}: no plugin named {name} is served from {}",
        host.settings.plugins_dir.display()
    )
}
