//! The one vocabulary of serving, whichever dialect carries it: what Kong (or a tool) asks of
//! the server, a [`Request`], and what it gets back, a [`Done`] or a [`Failure`].
//!
//! Each dialect's frames ([`crate::wire`]) are read into a `Request` here ([`msgpack`],
//! [`protobuf`]), and each outcome written back in the dialect's own shapes ([`msgpack`],
//! [`status`], [`protobuf`]); the operations themselves are written once, against the engine
//! ([`crate::serving::operations`]).

pub mod msgpack;
pub mod protobuf;
pub mod status;

use std::{fmt, sync::Arc};

use crate::{
    events::{Answer, Progress},
    host::Host,
    instances::Instance,
    loader::LoadedPlugin,
};

/// An operation Kong (or a tool) asks for.
#[derive(Debug)]
pub enum Request {
    /// The names of the plugins served (ProtoBuf:1's `cmd_get_plugin_names`).
    PluginNames,
    /// One plugin's info: name, phases, version, priority, schema.
    PluginInfo {
        /// The plugin.
        name: String,
    },
    /// Starts an instance of plugin `name` with Kong's JSON text `config` (empty: `{}`).
    StartInstance {
        /// The plugin.
        name: String,
        /// The config as Kong sends it.
        config: Vec<u8>,
    },
    /// The status of an instance.
    InstanceStatus {
        /// The instance.
        id: u64,
    },
    /// Closes an instance, answering with its status before.
    CloseInstance {
        /// The instance.
        id: u64,
    },
    /// Starts an event: the handler of phase `event` of instance `instance_id`.
    HandleEvent {
        /// The instance.
        instance_id: u64,
        /// The phase, as Kong names it.
        event: String,
    },
    /// Resumes event `event_id` with Kong's answer to its pending PDK call.
    Step {
        /// The event.
        event_id: u64,
        /// Kong's answer (MessagePack), or the error Kong raised.
        answer: Answer,
    },
    /// go-pluginserver's status of every plugin (MsgPack:1, for tools).
    GetStatus,
    /// Loads what is new in `dir`, the plugins directory (MsgPack:1, for tools).
    SetPluginDir {
        /// The directory asked for.
        dir: String,
    },
}

/// What a [`Request`] gave.
pub enum Done {
    /// The plugins served.
    Plugins(Vec<Arc<LoadedPlugin>>),
    /// One plugin.
    Plugin(Arc<LoadedPlugin>),
    /// An instance (started, asked for, or closed).
    Instance(Arc<Instance>),
    /// Where an event stands: its next PDK call, or its end.
    Event(Progress),
    /// The whole server, for its status.
    Status(Arc<Host>),
    /// Done, nothing to tell.
    Ok,
}

/// Why a [`Request`] was not done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No instance has this id: Kong starts a new one (it matches the text, see `Display`).
    NoInstance(u64),
    /// Anything else, in words.
    Refused(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The text Kong matches (case-sensitively in Kong 2.0–2.4) to start a new instance.
            Failure::NoInstance(id) => write!(f, "No plugin instance {id}"),
            Failure::Refused(why) => f.write_str(why),
        }
    }
}

impl From<String> for Failure {
    fn from(why: String) -> Self {
        Failure::Refused(why)
    }
}

impl From<&str> for Failure {
    fn from(why: &str) -> Self {
        Failure::Refused(why.to_owned())
    }
}

/// What answering a request gave.
pub type Outcome = Result<Done, Failure>;
