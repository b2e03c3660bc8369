//! Build fingerprints, checked the KrakenD way: what a plugin was built with ([`policy::PluginFacts`],
//! read from the file by the preflight), what this host wants ([`policy::HostFacts`]), the
//! verdict ([`policy::Policy`]), and the `have:`/`want:` report ([`report`]).

pub mod arch;
pub mod crates;
pub mod glibc;
pub mod policy;
pub mod report;

pub use policy::{HostFacts, PluginFacts, Policy, Verdict};
pub use report::Diff;
