//! A plugin file run in this process: loaded through the same preflight and build checks as
//! serving it, its instance made from the config, its handlers called with the bridge to the
//! simulated Kong.

use std::path::Path;

use abi_stable::std_types::RResult;
use plugin_abi::{HandlerResult, Phase, ffi::HostBridgeRef, ffi::PluginInstanceBox};

use super::runs::Runs;
use crate::{
    fingerprint::Policy,
    loader::{self, LoadedPlugin, trust::Trust},
};

/// A loaded plugin and one instance of it.
pub struct Local {
    plugin: LoadedPlugin,
    instance: PluginInstanceBox,
}

impl Local {
    /// Loads `file` and starts an instance with `config`; either failing is an error that
    /// says which.
    pub fn load(file: &Path, config: &str, policy: Policy) -> anyhow::Result<Local> {
        // The user names the file to run: it may be anywhere, as with check-plugin.
        let plugin = loader::load(file, &policy, Trust::ANYWHERE)?;
        let instance = plugin.new_instance(config).map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot start an instance with {config}: {e}",
                plugin.name()
            )
        })?;
        Ok(Local { plugin, instance })
    }
}

impl Runs for Local {
    fn phases(&self) -> Vec<Phase> {
        self.plugin.info.phases.clone()
    }

    fn run(&mut self, phase: Phase, bridge: HostBridgeRef<'_>) -> HandlerResult {
        match self.instance.handle(phase.as_str().into(), bridge) {
            RResult::ROk(()) => Ok(()),
            RResult::RErr(e) => Err(e.message.into_string().into()),
        }
    }
}
