//! The label values metrics carry, each a fixed vocabulary: how an event ended, which RPC
//! method, why a file was refused; and the label sets of the families.

use prometheus_client::encoding::EncodeLabelSet;

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler returned `Ok`.
    Ok,
    /// The handler returned an error.
    HandlerError,
    /// The handler panicked (caught by plugin-abi).
    Panic,
    /// It called `kong.response.exit` or `kong.response.error`.
    Exit,
    /// Kong abandoned it: no Step within `-event-timeout`, or reaped to make room.
    Reaped,
    /// Still suspended when the server stopped.
    Shutdown,
}

impl Outcome {
    /// Every outcome, in the order their counters are kept.
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::HandlerError,
        Outcome::Panic,
        Outcome::Exit,
        Outcome::Reaped,
        Outcome::Shutdown,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::HandlerError => "handler_error",
            Outcome::Panic => "panic",
            Outcome::Exit => "exit",
            Outcome::Reaped => "reaped",
            Outcome::Shutdown => "shutdown",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The protocol methods of both dialects, as RPC labels: MsgPack:1's by method name,
/// ProtoBuf:1's by the `RpcCall` field Kong sets, and `pdk_answer` for each of Kong's answers
/// to a PDK call (MsgPack:1's `plugin.Step*`).
pub const RPC_METHODS: [&str; 24] = [
    "plugin.SetPluginDir",
    "plugin.GetStatus",
    "plugin.GetPluginInfo",
    "plugin.StartInstance",
    "plugin.InstanceStatus",
    "plugin.CloseInstance",
    "plugin.HandleEvent",
    "plugin.Step",
    "plugin.StepError",
    "plugin.StepMultiMap",
    "plugin.StepCredential",
    "plugin.StepConsumer",
    "plugin.StepRoute",
    "plugin.StepService",
    "plugin.StepMemoryStats",
    "cmd_get_plugin_names",
    "cmd_get_plugin_info",
    "cmd_start_instance",
    "cmd_get_instance_status",
    "cmd_close_instance",
    "cmd_handle_event",
    "pdk_answer",
    // Any other method, and a frame that is not a request but has a msgid to answer.
    "other",
    "invalid",
];

/// An RPC method, as an index into [`RPC_METHODS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcMethod(pub(super) usize);

impl RpcMethod {
    /// A frame that is not a request.
    pub const INVALID: RpcMethod = RpcMethod(RPC_METHODS.len() - 1);
    const OTHER: RpcMethod = RpcMethod(RPC_METHODS.len() - 2);

    /// The label of `method`; unknown methods are `other`.
    pub fn of(method: &str) -> RpcMethod {
        RPC_METHODS[..RPC_METHODS.len() - 2]
            .iter()
            .position(|m| *m == method)
            .map_or(RpcMethod::OTHER, RpcMethod)
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        RPC_METHODS[self.0]
    }
}

/// Why a plugin file was not loaded, in a word: the `reason` of `pluginhost_load_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a readable regular ELF file of a plugin's size.
    File,
    /// Writable by someone else, or a symlink out of the directory (the trust rules).
    Untrusted,
    /// Its build fingerprint does not match this pluginhost (`have:`/`want:`).
    Build,
    /// The dynamic loader or abi_stable refused it.
    Load,
    /// What the plugin declares is not valid (name, phases, schema).
    Invalid,
    /// The plugin has as many generations loaded as `-max-generations` allows.
    Generations,
    /// Another file already serves a plugin of that name.
    Duplicate,
    /// It could not be copied into the cache.
    Cache,
}

impl Refusal {
    /// Every reason.
    pub const ALL: [Refusal; 8] = [
        Refusal::File,
        Refusal::Untrusted,
        Refusal::Build,
        Refusal::Load,
        Refusal::Invalid,
        Refusal::Generations,
        Refusal::Duplicate,
        Refusal::Cache,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::File => "file",
            Refusal::Untrusted => "untrusted",
            Refusal::Build => "build",
            Refusal::Load => "load",
            Refusal::Invalid => "invalid",
            Refusal::Generations => "generations",
            Refusal::Duplicate => "duplicate",
            Refusal::Cache => "cache",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PhaseLabels {
    pub(super) plugin: String,
    pub(super) phase: &'static str,
}

/// Why an event was refused a worker thread of its own, as labelled: in the order of
/// [`crate::workers::Spent::ALL`].
pub const EVENT_REFUSED_REASONS: [&str; 3] = ["instance_share", "plugin_share", "max_threads"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RefusedLabels {
    pub(super) plugin: String,
    pub(super) reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CrashLabels {
    pub(super) plugin: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct EndLabels {
    pub(super) plugin: String,
    pub(super) phase: &'static str,
    pub(super) outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PdkLabels {
    pub(super) plugin: String,
    pub(super) method: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct MethodLabels {
    pub(super) method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReasonLabels {
    pub(super) reason: &'static str,
}
