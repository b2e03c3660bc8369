//! Starting an instance, its status, closing it.

use std::sync::Arc;

use crate::{
    host::Host,
    op::{Done, Failure, Outcome},
};

/// Starts an instance of plugin `name` with Kong's JSON text `config` (empty: `{}`).
pub fn start_instance(host: &Arc<Host>, name: &str, config: &[u8]) -> Outcome {
    let plugin = host
        .registry
        .get(name)
        .ok_or_else(|| no_such_plugin(host, name))?;
    let config = if config.is_empty() {
        "{}"
    } else {
        std::str::from_utf8(config).map_err(|e| format!("Decoding config: {e}"))?
    };
    let instance = host.instances.start(plugin, config)?;
    Ok(Done::Instance(instance))
}

/// Instance `id`'s status.
pub fn instance_status(host: &Arc<Host>, id: u64) -> Outcome {
    let instance = host.instances.get(id).ok_or(Failure::NoInstance(id))?;
    Ok(Done::Instance(instance))
}

/// Closes instance `id`, answering with its status before.
pub fn close_instance(host: &Arc<Host>, id: u64) -> Outcome {
    let instance = host.instances.close(id).ok_or(Failure::NoInstance(id))?;
    Ok(Done::Instance(instance))
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
