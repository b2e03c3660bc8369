//! The answer to an event that pluginhost cannot run, for a plugin that fails closed.
//!
//! Kong lets a request go on without a plugin whose event it got an error for (over MsgPack:1
//! in every release). A plugin declared with `fail_closed` (see [`plugin_abi::FailClosed`])
//! ends the request itself when its handler fails; when the host cannot run the handler at
//! all (its share of threads is spent, no stack can be had), the host answers in its place:
//! the event's first step is the terminal `kong.response.exit` with the declared response,
//! which Kong carries out in both dialects and every generation as it would the plugin's own.

use plugin_abi::{FailClosed, Phase};

use crate::{events::Progress, loader::LoadedPlugin};

/// The event id a reply carries for an event that never ran: Kong sends no `Step` after a
/// terminal call, so it is never looked up.
const NEVER_RAN: u64 = 0;

/// `started` as it is, or, when it failed and `plugin` fails closed in `phase`, the declared
/// response in its place (the failure is logged).
pub fn answer(
    started: Result<Progress, String>,
    plugin: &LoadedPlugin,
    phase: Phase,
) -> Result<Progress, String> {
    declared(
        started,
        plugin.name(),
        phase,
        plugin.info.fail_closed.as_ref(),
    )
}

/// [`answer`] for plugin `name`, which declared `closed`.
fn declared(
    started: Result<Progress, String>,
    plugin: &str,
    phase: Phase,
    closed: Option<&FailClosed>,
) -> Result<Progress, String> {
    let (Err(error), Some(closed)) = (&started, closed.filter(|c| c.applies_to(phase))) else {
        return started;
    };
    tracing::warn!(
        plugin,
        %phase,
        status = closed.status,
        "{error}: the request ends with {} (fail_closed)",
        closed.status
    );
    Ok(exit(closed))
}

/// The step that ends the request with `closed`'s response.
pub fn exit(closed: &FailClosed) -> Progress {
    // A status and a JSON object encode infallibly.
    let args = rmp_serde::to_vec_named(&(closed.status, closed.body())).unwrap_or_default();
    Progress::Call {
        event_id: NEVER_RAN,
        method: "kong.response.exit".into(),
        args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_to_start_becomes_the_declared_exit_where_the_phase_can_answer() {
        let closed = FailClosed::new(503, None);
        let failed = || Err::<Progress, _>("refused".to_owned());
        let Ok(Progress::Call { method, args, .. }) =
            declared(failed(), "auth", Phase::Access, Some(&closed))
        else {
            panic!("an exit step");
        };
        assert_eq!(method, "kong.response.exit");
        let (status, body): (u16, serde_json::Value) = rmp_serde::from_slice(&args).unwrap();
        assert_eq!((status, body), (503, closed.body()));
        assert!(declared(failed(), "auth", Phase::Log, Some(&closed)).is_err());
        assert!(declared(failed(), "auth", Phase::Access, None).is_err());
    }
}
