//! The contract between the engine's claim rules and a store that persists them.
//!
//! A poll hands a SCHEDULED task to a worker. What that changes in the task (status, start
//! time, poll count, worker id, queue wait) and what it promises (the lease that ends at the
//! response timeout) is decided by one function in the engine, `baton_engine::claim::claim`.
//! A store calls it inside its claim transaction and persists exactly what it changed, so
//! every backend hands out tasks by the same rules.

use crate::Task;

/// Who is claiming, and when (epoch milliseconds).
#[derive(Debug, Clone, Copy)]
pub struct ClaimTerms<'a> {
    pub worker_id: Option<&'a str>,
    pub now: i64,
}

/// What a claim asks of the store besides writing the task: wake the task's workflow no later
/// than `wake_workflow_by` (the end of the worker's lease, when the task has a response
/// timeout), so a silent worker's attempt is timed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lease {
    pub wake_workflow_by: Option<i64>,
}

/// The claim rule: changes `task` in place and returns its lease, or `None` when the task may
/// not be claimed (it is no longer SCHEDULED), in which case `task` is unchanged.
pub type ClaimRule = fn(&mut Task, &ClaimTerms<'_>) -> Option<Lease>;
