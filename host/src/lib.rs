//! # pluginhost — Kong's plugin server for Rust plugins
//!
//! Loads `cdylib` plugins built with `plugin-abi` and serves them to Kong over one Unix socket
//! with Kong's MsgPack:1 protocol, as a drop-in for go-pluginserver.
//!
//! Where things live:
//!
//! * [`cli`] — flags, Go style (`-kong-prefix`) or GNU style (`--kong-prefix`);
//! * [`dump`] — what Kong's query commands print; [`version`] — `-version`; [`check`] —
//!   `check-plugin`, the KrakenD-style offline checks; [`new`] — `pluginhost new`, a plugin
//!   crate to start from;
//! * [`serve`] — the server's life: load, bind, serve, stop; [`lifecycle`] — signals and parent
//!   death; [`socket`] — the listening socket; [`logging`] — stderr, never blocking; [`cap`]
//!   — the size cap of log lines and error replies; [`metrics`] — what is counted for
//!   Prometheus, and the `/metrics` endpoint;
//! * [`rpc`] — the protocol: [`rpc::frame`] (framing, with its limits), [`rpc::budget`] (the
//!   bytes all connections may buffer), [`rpc::message`] (requests and responses),
//!   [`rpc::dispatch`] (method table), [`rpc::methods`] (one function per `plugin.*` method),
//!   [`rpc::server`] (the connection loop), [`rpc::incoming`] (the same framing and decoding on
//!   a byte string, for the fuzz target);
//! * [`workers`] — the worker threads, the watchdog, and connections moving between them;
//!   [`pace`] — which phases run on the active worker and which on workers of their own;
//! * [`host`] — the shared state; [`instances`] — started instances; [`events`] — running
//!   handlers, each a coroutine suspended at its PDK calls; [`stacks`] — their stacks;
//!   [`bridge`] — the host's side of a PDK call;
//! * [`loader`] — scanning, reading a file ([`loader::read`]), who may have written it
//!   ([`loader::trust`]), preflight (before any plugin code runs) and loading; [`registry`] —
//!   the plugins served, with their generations; [`fingerprint`] — the build checks and their
//!   `have:`/`want:` reports;
//! * [`cache`] — the private, content-addressed copies plugins are mapped from; [`reload`] —
//!   watching the plugins directory while serving.
//!
//! Invariants: stdout carries only dump output; state is keyed by id, never by connection; no
//! lock is held across a PDK round trip; a handler never changes thread; a plugin's code never
//! runs before its file passed the preflight; while serving, a file in the plugins directory is
//! never mapped, only its copy in the cache.

pub mod bridge;
pub mod cache;
pub mod cap;
pub mod check;
pub mod cli;
pub mod dump;
pub mod events;
pub mod fingerprint;
pub mod host;
pub mod ids;
pub mod instances;
pub mod lifecycle;
pub mod loader;
pub mod logging;
pub mod metrics;
pub mod new;
pub mod pace;
pub mod registry;
pub mod reload;
pub mod rpc;
pub mod serve;
pub mod socket;
pub mod stacks;
pub mod version;
pub mod workers;
