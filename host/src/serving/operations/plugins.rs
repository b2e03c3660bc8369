//! The plugins served: their names, one plugin's info, the status of all (for tools), and
//! loading what is new in the plugins directory (for tools).

use std::{path::Path, sync::Arc};

use super::instances::no_such_plugin;
use crate::{
    host::Host,
    op::{Done, Outcome},
};

/// The plugins served (ProtoBuf:1's `cmd_get_plugin_names`).
pub fn plugin_names(host: &Arc<Host>) -> Outcome {
    Ok(Done::Plugins(host.registry.all()))
}

/// Plugin `name`'s info.
pub fn plugin_info(host: &Arc<Host>, name: &str) -> Outcome {
    let plugin = host
        .registry
        .get(name)
        .ok_or_else(|| no_such_plugin(host, name))?;
    Ok(Done::Plugin(plugin))
}

/// The status of every plugin (MsgPack:1's `plugin.GetStatus`, go-pluginserver's shape).
pub fn get_status(host: &Arc<Host>) -> Outcome {
    Ok(Done::Status(Arc::clone(host)))
}

/// `plugin.SetPluginDir dir`: loads what is new in `dir`, which must be the plugins directory
/// the server was started with. Anyone who can connect could otherwise have the server load
/// the code of any directory; go-pluginserver's own tests name the directory it serves, and
/// Kong never sends it.
pub fn set_plugin_dir(host: &Arc<Host>, dir: &str) -> Outcome {
    let served = &host.settings.plugins_dir;
    if served.as_os_str().is_empty() {
        return Err(format!(
            "plugin.SetPluginDir {dir}: this server serves the one plugin it was built with"
        )
        .into());
    }
    let same = match (Path::new(dir).canonicalize(), served.canonicalize()) {
        (Ok(asked), Ok(served)) => asked == served,
        _ => false,
    };
    if !same {
        return Err(format!(
            "plugin.SetPluginDir {dir}: pluginhost loads plugins only from its plugins directory \
             {}; start it with -plugins-directory {dir} to serve that one",
            served.display()
        )
        .into());
    }
    host.load_plugins(served).map_err(|e| e.to_string())?;
    Ok(Done::Ok)
}
