//! Integration tests of the Conductor-compatible HTTP API: a real server on a loopback port over
//! a real SQLite file, driven with plain HTTP the way the SDKs do.

mod common;

#[path = "api/durations.rs"]
mod durations;
#[path = "api/errors.rs"]
mod errors;
#[path = "api/history.rs"]
mod history;
#[path = "api/metadata.rs"]
mod metadata;
#[path = "api/retries.rs"]
mod retries;
#[path = "api/timeouts.rs"]
mod timeouts;
#[path = "api/worker.rs"]
mod worker;
#[path = "api/workflows.rs"]
mod workflows;
