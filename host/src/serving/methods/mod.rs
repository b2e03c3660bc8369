//! The `plugin.*` methods, one group per file.

pub mod events;
pub mod instances;
pub mod status;
