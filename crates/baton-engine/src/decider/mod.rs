//! The decider: from a workflow's stored state and the clock to its next state.
//!
//! [`decide`] repeats one pass over the task attempts until nothing changes:
//! 1. a non-terminal task is checked against its timeouts, and the operators that wait on
//!    other tasks (JOIN, DO_WHILE, WAIT) are evaluated;
//! 2. a terminal task whose successors were not yet scheduled is handled: a failure is retried
//!    (a new attempt with a new id), tolerated (`optional`, `permissive`), or ends the
//!    workflow; a success schedules what follows it in the definition.
//!
//! Synchronous system tasks (SWITCH, INLINE, SET_VARIABLE, …) are executed when they are
//! scheduled, so a decision runs until every path waits on a worker, a timer or an external
//! update. When nothing is left, the workflow completes (or fails, if a permissive task
//! failed). Finally the earliest time at which a timeout or timer can change the outcome is
//! recorded as the workflow's wake-up time.
//!
//! Everything here is deterministic given the state and `now` (fresh ids aside).

use crate::expr::{self, resolve_map};
use crate::retry::retry_delay_ms;
use crate::state::{base_ref, Effect, ExecState};
use crate::systask::{self as sys, SyncResult};
use baton_model::duration::{after, after_secs, secs_to_ms, sum_secs_to_ms};
use baton_model::{
    JsonMap, Task, TaskDef, TaskResult, TaskResultStatus, TaskStatus, TimeoutPolicy, Workflow,
    WorkflowDef, WorkflowStatus, WorkflowTask, WorkflowTimeoutPolicy,
};
use serde_json::{json, Value};
use std::sync::Arc;

mod do_while;
mod fork_dynamic;
mod join;
mod permissive;
mod schedule;
mod sync_tasks;
mod timeouts;
mod updates;

use do_while::*;
use fork_dynamic::*;
use join::*;
use permissive::*;
use schedule::*;
pub(crate) use schedule::{schedule_node, schedule_retry};
use sync_tasks::*;
use timeouts::*;
pub use updates::{absorb_claim, apply_result};

/// Most task-handling steps one decision takes before it yields (a loop of synchronous tasks
/// cannot monopolise a node; the rest continues at the next wake-up).
const MAX_STEPS: usize = 2_000;
/// How often a parent re-checks a running child even without a wake-up from it.
const SUB_WORKFLOW_CHECK_MS: i64 = 10_000;
/// Conductor truncates reasons to 500 characters.
const MAX_REASON: usize = 500;

/// What applying a task result did.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// The result was applied; decide and commit.
    Applied,
    /// The attempt is no longer current (already terminal, or the workflow is): nothing
    /// changes, and the caller answers success so SDKs do not retry.
    Stale(String),
    /// No such task in this workflow.
    NotFound,
}

/// Parameters of a new execution.
#[derive(Debug, Clone)]
pub struct NewExecution {
    pub workflow_id: String,
    pub def: Arc<WorkflowDef>,
    pub input: JsonMap,
    pub correlation_id: Option<String>,
    pub priority: i32,
    pub task_to_domain: indexmap::IndexMap<String, String>,
    pub parent_workflow_id: Option<String>,
    pub parent_workflow_task_id: Option<String>,
    pub created_by: Option<String>,
    pub idempotency_key: Option<String>,
    pub event: Option<String>,
    /// Kept on the execution as given (Baton has no external payload storage).
    pub external_input_payload_storage_path: Option<String>,
    pub now: i64,
    /// Registered task definitions (see [`ExecState::registry`]).
    pub registry: Option<Arc<std::collections::HashMap<String, baton_model::TaskDef>>>,
    /// See [`ExecState::active_domains`].
    pub active_domains: Option<Arc<std::collections::HashSet<(String, String)>>>,
    /// See [`ExecState::limits`].
    pub limits: crate::state::EngineLimits,
}

impl NewExecution {
    /// A start of `def` under `workflow_id` at `now` with an empty input and every optional
    /// part unset (no correlation id, parent, domains or registry; default limits).
    pub fn new(workflow_id: impl Into<String>, def: Arc<WorkflowDef>, now: i64) -> Self {
        NewExecution {
            workflow_id: workflow_id.into(),
            def,
            input: JsonMap::new(),
            correlation_id: None,
            priority: 0,
            task_to_domain: Default::default(),
            parent_workflow_id: None,
            parent_workflow_task_id: None,
            created_by: None,
            idempotency_key: None,
            event: None,
            external_input_payload_storage_path: None,
            now,
            registry: None,
            active_domains: None,
            limits: Default::default(),
        }
    }
}

/// Creates a workflow execution and runs its first decision (§4.1).
pub fn new_execution(p: NewExecution) -> ExecState {
    let def = p.def;
    let mut input = p.input;
    // Quirk kept from Conductor: an empty input skips the definition's input template.
    if !input.is_empty() {
        for (k, v) in &def.input_template {
            if !input.contains_key(k) {
                input.insert(k.clone(), v.clone());
            }
        }
    }
    let workflow = Workflow {
        create_time: p.now,
        update_time: p.now,
        start_time: p.now,
        created_by: p.created_by,
        status: WorkflowStatus::Running,
        workflow_id: p.workflow_id,
        parent_workflow_id: p.parent_workflow_id,
        parent_workflow_task_id: p.parent_workflow_task_id,
        input,
        correlation_id: p.correlation_id,
        task_to_domain: p.task_to_domain,
        priority: p.priority,
        variables: def.variables.clone(),
        workflow_name: def.name.clone(),
        workflow_version: def.version,
        idempotency_key: p.idempotency_key,
        event: p.event,
        external_input_payload_storage_path: p.external_input_payload_storage_path,
        ..Workflow::default()
    };
    let index = Arc::new(crate::state::DefIndex::build(&def));
    let mut st = ExecState::new(workflow, def, index, Vec::new(), None, p.now);
    st.registry = p.registry;
    st.active_domains = p.active_domains;
    st.limits = p.limits;
    st.history.push(baton_model::HistoryEvent::workflow(
        &st.workflow.workflow_id,
        WorkflowStatus::Running.as_str(),
        p.now,
        None,
    ));
    decide(&mut st);
    st
}

/// Runs the decider until nothing changes (see the module docs).
pub fn decide(st: &mut ExecState) {
    decide_steps(st);
    settle_removals(st);
}

/// Tasks removed during a decision leave the list between decisions (positions change);
/// an ended workflow keeps none.
fn settle_removals(st: &mut ExecState) {
    if st.workflow.status.is_terminal() {
        st.tasks.compact();
    } else {
        st.tasks.compact_if_due();
    }
}

fn decide_steps(st: &mut ExecState) {
    st.next_wake_at = None;
    st.needs_more = false;
    if st.workflow.status.is_terminal() || st.workflow.status == WorkflowStatus::Paused {
        return;
    }
    if check_workflow_timeout(st) {
        return;
    }
    if st.tasks.is_empty() {
        let def = st.def.clone();
        if let Some(first) = def.tasks.first() {
            schedule_node(st, first, 0);
        }
    }
    let mut steps = 0usize;
    let started = std::time::Instant::now();
    let budget = st.limits.decision_time_budget;
    let mut clock_checked_at = 0usize;
    st.tasks.unpark_due(st.now);
    loop {
        let mut progressed = false;
        let mut next = 0;
        // Only active tasks: a parked one cannot change before its time (see TaskList).
        while let Some(i) = st.tasks.next_active(next) {
            next = i + 1;
            if st.workflow.status.is_terminal() {
                return;
            }
            // Checked every few steps: reading the clock is not free.
            let out_of_time = steps >= clock_checked_at + 8 && {
                clock_checked_at = steps;
                budget.is_some_and(|b| started.elapsed() >= b)
            };
            if steps >= MAX_STEPS || out_of_time {
                st.needs_more = true;
                st.wake_at(st.now);
                return;
            }
            let (retried, executed) = (st.tasks[i].retried, st.tasks[i].executed);
            if retried || executed {
                st.tasks.settle(i);
                continue;
            }
            if !st.tasks[i].status.is_terminal() {
                if check_task_timeouts(st, i) {
                    progressed = true;
                }
                if st.workflow.status.is_terminal() {
                    return;
                }
                if !st.tasks[i].status.is_terminal() && evaluate_waiting(st, i) {
                    progressed = true;
                }
                if !st.tasks[i].status.is_terminal() {
                    park_if_quiet(st, i);
                    continue;
                }
            }
            steps += 1;
            progressed = true;
            handle_terminal(st, i);
        }
        if !progressed {
            break;
        }
    }
    if st.workflow.status.is_terminal() {
        return;
    }
    if st.tasks.live_len() > st.limits.max_tasks_per_workflow {
        // Failing cancels every open task in the same commit: no worker sees the excess.
        let reason = format!(
            "the workflow has {} tasks, more than the limit of {} (--max-tasks-per-workflow)",
            st.tasks.live_len(),
            st.limits.max_tasks_per_workflow
        );
        fail_workflow(st, WorkflowStatus::Failed, reason, None);
        return;
    }
    if !st.tasks.any_open() {
        match failed_permissive_reason(st) {
            Some(reason) => fail_workflow(st, WorkflowStatus::Failed, reason, None),
            None => complete_workflow(st, None),
        }
        return;
    }
    compute_wake(st);
}

/// A terminal attempt whose successors are not yet scheduled.
fn handle_terminal(st: &mut ExecState, i: usize) {
    if !st.tasks[i].status.is_successful() {
        match handle_failure(st, i) {
            Failure::Retried => return,
            Failure::Tolerated => {}
            Failure::Fatal => {
                let t = &st.tasks[i];
                let status = match t.status {
                    TaskStatus::TimedOut => WorkflowStatus::TimedOut,
                    TaskStatus::Canceled => WorkflowStatus::Terminated,
                    _ => WorkflowStatus::Failed,
                };
                // Conductor's wording names the workflow's resulting status (FAILED for a
                // FAILED_WITH_TERMINAL_ERROR task); clients and its tests match on it.
                let reason = format!(
                    "Task {} failed with status: {} and reason: '{}'",
                    t.task_id,
                    status.as_str(),
                    java_text(t.reason_for_incompletion.as_deref())
                );
                st.task_mut(i).executed = true;
                st.mark_dirty(i);
                fail_workflow(st, status, reason, Some(i));
                return;
            }
        }
    }
    st.task_mut(i).executed = true;
    st.mark_dirty(i);
    schedule_successors(st, i);
}

enum Failure {
    Retried,
    Tolerated,
    Fatal,
}

fn handle_failure(st: &mut ExecState, i: usize) -> Failure {
    let task = st.tasks[i].clone();
    let def = st.task_def_of(&task);
    let node = st.node_of(&task).map(|n| n.into_owned());
    let expected = node
        .as_ref()
        .and_then(|n| n.retry_count)
        .unwrap_or(def.retry_count)
        .max(0);
    let total_budget_left = def.total_timeout_seconds <= 0
        || after_secs(first_scheduled_time(st, &task), def.total_timeout_seconds) > st.now;
    if task.status.is_retriable()
        && !sys::is_structural(&task.task_type)
        && task.retry_count < expected
        && total_budget_left
    {
        let jitter = if def.backoff_jitter_ms > 0 {
            rand::random::<u32>() as i64 % (i64::from(def.backoff_jitter_ms) + 1)
        } else {
            0
        };
        let delay = retry_delay_ms(&def, task.retry_count, 0);
        schedule_retry_jittered(st, i, delay, jitter);
        return Failure::Retried;
    }
    if node.as_ref().is_some_and(|n| n.optional) {
        st.set_status(i, TaskStatus::CompletedWithErrors);
        return Failure::Tolerated;
    }
    if node.as_ref().is_some_and(|n| n.permissive) {
        // Keeps its failed status: a JOIN and the workflow's end look at it (permissive.rs).
        return Failure::Tolerated;
    }
    Failure::Fatal
}

/// When the first attempt of a task was scheduled, walking back through `retriedTaskId`
/// (O(attempts), not O(tasks)).
fn first_scheduled_time(st: &ExecState, task: &Task) -> i64 {
    let mut first = task.scheduled_time;
    let mut previous = task.retried_task_id.as_deref();
    for _ in 0..st.tasks.len() {
        let Some(i) = previous.and_then(|id| st.find_task(id)) else {
            break;
        };
        first = first.min(st.tasks[i].scheduled_time);
        previous = st.tasks[i].retried_task_id.as_deref();
    }
    first
}

/// The iteration suffix of a reference name (`check__2` → 2), 0 without one.
fn ref_iteration(reference: &str) -> i32 {
    let base = base_ref(reference);
    if base.len() == reference.len() {
        return 0;
    }
    reference[base.len() + 2..].parse().unwrap_or(0)
}

fn loop_ref(reference: &str, iteration: i32) -> String {
    if iteration > 0 {
        format!("{reference}__{iteration}")
    } else {
        reference.to_string()
    }
}

/// Task and workflow ids are UUIDs, time-ordered (v7) rather than random (v4, as Conductor):
/// rows inserted together then share B-tree pages, so a commit batch dirties far fewer pages.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn next_seq(st: &ExecState) -> i32 {
    st.tasks.next_seq()
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_REASON {
        s.to_string()
    } else {
        s.chars().take(MAX_REASON).collect()
    }
}

/// A text as Java's string concatenation writes it: `null` when there is none. Conductor
/// builds some reasons that way, and clients match on them.
fn java_text(s: Option<&str>) -> &str {
    s.unwrap_or("null")
}

fn obj(v: Value) -> JsonMap {
    match v {
        Value::Object(m) => m,
        _ => JsonMap::new(),
    }
}

/// The workflow's output: TERMINATE's, else `outputParameters`, else the last task's (§4.3).
fn workflow_output(st: &ExecState) -> JsonMap {
    if !st.def.output_parameters.is_empty() {
        return resolve_map(&st.def.output_parameters, st, None);
    }
    st.tasks
        .live()
        .rev()
        .find(|(_, t)| !t.retried)
        .map(|(_, t)| t.output_data.clone())
        .unwrap_or_default()
}

/// Adds the reference and definition names of every FAILED or FAILED_WITH_TERMINAL_ERROR
/// task (retried attempts too) to the workflow's, once each. Conductor adds to the sets it
/// keeps across retries and restarts; names recorded earlier stay.
fn collect_failed_names(st: &mut ExecState) {
    let mut refs = std::mem::take(&mut st.workflow.failed_reference_task_names);
    let mut names = std::mem::take(&mut st.workflow.failed_task_names);
    for (_, t) in st.tasks.live() {
        if matches!(
            t.status,
            TaskStatus::Failed | TaskStatus::FailedWithTerminalError
        ) {
            if !refs.contains(&t.reference_task_name) {
                refs.push(t.reference_task_name.clone());
            }
            if !names.contains(&t.task_def_name) {
                names.push(t.task_def_name.clone());
            }
        }
    }
    st.workflow.failed_reference_task_names = refs;
    st.workflow.failed_task_names = names;
}

fn complete_workflow(st: &mut ExecState, output: Option<JsonMap>) {
    cancel_pending(st);
    st.workflow.output = output.unwrap_or_else(|| workflow_output(st));
    collect_failed_names(st);
    st.set_workflow_status(WorkflowStatus::Completed, None);
    notify_parent(st);
}

fn fail_workflow(st: &mut ExecState, status: WorkflowStatus, reason: String, task: Option<usize>) {
    fail_workflow_with_output(st, status, reason, task, None)
}

/// The one path every engine-driven unsuccessful end takes (§4.8).
fn fail_workflow_with_output(
    st: &mut ExecState,
    status: WorkflowStatus,
    reason: String,
    task: Option<usize>,
    output: Option<JsonMap>,
) {
    if st.workflow.status.is_terminal() {
        return;
    }
    cancel_pending(st);
    // As Conductor: the task that ended the workflow, unless one is recorded already (a
    // retried workflow keeps the first).
    if st.workflow.failed_task_id.is_none() {
        st.workflow.failed_task_id = task.map(|i| st.tasks[i].task_id.clone());
    }
    st.workflow.output = output.unwrap_or_else(|| workflow_output(st));
    collect_failed_names(st);
    st.set_workflow_status(status, Some(truncate(&reason)));
    notify_parent(st);
    if let Some(name) = failure_workflow_name(st) {
        let mut input = st.workflow.input.clone();
        input.insert("workflowId".into(), json!(st.workflow.workflow_id));
        input.insert("reason".into(), json!(st.workflow.reason_for_incompletion));
        input.insert("failureStatus".into(), json!(status.as_str()));
        if let Some(id) = &st.workflow.failed_task_id {
            input.insert("failureTaskId".into(), json!(id));
        }
        let mut failed = st.workflow.clone();
        failed.tasks = st.tasks.live().map(|(_, t)| t.clone()).collect();
        failed.workflow_definition = None;
        // A failure workflow that itself fails would otherwise nest every earlier failed
        // workflow inside the next one's input, without bound.
        failed.input.remove("failedWorkflow");
        input.insert(
            "failedWorkflow".into(),
            serde_json::to_value(&failed).unwrap_or(Value::Null),
        );
        let failure_id = new_id();
        st.workflow
            .output
            .insert("conductor.failure_workflow".into(), json!(failure_id));
        st.effects.push(Effect::StartFailureWorkflow {
            workflow_id: failure_id,
            name,
            version: st.def.failure_workflow_version,
            input,
            correlation_id: st.workflow.correlation_id.clone(),
            task_to_domain: st.workflow.task_to_domain.clone(),
        });
    }
}

fn failure_workflow_name(st: &ExecState) -> Option<String> {
    let raw = st.def.failure_workflow.as_deref()?.trim();
    if raw.is_empty() {
        return None;
    }
    if raw.starts_with("${") {
        let v = expr::resolve_value(&Value::String(raw.to_string()), st, None);
        return v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    }
    Some(raw.to_string())
}

/// Cancels every non-terminal task (workflow ended).
fn cancel_pending(st: &mut ExecState) {
    for i in st.tasks.open() {
        if !st.tasks[i].status.is_terminal() {
            st.set_status(i, TaskStatus::Canceled);
            if st.tasks[i].task_type == sys::SUB_WORKFLOW {
                if let Some(child) = st.tasks[i].sub_workflow_id.clone() {
                    st.effects.push(Effect::TerminateWorkflow {
                        workflow_id: child,
                        reason: format!("Parent workflow {} ended", st.workflow.workflow_id),
                    });
                }
            }
        }
    }
}

fn notify_parent(st: &mut ExecState) {
    if let Some(parent) = st.workflow.parent_workflow_id.clone() {
        st.wake.push((parent, st.now));
    }
}

/// Terminates a running or paused workflow from the API (§4.9): non-terminal tasks are
/// CANCELED, the reason recorded, and a parent is woken. Unlike an engine-driven failure the
/// failure workflow is started only when `trigger_failure_workflow` is set.
pub fn terminate_workflow(
    st: &mut ExecState,
    reason: Option<String>,
    trigger_failure_workflow: bool,
) {
    if trigger_failure_workflow {
        let reason = reason.unwrap_or_else(|| "terminated".into());
        fail_workflow_with_output(st, WorkflowStatus::Terminated, reason, None, None);
        settle_removals(st);
        return;
    }
    cancel_pending(st);
    st.workflow.output = workflow_output(st);
    collect_failed_names(st);
    st.set_workflow_status(WorkflowStatus::Terminated, reason.map(|r| truncate(&r)));
    notify_parent(st);
    settle_removals(st);
}
