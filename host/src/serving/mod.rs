//! Serving Kong: accepting connections, reading requests, dispatching each `plugin.*` method,
//! and writing the answers, on the worker threads of [`crate::workers`].
//!
//! Every serving worker accepts ([`accept`]) and serves the connections placed on it
//! ([`placement`]: all the connections of one Kong worker process on one serving worker).
//! Each connection has a task ([`connection`]) that reads its requests, has [`dispatch`] answer
//! each by its method ([`methods`], one file per group), and writes the answers ([`reply`]). A
//! `HandleEvent` starts its handler inline, on the serving worker, or apart, on a worker of its
//! own, as the phase's pace says ([`crate::pace`]); a `Step` resumes the event where it lives
//! ([`crate::ids::home_of`]), here or on another worker, which then answers on the connection
//! itself. With `-protocol ProtoBuf:1` a connection's task is [`protobuf`] instead: one event
//! per connection, its PDK calls written and Kong's answers read by that task, the event
//! placed and resumed the same way.
//!
//! A serving worker that a handler holds loses its connections and its processes to the worker
//! that replaces it ([`Server`]'s handover); the handler's phase runs apart from then on.

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
