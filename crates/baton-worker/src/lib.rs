//! Workers for Baton (and any Conductor-compatible server), in Rust.
//!
//! A [`Worker`] turns a task into an [`Outcome`]. A [`Runner`] polls the server for each
//! registered task type with long batch polls, runs up to the configured number of tasks of
//! each type at once, reports each result with `update-v2` (so a busy worker receives its
//! next task in the same round trip), backs off with jitter while the server is unreachable
//! and resumes by itself, and shuts down within a deadline, saying what it abandoned.
//! Running tasks append to their log and extend their lease through a [`TaskContext`].
//!
//! The [`command`] module turns programs into workers from a TOML file: that is
//! `baton worker --config workers.toml`.
//!
//! ```no_run
//! use baton_worker::{worker_fn, Client, Outcome, Runner, WorkerOptions};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), baton_worker::ClientError> {
//! let greet = worker_fn(|task, ctx| async move {
//!     let who = task.input_data.get("who").and_then(|v| v.as_str()).unwrap_or("world").to_string();
//!     ctx.log(format!("greeting {who}")).await;
//!     Outcome::completed_value(json!({ "greeting": format!("hello {who}") }))
//! });
//! let report = Runner::new(Client::new("http://localhost:8080")?)
//!     .register("greet", WorkerOptions::with_concurrency(8), greet)
//!     .run(async { let _ = tokio::signal::ctrl_c().await; })
//!     .await;
//! assert!(report.abandoned.is_empty());
//! # Ok(()) }
//! ```
//!
//! This crate talks HTTP only; it does not depend on the server's crates.

#![warn(missing_docs)]

mod backoff;
mod client;
pub mod command;
mod context;
mod outcome;
mod runner;
mod worker;

pub use backoff::Backoff;
pub use client::{Client, ClientError};
pub use context::{LogConfig, TaskContext};
pub use outcome::Outcome;
pub use runner::{
    default_worker_id, AbandonedAt, AbandonedTask, Runner, RunnerConfig, ShutdownReport,
    WorkerOptions,
};
pub use worker::{worker_fn, FnWorker, Worker};

/// The Conductor JSON types a worker sees: the task it gets, the result it sends.
pub use baton_model::{JsonMap, Task, TaskExecLog, TaskResult, TaskResultStatus};
