//! The load generator: Kong's side of the protocol under load, the two baselines it is compared
//! with, and what `make bench` reports.
//!
//! * [`bench`](mod@bench) — `make bench`: every server and load, the report and the plot;
//! * [`blocking`] — handlers that block 10 ms or compute 200 µs, against their ideals, and
//!   hello beside them;
//! * [`client`] — events driven as one nginx worker drives them (pooled connections, N in
//!   flight), with events/s, RPC/s, latency percentiles and CPU per event;
//! * [`crash`] — a plugin that aborts the process: the time to serving again and the events
//!   lost, supervised beside a build Kong starts again;
//! * [`echo`] — the physical baseline, a Unix-socket echo;
//! * [`embedded`] — hello served by its own executable beside hello in pluginhost;
//! * [`mock`] — the protocol baseline, the same exchange answered with no plugin runtime;
//! * [`memory`] — RSS under abandoned events, and `make soak`;
//! * [`metrics_cost`] — hello with metrics on and scraped, beside metrics off;
//! * [`ratelimit`] — rate-limit counting locally beside counting in a real Redis;
//! * [`introspection`] — token-introspection's cache hits and misses against a loopback
//!   endpoint;
//! * [`spread`] — hello from several client processes over the serving threads, the idle
//!   server's wake-ups, and the threads a cold burst starts;
//! * [`children`] — the measured servers as child processes;
//! * [`plot`] — the PNG plot; [`report`] — medians and Markdown tables;
//! * [`procfs`] — CPU time and RSS of a process;
//! * [`wire`] — one pooled connection.

pub mod bench;
pub mod blocking;
pub mod children;
pub mod client;
pub mod crash;
pub mod dialects;
pub mod echo;
pub mod embedded;
pub mod introspection;
pub mod memory;
pub mod metrics_cost;
pub mod mock;
pub mod plot;
pub mod procfs;
pub mod ratelimit;
pub mod report;
pub mod spread;
pub mod storm;
pub mod syscalls;
pub mod wire;
