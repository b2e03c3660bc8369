//! What `pluginhost event` needs of a plugin, wherever it runs.

use plugin_abi::{HandlerResult, Phase, ffi::HostBridgeRef};

/// A plugin that runs phases against a bridge to Kong.
pub trait Runs {
    /// The phases it has handlers for.
    fn phases(&self) -> Vec<Phase>;

    /// Runs its `phase` handler, its PDK calls going to `bridge`.
    fn run(&mut self, phase: Phase, bridge: HostBridgeRef<'_>) -> HandlerResult;
}
