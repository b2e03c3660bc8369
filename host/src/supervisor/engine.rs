//! The engine's side of supervision: whether this process is an engine its supervisor started,
//! the listening sockets it was given, and the word that it serves.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::Context;

use super::{
    ROLE_ENV, Role,
    channel::{self, Listeners, Message},
    crash,
};

/// This engine's link to its supervisor.
pub struct Link {
    channel: OwnedFd,
    /// The sockets to serve on, from the engine before this one; `None`: bind them.
    pub given: Option<Listeners>,
}

/// The link, when this process is an engine (its supervisor set [`ROLE_ENV`] and gave it the
/// channel as standard input); `None` when it is the process Kong started.
pub fn take() -> anyhow::Result<Option<Link>> {
    let Some(role) = std::env::var_os(ROLE_ENV) else {
        return Ok(None);
    };
    let role = Role::parse(&role.to_string_lossy())
        .with_context(|| format!("{ROLE_ENV}={role:?} is not a role an engine can take"))?;
    let channel = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot take the supervisor's channel")?;
    let given = match role {
        Role::Bind => None,
        Role::Given => match channel::receive(channel.as_fd())
            .context("cannot read the supervisor's channel")?
        {
            Some(Message::Listen(listeners)) => Some(listeners),
            other => anyhow::bail!("the supervisor sent {other:?} where its sockets were due"),
        },
    };
    crash::arm(channel.as_raw_fd()).context("cannot watch for crashes")?;

    Ok(Some(Link { channel, given }))
}

impl Link {
    /// Tells the supervisor this engine serves, handing it `bound`, the sockets this engine
    /// bound itself, for the engines after it.
    pub fn ready(&self, bound: Option<Listeners>) -> std::io::Result<()> {
        channel::send(self.channel.as_fd(), &Message::Ready(bound))
    }

    /// A copy of the channel, to send on from elsewhere.
    pub fn channel(&self) -> std::io::Result<OwnedFd> {
        self.channel.try_clone()
    }

    /// Calls `each` with every message the supervisor sends, from a thread of its own, until
    /// the channel closes.
    pub fn listen(&self, each: impl Fn(Message) + Send + 'static) -> std::io::Result<()> {
        channel::listen("pluginhost-channel", self.channel.try_clone()?, each)
    }
}
