//! Baton's engine: everything that decides, nothing that waits.
//!
//! - [`expr`]: the `${...}` parameter expression language.
//! - [`state`]: [`state::ExecState`], a workflow loaded for one decision, which records every
//!   change it makes (task rows, queue entries, history) so the store can commit them at once.
//! - [`decider`]: the pure function from a workflow's stored state (plus the clock) to its next
//!   state: schedule, retry, time out, complete.
//! - [`retry`]: retry-delay arithmetic. [`validate`]: definition checks that name the field.
//!
//! Deterministic given the stored state and `now`; the only inputs from outside are the clock
//! and fresh ids. No I/O, no async.

pub mod claim;
pub mod decider;
pub mod expr;
pub mod footprint;
pub mod ops;
pub mod retry;
mod scope;
pub mod state;
pub mod systask;
pub mod task_list;
pub mod validate;

pub use decider::{
    absorb_claim, apply_result, decide, new_execution, terminate_workflow, NewExecution,
    UpdateOutcome,
};
pub use state::{DefIndex, Effect, EngineLimits, ExecState};
