//! Operator and workflow-operation tests over HTTP: a real server on a loopback port over a
//! real SQLite file, each operator (§5) and operation (§4.9) checked by its outputs, including
//! the failure paths.

mod common;

#[path = "operators/helpers.rs"]
mod helpers;
#[path = "operators/kitchen.rs"]
mod kitchen;
#[path = "operators/operations.rs"]
mod operations;
#[path = "operators/scripts.rs"]
mod scripts;
#[path = "operators/structural.rs"]
mod structural;
#[path = "operators/system.rs"]
mod system;
