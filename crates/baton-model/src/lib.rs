//! The Conductor OSS wire types, shared by every Baton crate.
//!
//! These structs serialise to exactly the JSON that Conductor's REST API and the official SDKs
//! use (`../shared/CONDUCTOR-API.md` §3): camelCase names, `null` fields omitted, timestamps in
//! epoch milliseconds, enums by name. Defaults on input follow Conductor's (for example
//! `TaskDef.retryCount = 3`, `WorkflowDef.timeoutPolicy = ALERT_ONLY`). Nothing here does I/O.

pub mod claim;
pub mod clock;
mod defs;
pub mod duration;
mod events;
mod exec;
pub mod lenient;
pub mod limits;
mod records;
mod status;
pub mod wire;

pub use defs::*;
pub use events::*;
pub use exec::*;
pub use records::*;
pub use status::*;

/// A JSON object, the type of every input, output and variables map.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;
