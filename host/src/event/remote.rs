//! A plugin of a running server, driven over its socket as Kong's MsgPack:1 client drives it:
//! `plugin.StartInstance`, then per phase `plugin.HandleEvent` and a `plugin.Step` (or
//! `plugin.StepError`) for each PDK call, answered by the simulated Kong, until `"ret"` or a
//! terminal `kong.response.exit`; `plugin.CloseInstance` at the end.

use std::{os::unix::net::UnixStream, path::Path, time::Duration};

use abi_stable::std_types::{RResult, RSlice};
use anyhow::Context;
use plugin_abi::{HandlerResult, Phase, ffi::HostBridgeRef};
use rmpv::Value;

use super::runs::Runs;
use crate::wire::msgpack::{client::Client, message::map, params::field};

/// How long the server has to answer one call: the plugin's handler runs in between.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// One connection to the server, and the instance started on it.
pub struct Remote {
    client: Client,
    instance: u64,
    phases: Vec<Phase>,
}

impl Remote {
    /// Connects to `socket` and starts an instance of `plugin` with `config`.
    pub fn start(socket: &Path, plugin: &str, config: &str) -> anyhow::Result<Remote> {
        let stream = UnixStream::connect(socket)
            .with_context(|| format!("cannot connect to {}", socket.display()))?;
        stream.set_read_timeout(Some(ANSWER_WITHIN))?;
        let mut remote = Remote {
            client: Client::new(stream)?,
            instance: 0,
            phases: Vec::new(),
        };
        let info = remote
            .call("plugin.GetPluginInfo", Value::from(plugin))
            .map_err(|e| anyhow::anyhow!("{}: {e}", socket.display()))?;
        remote.phases = field(&info, "Phases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str()?.parse().ok())
            .collect();
        let start = map([
            ("Name", Value::from(plugin)),
            ("Config", Value::from(config)),
        ]);
        let status = remote.call("plugin.StartInstance", start).map_err(|e| {
            anyhow::anyhow!("{plugin}: cannot start an instance with {config}: {e}")
        })?;
        remote.instance = field(&status, "Id")
            .and_then(Value::as_u64)
            .context("StartInstance answered no Id")?;
        Ok(remote)
    }

    /// One call; the server's error as `Err`.
    fn call(&mut self, method: &str, param: Value) -> Result<Value, String> {
        self.client.call(method, param)
    }
}

impl Runs for Remote {
    fn phases(&self) -> Vec<Phase> {
        self.phases.clone()
    }

    fn run(&mut self, phase: Phase, bridge: HostBridgeRef<'_>) -> HandlerResult {
        let event = map([
            ("InstanceId", Value::from(self.instance)),
            ("EventName", Value::from(phase.as_str())),
        ]);
        let mut step = self.call("plugin.HandleEvent", event)?;
        loop {
            let event_id = field(&step, "EventId").cloned().unwrap_or(Value::Nil);
            let data = field(&step, "Data").cloned().unwrap_or(Value::Nil);
            if data.as_str() == Some("ret") {
                return Ok(());
            }
            let (Some(method), args) = (
                field(&data, "Method").and_then(Value::as_str),
                field(&data, "Args")
                    .cloned()
                    .unwrap_or(Value::Array(Vec::new())),
            ) else {
                return Err(
                    format!("the server sent neither a PDK call nor \"ret\": {data}").into(),
                );
            };
            let mut encoded = Vec::new();
            rmpv::encode::write_value(&mut encoded, &args)?;
            let answer = bridge.call(method.into(), RSlice::from_slice(&encoded));
            // Kong never answers a terminal call: the event ends there.
            if matches!(method, "kong.response.exit" | "kong.response.error") {
                return Ok(());
            }
            let (method, data) = match answer {
                RResult::ROk(bytes) => (
                    "plugin.Step",
                    rmpv::decode::read_value(&mut bytes.as_slice())?,
                ),
                RResult::RErr(e) => ("plugin.StepError", Value::from(e.message.as_str())),
            };
            // Kong leaves `Data` out for a nil answer.
            let reply = match data {
                Value::Nil => map([("EventId", event_id)]),
                data => map([("EventId", event_id), ("Data", data)]),
            };
            step = self.call(method, reply)?;
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Kong closes instances it replaces; here the instance served its one request.
        let _ = self.call("plugin.CloseInstance", Value::from(self.instance));
    }
}
