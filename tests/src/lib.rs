//! # kong-sim — Kong, as pluginhost sees it
//!
//! A simulator of Kong's side of the external-plugin protocol, for tests, benchmarks and anyone
//! who wants to drive pluginhost without Kong:
//!
//! * [`kong`] — Kong's MsgPack-RPC client (`mp_rpc.lua`): a pool of reused connections, the
//!   `serverPid` notification, msgid checks, the event loop with typed `Step` replies picked by
//!   PDK method name, the retry on `no plugin instance`, nothing sent after `kong.response.exit`;
//! * [`protobuf`] — Kong's ProtoBuf:1 client (`pb_rpc.lua`), per Kong generation, behind the
//!   same [`kong::Client`] as the MsgPack one, so that one test runs in both dialects; it
//!   encodes through [`kong_proto`], Kong's own `pluginsocket.proto` compiled;
//! * [`schema_loader`] — what each Kong release makes of a dump, and what it refuses at
//!   `kong start`; [`kong_conf`] — how it reads the plugin server settings of kong.conf
//!   and runs their commands;
//! * [`encode`] — MessagePack written the way Kong's lua-MessagePack writes it;
//! * [`server`] — pluginhost run as a child process on a private prefix;
//! * [`snippets`] — the code blocks of the README, the guide and doc comments, to run as
//!   written;
//! * [`paths`] — where the built binary and plugins are; [`redis`] — a real redis-server for
//!   the tests that need one; [`introspection`] — an OAuth introspection endpoint for the
//!   `token-introspection` sample;
//! * [`metrics`] — a scraper of pluginhost's `/metrics`, parsed as Prometheus parses it;
//! * [`fixtures`] — plugins built wrong on purpose, for the compatibility tests;
//! * [`load`] — the load generator behind `make bench`; [`steady`] — a steady stream of events
//!   from several Kong workers, for tests that replace or crash the server under load; [`wait`]
//!   — polling for what a server does in its own time.

pub mod encode;
pub mod fixtures;
pub mod introspection;
pub mod kong;
pub mod kong_conf;
pub mod kong_proto;
pub mod load;
pub mod metrics;
pub mod paths;
pub mod protobuf;
pub mod redis;
pub mod schema_loader;
pub mod server;
pub mod snippets;
pub mod steady;
pub mod wait;

pub use rmpv::Value;
