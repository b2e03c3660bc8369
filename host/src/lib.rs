//! # pluginhost — Kong's plugin server for Rust plugins
//!
//! Loads `cdylib` plugins built with `plugin-abi` and serves them to Kong over one Unix socket
//! with Kong's MsgPack:1 protocol, as a drop-in for go-pluginserver, or with its ProtoBuf:1
//! dialect ([`dialect`]).
//!
//! Where things live:
//!
//! * [`cli`] — flags, Go style (`-kong-prefix`) or GNU style (`--kong-prefix`);
//! * [`dump`] — what Kong's query commands print; [`version`] — `-version`; [`check`] —
//!   `check-plugin`, the KrakenD-style offline checks; [`new`] — `pluginhost new`, a plugin
//!   crate to start from; [`kong_conf`] — `pluginhost kong-conf`, the kong.conf lines;
//!   [`event`] — `pluginhost event`, one request through a plugin;
//! * [`supervisor`] — the process Kong starts: it holds the sockets and runs the engine as a
//!   child, starting another after a crash and replacing the code in place on SIGUSR2;
//!   [`serve`] — the engine's life: load, bind, serve, stop, for pluginhost and for
//!   [`embedded`], a plugin crate's executable serving that one plugin; [`lifecycle`] — signals and parent
//!   death; [`socket`] — the listening socket; [`takeover`] — the hand-over socket beside it; [`logging`] — stderr, never blocking; [`cap`]
//!   — the size cap of log lines and error replies; [`metrics`] — what is counted for
//!   Prometheus, and the `/metrics` endpoint;
//! * [`dialect`] — MsgPack:1 or ProtoBuf:1, one per process; [`wire`] — the two dialects'
//!   bytes alone: [`wire::msgpack`] (framing with its limits, messages, parameters, a client)
//!   and [`wire::protobuf`] (u32-LE frames, Kong's messages, the methods of `service Kong`, a PDK
//!   call's arguments and answer translated to and from them); each has a byte-string reader
//!   for its fuzz target;
//! * [`op`] — the one vocabulary of serving: a [`op::Request`] (what Kong asks) and its
//!   [`op::Outcome`], read from and written to each dialect by [`op::msgpack`] (with
//!   [`op::status`]) and [`op::protobuf`];
//! * [`serving`] — serving Kong, in one room, an event's trip in the order it goes:
//!   [`serving::accept`] (accepting, `serverPid`), [`serving::placement`] (a Kong worker
//!   process's connections on one serving thread), [`serving::session`] (the task serving a
//!   connection: [`serving::session::msgpack`], [`serving::session::protobuf`], and
//!   [`serving::session::claim`], what both do around a request), [`serving::operations`]
//!   (each operation, written once against the engine), [`serving::reply`] (where an answer
//!   another worker gives goes); beside them [`serving::server`] (what the threads share),
//!   [`serving::hooks`] (starting, the pool's hooks), [`serving::conn`] (a connection as the
//!   threads share it), [`serving::stream`] (its socket on one thread), [`serving::local`]
//!   (what each thread keeps), [`serving::handover`] (connections handed to the engine that
//!   replaces this one); [`budget`] — the bytes all connections may buffer; [`stdout`] — what
//!   commands print;
//! * [`workers`] — the pool of worker threads, which knows nothing of the protocol, and its
//!   [`workers::watchdog`]; [`pace`] — which phases run inline on a serving thread and which
//!   apart, each event on a thread of its own; [`sched`] — a thread's run-queue wait, so that a
//!   handler's pace is its own time;
//! * [`host`] — the engine's state; [`instances`] — started instances; [`events`] — running
//!   handlers, each a coroutine suspended at its PDK calls; [`ids`] — ids never reused, and
//!   the layout of an event id; [`stacks`] — handler stacks; [`bridge`] — the host's side of
//!   a PDK call; [`fail_closed`] — the answer to an event that cannot run, for a plugin that
//!   fails closed;
//! * [`loader`] — scanning, reading a file ([`loader::read`]), who may have written it
//!   ([`loader::trust`]), preflight (before any plugin code runs) and loading; [`registry`] —
//!   the plugins served, with their generations; [`fingerprint`] — the build checks and their
//!   `have:`/`want:` reports;
//! * [`cache`] — the private, content-addressed copies plugins are mapped from; [`reload`] —
//!   watching the plugins directory while serving.
//!
//! The invariants every change keeps, and the ones a redesign replaced (with why), are written
//! once, in the guide's architecture chapter (`docs/src/architecture.md`).

pub mod bridge;
pub mod budget;
pub mod cache;
pub mod cap;
pub mod check;
pub mod cli;
pub mod dialect;
pub mod dump;
pub mod embedded;
pub mod event;
pub mod events;
pub mod fail_closed;
pub mod fingerprint;
pub mod host;
pub mod ids;
pub mod instances;
pub mod kong_conf;
pub mod lifecycle;
pub mod loader;
pub mod logging;
pub mod metrics;
pub mod new;
pub mod op;
pub mod pace;
pub mod registry;
pub mod reload;
pub mod sched;
pub mod serve;
pub mod serving;
pub mod socket;
pub mod stacks;
pub mod stdout;
pub mod supervisor;
pub mod takeover;
pub mod version;
pub mod wire;
pub mod workers;
