//! The executor: every API operation that changes or reads executions goes through
//! [`Runtime`], which is the same whether it serves HTTP (`baton server`) or runs in-process
//! (`baton run`).
//!
//! The path of one task update, end to end:
//! load the workflow → apply the result → run the decider → one store commit (the store
//! batches concurrent commits into one transaction) → wake the pollers of the queues that got
//! work and nudge the sweeper if a timer moved closer. If another writer got there first the
//! commit reports a conflict, and the update is re-applied to the fresh state.

mod changes;
mod cron_time;
mod error;
mod events;
mod follow_ups;
pub mod metrics;
mod runtime;
mod scheduler;
mod system;
mod waiters;
mod wakers;

pub use baton_model::clock::Clock;
pub use changes::{TaskChange, WorkflowChange};
pub use cron_time::{next_run_times, parse_cron, parse_zone, ScheduleZone};
pub use error::{Error, Result};
pub use runtime::{
    Blocking, Runtime, RuntimeConfig, StateCacheStats, TaskMock, UpdateResponse,
    WorkflowTestRequest,
};
