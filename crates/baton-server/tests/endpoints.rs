//! HTTP tests of the Conductor endpoints beside the worker path and the basic operations:
//! correlation lookups, task pages, search by tasks, operator tools, the bulk family,
//! signals and synchronous updates, mocked test runs, admin routes and scheduler extras.
//! Each endpoint is tested with its error cases, against a real server over a real SQLite
//! file.

mod common;

#[path = "endpoints/admin.rs"]
mod admin;
#[path = "endpoints/bulk.rs"]
mod bulk;
#[path = "endpoints/lookups.rs"]
mod lookups;
#[path = "endpoints/operator_tools.rs"]
mod operator_tools;
#[path = "endpoints/scheduler.rs"]
mod scheduler;
#[path = "endpoints/signals.rs"]
mod signals;
#[path = "endpoints/ui_inputs.rs"]
mod ui_inputs;
#[path = "endpoints/workflow_test.rs"]
mod workflow_test;
