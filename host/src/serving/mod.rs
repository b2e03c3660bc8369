//! Serving Kong on the worker threads of [`crate::workers`]: an event's trip is accept →
//! session → operation → engine → session.
//!
//! Every serving worker accepts ([`accept`]) and serves the connections placed on it
//! ([`placement`]: all the connections of one Kong worker process on one serving worker).
//! Each connection has a session ([`session`]), the task of its dialect, that reads Kong's
//! frames into the one vocabulary of [`crate::op`], has [`operations`] do each (written once,
//! for both dialects), and writes the outcome back in the dialect. A `HandleEvent` starts its
//! handler inline, on the serving worker, or apart, on a worker of its own, as the phase's
//! pace says ([`crate::pace`]); a `Step` resumes the event where it lives
//! ([`crate::ids::home_of`]), here or on another worker, which then answers ([`reply`]): over
//! MsgPack:1 on the connection itself, over ProtoBuf:1 (one event per connection, its PDK
//! calls written and Kong's answers read by its session) back to the session.
//!
//! What every thread shares is the [`Server`] ([`server`]; started, and answering the pool's
//! hooks, in [`hooks`]); what each keeps to itself, its [`local::Local`]. A serving worker that
//! a handler holds loses its connections and its processes to the worker that replaces it (the
//! pool's handover hook); the handler's phase runs apart from then on.

pub mod accept;
pub mod conn;
pub mod handover;
pub mod hooks;
pub mod local;
pub mod operations;
pub mod placement;
pub mod reply;
pub mod server;
pub mod session;
pub mod stream;

pub use server::Server;
