//! The decider: from a workflow's stored state and the clock to its next state.
//!
//! [`decide`] repeats one pass over the task attempts until nothing changes:
//! 1. a non-terminal task is checked against its timeouts, and the operators that wait on
//!    other tasks (JOIN, DO_WHILE, WAIT) are evaluated;
//! 2. a terminal task whose successors were not yet scheduled is handled: a failure is retried
//!    (a new attempt with a new id), tolerated (`optional`), or ends the workflow; a success
//!    schedules what follows it in the definition.
//!
//! Synchronous system tasks (SWITCH, INLINE, SET_VARIABLE, …) are executed when they are
//! scheduled, so a decision runs until every path waits on a worker, a timer or an external
//! update. When nothing is left, the workflow completes. Finally the earliest time at which a
//! timeout or timer can change the outcome is recorded as the workflow's wake-up time.
//!
//! Everything here is deterministic given the state and `now` (fresh ids aside).

use crate::expr::{self, resolve_map};
use crate::retry::retry_delay_ms;
use crate::state::{base_ref, Effect, ExecState};
use crate::systask::{self as sys, SyncResult};
use baton_model::duration::{after, after_secs, secs_to_ms, sum_secs_to_ms};
use baton_model::{
    JsonMap, Task, TaskResult, TaskResultStatus, TaskStatus, TimeoutPolicy, Workflow, WorkflowDef,
    WorkflowStatus, WorkflowTask, WorkflowTimeoutPolicy,
};
use serde_json::{json, Value};
use std::sync::Arc;

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
    pub now: i64,
    /// Registered task definitions (see [`ExecState::registry`]).
    pub registry: Option<Arc<std::collections::HashMap<String, baton_model::TaskDef>>>,
    /// See [`ExecState::active_domains`].
    pub active_domains: Option<Arc<std::collections::HashSet<(String, String)>>>,
    /// See [`ExecState::limits`].
    pub limits: crate::state::EngineLimits,
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

/// Applies a worker's (or an API caller's) result to one task attempt (§4.2, update steps).
pub fn apply_result(st: &mut ExecState, r: &TaskResult) -> UpdateOutcome {
    let Some(i) = st.find_task(&r.task_id) else {
        return UpdateOutcome::NotFound;
    };
    let now = st.now;
    if r.extend_lease {
        if !st.tasks[i].status.is_terminal() {
            st.tasks[i].update_time = now;
            st.mark_dirty(i);
            return UpdateOutcome::Applied;
        }
        return UpdateOutcome::Stale(format!(
            "task {} is already {}",
            r.task_id,
            st.tasks[i].status.as_str()
        ));
    }
    if st.tasks[i].status.is_terminal() {
        return UpdateOutcome::Stale(format!(
            "task {} is already {}",
            r.task_id,
            st.tasks[i].status.as_str()
        ));
    }
    if st.workflow.status.is_terminal() {
        return UpdateOutcome::Stale(format!(
            "workflow {} is already {}",
            st.workflow.workflow_id,
            st.workflow.status.as_str()
        ));
    }
    {
        let t = &mut st.tasks[i];
        if let Some(out) = &r.output_data {
            t.output_data = out.clone();
        }
        if let Some(reason) = &r.reason_for_incompletion {
            t.reason_for_incompletion = Some(truncate(reason));
        }
        if r.worker_id.is_some() {
            t.worker_id = r.worker_id.clone();
        }
        if r.sub_workflow_id.is_some() {
            t.sub_workflow_id = r.sub_workflow_id.clone();
        }
        t.update_time = now;
    }
    st.mark_dirty(i);
    match r.status {
        TaskResultStatus::InProgress => {
            let cas = r.callback_after_seconds.max(0);
            st.tasks[i].callback_after_seconds = cas;
            if sys::is_system(&st.tasks[i].task_type) {
                // WAIT/HUMAN and friends stay IN_PROGRESS; only their output changes.
                st.set_status(i, TaskStatus::InProgress);
            } else {
                // A worker reporting progress gives the task back to the queue, to be handed
                // out again after callbackAfterSeconds (Conductor's semantics).
                st.set_status(i, TaskStatus::Scheduled);
                st.enqueue(i, after_secs(now, cas));
            }
        }
        other => st.set_status(i, TaskStatus::from(other)),
    }
    UpdateOutcome::Applied
}

/// Runs the decider until nothing changes (see the module docs).
pub fn decide(st: &mut ExecState) {
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
    loop {
        let mut progressed = false;
        let mut i = 0;
        while i < st.tasks.len() {
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
                i += 1;
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
                    i += 1;
                    continue;
                }
            }
            steps += 1;
            progressed = true;
            handle_terminal(st, i);
            i += 1;
        }
        if !progressed {
            break;
        }
    }
    if st.workflow.status.is_terminal() {
        return;
    }
    let pending = st
        .tasks
        .iter()
        .any(|t| !t.retried && (!t.status.is_terminal() || !t.executed));
    if !pending {
        complete_workflow(st, None);
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
                let reason = format!(
                    "Task {} failed with status: {} and reason: '{}'",
                    t.task_id,
                    t.status.as_str(),
                    t.reason_for_incompletion.as_deref().unwrap_or("")
                );
                st.tasks[i].executed = true;
                st.mark_dirty(i);
                fail_workflow(st, status, reason, Some(i));
                return;
            }
        }
    }
    st.tasks[i].executed = true;
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
        let delay = retry_delay_ms(&def, task.retry_count, jitter);
        schedule_retry(st, i, delay);
        return Failure::Retried;
    }
    if node.as_ref().is_some_and(|n| n.optional) {
        st.set_status(i, TaskStatus::CompletedWithErrors);
        return Failure::Tolerated;
    }
    Failure::Fatal
}

fn first_scheduled_time(st: &ExecState, task: &Task) -> i64 {
    st.tasks
        .iter()
        .filter(|t| t.reference_task_name == task.reference_task_name)
        .map(|t| t.scheduled_time)
        .min()
        .unwrap_or(task.scheduled_time)
}

/// A new attempt: new id, `retryCount + 1`, input re-evaluated, pollable after the delay.
pub(crate) fn schedule_retry(st: &mut ExecState, i: usize, delay_ms: i64) {
    let old = st.tasks[i].clone();
    st.tasks[i].retried = true;
    st.tasks[i].executed = true;
    st.mark_dirty(i);
    let mut t = old.clone();
    t.task_id = new_id();
    t.retried_task_id = Some(old.task_id.clone());
    t.retry_count = old.retry_count + 1;
    t.status = TaskStatus::Scheduled;
    t.poll_count = 0;
    t.start_time = 0;
    t.end_time = 0;
    t.first_start_time = 0;
    t.worker_id = None;
    t.output_data = JsonMap::new();
    t.retried = false;
    t.executed = false;
    t.seq = next_seq(st);
    t.scheduled_time = st.now;
    t.update_time = st.now;
    t.queue_wait_time = 0;
    t.callback_after_seconds = delay_ms / 1000;
    t.start_delay_in_seconds = i32::try_from(delay_ms / 1000).unwrap_or(i32::MAX);
    if let Some(node) = st.node_of(&old).map(|n| n.into_owned()) {
        t.input_data = task_input(st, &node, &t.task_id);
    }
    let is_queued = !sys::is_system(&t.task_type) || sys::is_async_system(&t.task_type);
    let sync_type = t.task_type.clone();
    let idx = st.add_task(t);
    if is_queued {
        st.enqueue(idx, after(st.now, delay_ms));
    } else if let Some(node) = st.node_of(&st.tasks[idx].clone()).map(|n| n.into_owned()) {
        // A retried synchronous task (INLINE, JQ…) runs again right away.
        let _ = sync_type;
        run_sync_into(st, idx, &node);
    }
}

/// Schedules what follows a task that ended successfully.
fn schedule_successors(st: &mut ExecState, i: usize) {
    let task = st.tasks[i].clone();
    let def = st.def.clone();
    let index = st.index.clone();
    let reference = base_ref(&task.reference_task_name).to_string();
    let Some(node) = index.node(&def, &reference) else {
        return;
    };
    match task.task_type.as_str() {
        sys::SWITCH | sys::DECISION => {
            let case = task
                .output_data
                .get("selectedCase")
                .map(sys::case_string)
                .or_else(|| {
                    task.output_data
                        .get("caseOutput")
                        .and_then(|v| v.get(0))
                        .map(sys::case_string)
                })
                .unwrap_or_default();
            let branch = match node.decision_cases.get(&case) {
                // DECISION falls back to the default on an empty case list; SWITCH does not.
                Some(list) if !list.is_empty() || task.task_type == sys::SWITCH => list,
                _ => &node.default_case,
            };
            match branch.first() {
                Some(first) => schedule_node(st, first, task.iteration),
                None => advance_from(st, &reference, task.iteration),
            }
        }
        sys::FORK if node.task_type == sys::FORK_JOIN_DYNAMIC => {
            let forked: Vec<WorkflowTask> = task
                .input_data
                .get("forkedTaskDefs")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let mut join_on = Vec::new();
            for wt in &forked {
                join_on.push(wt.task_reference_name.clone());
                schedule_node(st, wt, task.iteration);
            }
            schedule_join_after(st, &reference, task.iteration, Some(join_on));
        }
        sys::FORK => {
            for branch in &node.fork_tasks {
                if let Some(first) = branch.first() {
                    schedule_node(st, first, task.iteration);
                }
            }
            // The JOIN follows the fork in the same list.
            advance_from(st, &reference, task.iteration);
        }
        // A DO_WHILE's own `iteration` counts its loop; what follows it belongs to the
        // level the loop sits in, whose iteration is the loop task's reference suffix.
        sys::DO_WHILE => advance_from(st, &reference, ref_iteration(&task.reference_task_name)),
        _ => advance_from(st, &reference, task.iteration),
    }
}

/// Schedules the node after `reference` in its list, climbing out of finished branches.
pub(crate) fn advance_from(st: &mut ExecState, reference: &str, iteration: i32) {
    let def = st.def.clone();
    let index = st.index.clone();
    let Some(loc) = index.location(reference).cloned() else {
        return;
    };
    let Some(list) = index.list(&def, &loc) else {
        return;
    };
    if let Some(next) = list.get(loc.index + 1) {
        schedule_node(st, next, iteration);
        return;
    }
    // End of a fork branch: the JOIN notices. End of a loop body: the DO_WHILE notices.
    // End of the top level: the workflow completes when nothing is pending.
    if let (crate::state::Step::Case(_) | crate::state::Step::Default, Some(parent)) =
        (&loc.step, &loc.parent)
    {
        advance_from(st, parent, iteration);
    }
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
    st.tasks.iter().map(|t| t.seq).max().unwrap_or(0) + 1
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_REASON {
        s.to_string()
    } else {
        s.chars().take(MAX_REASON).collect()
    }
}

/// Resolves a node's input: TaskDef template merged in, expressions evaluated (§6.4).
fn task_input(st: &ExecState, node: &WorkflowTask, task_id: &str) -> JsonMap {
    let template = node
        .task_definition
        .as_ref()
        .map(|d| &d.input_template)
        .filter(|t| !t.is_empty());
    match template {
        None => resolve_map(&node.input_parameters, st, Some(task_id)),
        Some(template) => {
            let mut params = node.input_parameters.clone();
            for (k, v) in template {
                params.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let mut out = resolve_map(&params, st, Some(task_id));
            for (k, v) in out.iter_mut() {
                if v.is_null() {
                    if let Some(raw) = template.get(k) {
                        *v = raw.clone();
                    }
                }
            }
            out
        }
    }
}

/// The domain of a worker task from the workflow's taskToDomain (`*` first, then by name).
fn domain_for(st: &ExecState, task_name: &str) -> Option<String> {
    let map = &st.workflow.task_to_domain;
    let list = map.get(task_name).or_else(|| map.get("*"))?;
    let domains: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    // The first domain with a worker polling it lately wins, else the last listed (§4.11);
    // NO_DOMAIN means none.
    let active = |d: &&&str| {
        **d != "NO_DOMAIN"
            && st
                .active_domains
                .as_ref()
                .is_some_and(|a| a.contains(&(task_name.to_string(), (**d).to_string())))
    };
    let chosen = domains.iter().find(active).or_else(|| domains.last())?;
    (*chosen != "NO_DOMAIN").then(|| chosen.to_string())
}

/// A task row for a node, not yet added.
fn base_task(st: &ExecState, node: &WorkflowTask, task_type: &str, iteration: i32) -> Task {
    let def = node.task_definition.clone();
    let is_worker = !sys::is_system(task_type);
    let task_def_name = if sys::is_structural(task_type) && task_type != sys::DO_WHILE {
        task_type.to_string()
    } else {
        node.name.clone()
    };
    Task {
        task_type: task_type.to_string(),
        status: TaskStatus::Scheduled,
        reference_task_name: loop_ref(&node.task_reference_name, iteration),
        seq: next_seq(st),
        correlation_id: st.workflow.correlation_id.clone(),
        task_def_name,
        scheduled_time: st.now,
        update_time: st.now,
        start_delay_in_seconds: node.start_delay.max(0),
        callback_after_seconds: i64::from(node.start_delay.max(0)),
        callback_from_worker: true,
        response_timeout_seconds: if is_worker {
            def.as_ref().map_or(3600, |d| d.response_timeout_seconds)
        } else {
            0
        },
        workflow_instance_id: st.workflow.workflow_id.clone(),
        workflow_type: st.workflow.workflow_name.clone(),
        task_id: new_id(),
        rate_limit_per_frequency: def
            .as_ref()
            .and_then(|d| d.rate_limit_per_frequency)
            .unwrap_or(0),
        rate_limit_frequency_in_seconds: def
            .as_ref()
            .and_then(|d| d.rate_limit_frequency_in_seconds)
            .unwrap_or(1),
        workflow_priority: st.workflow.priority,
        iteration,
        loop_over_task: iteration > 0,
        ..Task::default()
    }
}

/// Creates the task(s) for a definition node (§5).
pub(crate) fn schedule_node(st: &mut ExecState, node: &WorkflowTask, iteration: i32) {
    let reference = loop_ref(&node.task_reference_name, iteration);
    if let Some(existing) = st.tasks.iter().find(|t| t.reference_task_name == reference) {
        // A node is never scheduled twice; one skipped through the API is walked past.
        if existing.status == TaskStatus::Skipped {
            advance_from(st, &node.task_reference_name, iteration);
        }
        return;
    }
    let ttype = node.task_type.as_str();
    match ttype {
        sys::SWITCH | sys::DECISION => {
            let mut t = base_task(st, node, ttype, iteration);
            let mut input = resolve_map(&node.input_parameters, st, None);
            match evaluate_case(node, &input) {
                Ok(case) => {
                    input.insert("case".into(), Value::String(case.clone()));
                    t.output_data = if ttype == sys::SWITCH {
                        obj(json!({ "evaluationResult": [case.clone()], "selectedCase": case }))
                    } else {
                        obj(json!({ "caseOutput": [case] }))
                    };
                    add_evaluated(st, t, input, Ok(()));
                }
                Err(reason) => add_evaluated(st, t, input, Err(reason)),
            }
        }
        sys::FORK_JOIN_DYNAMIC => {
            let t = base_task(st, node, sys::FORK, iteration);
            let mut input = task_input(st, node, &t.task_id);
            match dynamic_branches(st, node, &input) {
                Ok(branches) => {
                    let refs: Vec<Value> = branches
                        .iter()
                        .map(|b| json!(b.task_reference_name))
                        .collect();
                    input.insert("forkedTasks".into(), Value::Array(refs));
                    input.insert("forkedTaskDefs".into(), json!(branches));
                    add_evaluated(st, t, input, Ok(()));
                }
                Err(reason) if reason.starts_with(FORK_LIMIT_REASON) => {
                    // Retrying cannot shrink the list: fail for good.
                    let mut t = t;
                    t.status = TaskStatus::FailedWithTerminalError;
                    t.reason_for_incompletion = Some(truncate(&reason));
                    t.input_data = input;
                    stamp_done(st, &mut t);
                    st.add_task(t);
                }
                Err(reason) => add_evaluated(st, t, input, Err(reason)),
            }
        }
        sys::FORK_JOIN => {
            let mut t = base_task(st, node, sys::FORK, iteration);
            t.input_data = resolve_map(&node.input_parameters, st, None);
            t.status = TaskStatus::Completed;
            stamp_done(st, &mut t);
            st.add_task(t);
        }
        sys::JOIN | sys::EXCLUSIVE_JOIN => {
            let mut t = base_task(st, node, ttype, iteration);
            let mut input = resolve_map(&node.input_parameters, st, None);
            input.insert("joinOn".into(), json!(node.join_on));
            t.input_data = input;
            t.status = TaskStatus::InProgress;
            t.start_time = st.now;
            st.add_task(t);
        }
        sys::DO_WHILE => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = resolve_map(&node.input_parameters, st, None);
            t.status = TaskStatus::InProgress;
            t.start_time = st.now;
            t.iteration = 1;
            t.output_data = obj(json!({ "iteration": 1 }));
            st.add_task(t);
            if let Some(first) = node.loop_over.first() {
                schedule_node(st, first, 1);
            }
        }
        sys::WAIT | sys::HUMAN => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = task_input(st, node, &t.task_id);
            t.status = TaskStatus::InProgress;
            t.start_time = st.now;
            st.add_task(t);
        }
        sys::TERMINATE
        | sys::SET_VARIABLE
        | sys::NOOP
        | sys::INLINE
        | sys::LAMBDA
        | sys::JSON_JQ_TRANSFORM => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = task_input(st, node, &t.task_id);
            t.status = TaskStatus::InProgress;
            t.start_time = st.now;
            let idx = st.add_task(t);
            run_sync_into(st, idx, node);
        }
        sys::DYNAMIC => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = task_input(st, node, &t.task_id);
            let param = node
                .dynamic_task_name_param
                .as_deref()
                .unwrap_or("taskToExecute");
            match t.input_data.get(param).and_then(Value::as_str) {
                Some(name) if !name.is_empty() => {
                    t.task_type = name.to_string();
                    t.task_def_name = name.to_string();
                    schedule_worker(st, t, node);
                }
                _ => {
                    t.status = TaskStatus::Failed;
                    t.reason_for_incompletion = Some(format!(
                        "DYNAMIC task '{}' has no task name in input '{}'",
                        node.task_reference_name, param
                    ));
                    stamp_done(st, &mut t);
                    st.add_task(t);
                }
            }
        }
        sys::SUB_WORKFLOW => {
            let mut t = base_task(st, node, ttype, iteration);
            let workflow_input = task_input(st, node, &t.task_id);
            let params = node.sub_workflow_param.clone().unwrap_or_default();
            let definition = params
                .workflow_definition
                .as_ref()
                .map(|d| expr::resolve_value(d, st, None));
            let mut input = JsonMap::new();
            input.insert("subWorkflowName".into(), json!(params.name));
            if let Some(v) = params.version {
                input.insert("subWorkflowVersion".into(), json!(v));
            }
            if let Some(map) = &params.task_to_domain {
                input.insert("subWorkflowTaskToDomain".into(), json!(map));
            }
            if let Some(d) = definition {
                input.insert("subWorkflowDefinition".into(), d);
            }
            input.insert("workflowInput".into(), Value::Object(workflow_input));
            t.input_data = input;
            schedule_worker(st, t, node);
        }
        _ => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = task_input(st, node, &t.task_id);
            if ttype == sys::HTTP || ttype == sys::EVENT {
                if node.async_complete {
                    t.input_data.insert("asyncComplete".into(), json!(true));
                }
                if let Some(sink) = &node.sink {
                    t.input_data.insert("sink".into(), json!(sink));
                }
            }
            if ttype == sys::SIMPLE {
                t.task_type = node.name.clone();
            }
            schedule_worker(st, t, node);
        }
    }
}

/// Queues a worker (or asynchronous system) task.
fn schedule_worker(st: &mut ExecState, mut t: Task, node: &WorkflowTask) {
    if !sys::is_system(&t.task_type) {
        t.domain = domain_for(st, &t.task_def_name);
    }
    let idx = st.add_task(t);
    st.enqueue(idx, after_secs(st.now, i64::from(node.start_delay)));
}

/// Adds an operator task that was evaluated as it was scheduled: COMPLETED, or FAILED with
/// the reason its evaluation gave.
fn add_evaluated(st: &mut ExecState, mut t: Task, input: JsonMap, outcome: Result<(), String>) {
    match outcome {
        Ok(()) => t.status = TaskStatus::Completed,
        Err(reason) => {
            t.status = TaskStatus::Failed;
            t.reason_for_incompletion = Some(truncate(&reason));
        }
    }
    t.input_data = input;
    stamp_done(st, &mut t);
    st.add_task(t);
}

fn stamp_done(st: &ExecState, t: &mut Task) {
    t.start_time = st.now;
    t.end_time = st.now;
    t.update_time = st.now;
}

fn obj(v: Value) -> JsonMap {
    match v {
        Value::Object(m) => m,
        _ => JsonMap::new(),
    }
}

/// The case a SWITCH/DECISION selects.
fn evaluate_case(node: &WorkflowTask, input: &JsonMap) -> Result<String, String> {
    let input_value = Value::Object(input.clone());
    if node.task_type == sys::DECISION {
        if let Some(param) = &node.case_value_param {
            return Ok(sys::case_string(input.get(param).unwrap_or(&Value::Null)));
        }
        if let Some(script) = &node.case_expression {
            return baton_script::eval_js(script, &input_value, &sys::script_limits())
                .map(|v| sys::case_string(&v))
                .map_err(|e| format!("DECISION caseExpression failed: {e}"));
        }
        return Err("DECISION needs caseValueParam or caseExpression".into());
    }
    let expression = node.expression.as_deref().unwrap_or_default();
    match node.evaluator_type.as_deref().unwrap_or("value-param") {
        "value-param" => Ok(sys::case_string(
            input.get(expression).unwrap_or(&Value::Null),
        )),
        "javascript" | "graaljs" => {
            baton_script::eval_js(expression, &input_value, &sys::script_limits())
                .map(|v| sys::case_string(&v))
                .map_err(|e| format!("SWITCH expression failed: {e}"))
        }
        other => Err(format!("SWITCH evaluatorType '{other}' is not supported")),
    }
}

/// Executes a synchronous system task that was just added at `idx`.
fn run_sync_into(st: &mut ExecState, idx: usize, node: &WorkflowTask) {
    let input = st.tasks[idx].input_data.clone();
    let result: SyncResult = match node.task_type.as_str() {
        sys::NOOP => SyncResult {
            status: TaskStatus::Completed,
            output: JsonMap::new(),
            reason: None,
        },
        sys::SET_VARIABLE => {
            let mut vars = st.workflow.variables.clone();
            for (k, v) in &input {
                vars.insert(k.clone(), v.clone());
            }
            let size = serde_json::to_vec(&vars)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size > 256 * 1024 {
                SyncResult {
                    status: TaskStatus::FailedWithTerminalError,
                    output: JsonMap::new(),
                    reason: Some(format!(
                        "workflow variables would be {size} bytes, over the 256 KB limit"
                    )),
                }
            } else {
                st.workflow.variables = vars;
                SyncResult {
                    status: TaskStatus::Completed,
                    output: JsonMap::new(),
                    reason: None,
                }
            }
        }
        sys::INLINE => sys::run_inline(&input, None),
        sys::LAMBDA => sys::run_inline(
            &input,
            Some(node.script_expression.as_deref().unwrap_or("")),
        ),
        sys::JSON_JQ_TRANSFORM => sys::run_jq(&input),
        sys::TERMINATE => {
            run_terminate(st, idx, &input);
            return;
        }
        _ => return,
    };
    let t = &mut st.tasks[idx];
    t.output_data = result.output;
    t.reason_for_incompletion = result.reason.map(|r| truncate(&r));
    st.set_status(idx, result.status);
}

/// TERMINATE: completes itself, then ends the workflow with the requested status (§5.12).
fn run_terminate(st: &mut ExecState, idx: usize, input: &JsonMap) {
    let status = input
        .get("terminationStatus")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_uppercase();
    let wf_status = match status.as_str() {
        "COMPLETED" => WorkflowStatus::Completed,
        "FAILED" => WorkflowStatus::Failed,
        "TERMINATED" => WorkflowStatus::Terminated,
        _ => {
            st.tasks[idx].reason_for_incompletion = Some(format!(
                "given termination status '{status}' is not valid (use COMPLETED, FAILED or TERMINATED)"
            ));
            st.set_status(idx, TaskStatus::Failed);
            return;
        }
    };
    let output = match input.get("workflowOutput") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) | None => JsonMap::new(),
        Some(other) => obj(json!({ "output": other })),
    };
    st.tasks[idx].output_data = output.clone();
    st.set_status(idx, TaskStatus::Completed);
    st.tasks[idx].executed = true;
    let reason = input
        .get("terminationReason")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "Workflow is {} by TERMINATE task: {}",
                wf_status.as_str(),
                st.tasks[idx].task_id
            )
        });
    if wf_status == WorkflowStatus::Completed {
        complete_workflow(st, Some(output));
        if input.get("terminationReason").is_some() {
            st.workflow.reason_for_incompletion = Some(reason);
        }
    } else {
        let task_index = Some(idx);
        fail_workflow_with_output(st, wf_status, reason, task_index, Some(output));
    }
}

/// Evaluates the operators that wait on others. Returns true if the task changed.
fn evaluate_waiting(st: &mut ExecState, i: usize) -> bool {
    match st.tasks[i].task_type.as_str() {
        sys::JOIN | sys::EXCLUSIVE_JOIN => evaluate_join(st, i),
        sys::DO_WHILE => evaluate_loop(st, i),
        sys::WAIT => evaluate_wait(st, i),
        _ => false,
    }
}

fn evaluate_join(st: &mut ExecState, i: usize) -> bool {
    let join = st.tasks[i].clone();
    // The refs are fixed when the JOIN is scheduled (a dynamic fork decides them then).
    let join_on: Vec<String> = match join.input_data.get("joinOn").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(|r| base_ref(r).to_string())
            .collect(),
        None => st
            .node_of(&join)
            .map(|n| n.join_on.clone())
            .unwrap_or_default(),
    };
    let mut output = JsonMap::new();
    let mut with_errors = false;
    for r in &join_on {
        let reference = loop_ref(r, join.iteration);
        let Some(idx) = st.latest_by_ref(&reference) else {
            return false;
        };
        let t = &st.tasks[idx];
        if !t.status.is_terminal() || !t.status.is_successful() {
            // A failed branch either retries (a new attempt follows) or fails the workflow.
            return false;
        }
        if t.status == TaskStatus::CompletedWithErrors {
            with_errors = true;
        }
        output.insert(r.clone(), Value::Object(t.output_data.clone()));
    }
    st.tasks[i].output_data = output;
    st.set_status(
        i,
        if with_errors {
            TaskStatus::CompletedWithErrors
        } else {
            TaskStatus::Completed
        },
    );
    true
}

fn evaluate_loop(st: &mut ExecState, i: usize) -> bool {
    let lp = st.tasks[i].clone();
    let def = st.def.clone();
    let index = st.index.clone();
    let loop_name = base_ref(&lp.reference_task_name).to_string();
    let Some(node) = index.node(&def, &loop_name) else {
        return false;
    };
    if node.loop_over.is_empty() {
        st.set_status(i, TaskStatus::Completed);
        return true;
    }
    let body: Vec<String> = index.descendants(&def, &loop_name);
    let iteration = lp.iteration.max(1);
    let current: Vec<&Task> = st
        .tasks
        .iter()
        .filter(|t| {
            !t.retried
                && t.iteration == iteration
                && body.iter().any(|b| b == base_ref(&t.reference_task_name))
        })
        .collect();
    if current.is_empty()
        || current
            .iter()
            .any(|t| !t.status.is_terminal() || !t.executed)
    {
        return false;
    }
    let mut iteration_output = JsonMap::new();
    for t in &current {
        iteration_output.insert(
            base_ref(&t.reference_task_name).to_string(),
            Value::Object(t.output_data.clone()),
        );
    }
    let mut output = lp.output_data.clone();
    output.insert(
        iteration.to_string(),
        Value::Object(iteration_output.clone()),
    );
    output.insert("iteration".into(), json!(iteration));
    // Condition input: the loop's input, its own output under its name, and each body
    // task's output under its base name.
    let mut scope = lp.input_data.clone();
    scope.insert(loop_name.clone(), Value::Object(output.clone()));
    for (k, v) in &iteration_output {
        scope.insert(k.clone(), json!({ "output": v.clone() }));
        if let Value::Object(m) = v {
            // Conductor exposes `$.ref['field']` directly on the output as well.
            if let Some(Value::Object(entry)) = scope.get_mut(k) {
                for (fk, fv) in m {
                    entry.entry(fk.clone()).or_insert_with(|| fv.clone());
                }
            }
        }
    }
    let condition = node.loop_condition.clone().unwrap_or_default();
    let verdict = if condition.trim().is_empty() {
        Ok(false)
    } else {
        baton_script::eval_js(&condition, &Value::Object(scope), &sys::script_limits())
            .map(|v| sys::truthy(&v))
            .map_err(|e| format!("DO_WHILE loopCondition failed: {e}"))
    };
    st.tasks[i].output_data = output;
    st.mark_dirty(i);
    match verdict {
        Ok(true) if i64::from(iteration) >= i64::from(st.limits.max_loop_iterations) => {
            let reason = format!(
                "DO_WHILE reached its iteration limit of {} (--max-loop-iterations)",
                st.limits.max_loop_iterations
            );
            st.tasks[i].reason_for_incompletion = Some(reason);
            st.set_status(i, TaskStatus::FailedWithTerminalError);
        }
        Ok(true) => {
            let next = iteration + 1;
            st.tasks[i].iteration = next;
            st.tasks[i]
                .output_data
                .insert("iteration".into(), json!(next));
            st.tasks[i].update_time = st.now;
            if let Some(first) = node.loop_over.first() {
                schedule_node(st, first, next);
            }
        }
        Ok(false) => st.set_status(i, TaskStatus::Completed),
        Err(reason) => {
            st.tasks[i].reason_for_incompletion = Some(truncate(&reason));
            st.set_status(i, TaskStatus::FailedWithTerminalError);
        }
    }
    true
}

/// When a WAIT task is due, or an error text if its input is unusable.
fn wait_due(t: &Task) -> Result<Option<i64>, String> {
    let duration = t.input_data.get("duration").and_then(Value::as_str);
    let until = t
        .input_data
        .get("until")
        .or_else(|| t.input_data.get("wait_until"))
        .and_then(Value::as_str);
    match (duration, until) {
        (Some(_), Some(_)) => Err("WAIT cannot have both 'duration' and 'until'".into()),
        (Some(d), None) => sys::parse_duration(d)
            .map(|ms| Some(after(t.scheduled_time, ms)))
            .ok_or_else(|| format!("WAIT duration '{d}' is not valid (e.g. '30s', '1d 2h 5m')")),
        (None, Some(u)) => sys::parse_until(u)
            .map(Some)
            .ok_or_else(|| format!("WAIT until '{u}' is not valid (use 'yyyy-MM-dd HH:mm z')")),
        (None, None) => Ok(None),
    }
}

fn evaluate_wait(st: &mut ExecState, i: usize) -> bool {
    match wait_due(&st.tasks[i]) {
        Err(reason) => {
            st.tasks[i].reason_for_incompletion = Some(reason);
            st.set_status(i, TaskStatus::FailedWithTerminalError);
            true
        }
        Ok(Some(due)) if due <= st.now => {
            st.set_status(i, TaskStatus::Completed);
            true
        }
        _ => false,
    }
}

/// Applies task timeouts (§4.5) to worker tasks. Returns true if the task changed.
fn check_task_timeouts(st: &mut ExecState, i: usize) -> bool {
    let t = st.tasks[i].clone();
    if sys::is_system(&t.task_type) {
        return false;
    }
    let def = st.task_def_of(&t);
    let now = st.now;
    if t.status == TaskStatus::InProgress
        && def.response_timeout_seconds > 0
        && now.saturating_sub(t.update_time)
            >= sum_secs_to_ms(&[def.response_timeout_seconds, t.callback_after_seconds])
    {
        st.tasks[i].reason_for_incompletion = Some(format!(
            "responseTimeout: {} exceeded for the taskId: {} with Task Definition: {}",
            def.response_timeout_seconds, t.task_id, t.task_def_name
        ));
        st.set_status(i, TaskStatus::TimedOut);
        return true;
    }
    let start_delay = secs_to_ms(i64::from(t.start_delay_in_seconds));
    let timed_out = def.timeout_seconds > 0
        && t.start_time > 0
        && now >= after_secs(after(t.start_time, start_delay), def.timeout_seconds);
    let pts = i64::from(def.poll_timeout_seconds.unwrap_or(0));
    let poll_timed_out = t.status == TaskStatus::Scheduled
        && pts > 0
        && now
            >= after(
                after(t.scheduled_time, start_delay),
                sum_secs_to_ms(&[pts, t.callback_after_seconds]),
            );
    if !(timed_out || poll_timed_out) {
        return false;
    }
    let what = if timed_out {
        format!("Task timed out after {} seconds", def.timeout_seconds)
    } else {
        format!(
            "Task poll timed out after {} seconds",
            def.poll_timeout_seconds.unwrap_or(0)
        )
    };
    match def.timeout_policy {
        TimeoutPolicy::AlertOnly => false,
        TimeoutPolicy::Retry => {
            st.tasks[i].reason_for_incompletion =
                Some(format!("{what}. Timeout policy configured to RETRY"));
            st.set_status(i, TaskStatus::TimedOut);
            true
        }
        TimeoutPolicy::TimeOutWf => {
            let reason = format!("{what}. Timeout policy configured to TIME_OUT_WF");
            st.tasks[i].reason_for_incompletion = Some(reason.clone());
            st.set_status(i, TaskStatus::TimedOut);
            st.tasks[i].executed = true;
            fail_workflow(st, WorkflowStatus::TimedOut, reason, Some(i));
            true
        }
    }
}

fn check_workflow_timeout(st: &mut ExecState) -> bool {
    let def = st.def.clone();
    if def.timeout_seconds <= 0 || def.timeout_policy != WorkflowTimeoutPolicy::TimeOutWf {
        return false;
    }
    let base = if st.workflow.last_retried_time > 0 {
        st.workflow.last_retried_time
    } else {
        st.workflow.create_time
    };
    let elapsed = st.now.saturating_sub(base);
    if elapsed < secs_to_ms(def.timeout_seconds) {
        return false;
    }
    let reason = format!(
        "Workflow timed out after {} seconds. Timeout configured as {} seconds. Timeout policy configured to TIME_OUT_WF",
        elapsed / 1000,
        def.timeout_seconds
    );
    fail_workflow(st, WorkflowStatus::TimedOut, reason, None);
    true
}

/// The earliest time a timeout or timer can change this workflow.
fn compute_wake(st: &mut ExecState) {
    let def = st.def.clone();
    if def.timeout_seconds > 0 && def.timeout_policy == WorkflowTimeoutPolicy::TimeOutWf {
        let base = if st.workflow.last_retried_time > 0 {
            st.workflow.last_retried_time
        } else {
            st.workflow.create_time
        };
        st.wake_at(after_secs(base, def.timeout_seconds));
    }
    let mut dues = Vec::new();
    for t in st
        .tasks
        .iter()
        .filter(|t| !t.retried && !t.status.is_terminal())
    {
        if t.task_type == sys::WAIT {
            if let Ok(Some(due)) = wait_due(t) {
                dues.push(due);
            }
            continue;
        }
        if t.task_type == sys::SUB_WORKFLOW && t.status == TaskStatus::InProgress {
            // A child wakes its parent when it ends; this is the safety net should that
            // wake-up be lost (the parent row rewritten in between, or a crash).
            dues.push(after(st.now, SUB_WORKFLOW_CHECK_MS));
            continue;
        }
        if sys::is_system(&t.task_type) {
            continue;
        }
        let td = st.task_def_of(t);
        let start_delay = secs_to_ms(i64::from(t.start_delay_in_seconds));
        if t.status == TaskStatus::InProgress && td.response_timeout_seconds > 0 {
            dues.push(after(
                t.update_time,
                sum_secs_to_ms(&[td.response_timeout_seconds, t.callback_after_seconds]),
            ));
        }
        if td.timeout_seconds > 0
            && t.start_time > 0
            && td.timeout_policy != TimeoutPolicy::AlertOnly
        {
            dues.push(after_secs(
                after(t.start_time, start_delay),
                td.timeout_seconds,
            ));
        }
        let pts = i64::from(td.poll_timeout_seconds.unwrap_or(0));
        if t.status == TaskStatus::Scheduled
            && pts > 0
            && td.timeout_policy != TimeoutPolicy::AlertOnly
        {
            dues.push(after(
                after(t.scheduled_time, start_delay),
                sum_secs_to_ms(&[pts, t.callback_after_seconds]),
            ));
        }
    }
    for d in dues {
        st.wake_at(d);
    }
}

/// The workflow's output: TERMINATE's, else `outputParameters`, else the last task's (§4.3).
fn workflow_output(st: &ExecState) -> JsonMap {
    if !st.def.output_parameters.is_empty() {
        return resolve_map(&st.def.output_parameters, st, None);
    }
    st.tasks
        .iter()
        .rev()
        .find(|t| !t.retried)
        .map(|t| t.output_data.clone())
        .unwrap_or_default()
}

fn collect_failed_names(st: &mut ExecState) {
    let mut refs: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for t in &st.tasks {
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
    st.workflow.failed_task_id = task.map(|i| st.tasks[i].task_id.clone());
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
        failed.tasks = st.tasks.clone();
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
    for i in 0..st.tasks.len() {
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
        return;
    }
    cancel_pending(st);
    st.workflow.output = workflow_output(st);
    collect_failed_names(st);
    st.set_workflow_status(WorkflowStatus::Terminated, reason.map(|r| truncate(&r)));
    notify_parent(st);
}

/// Schedules the JOIN that follows `fork_ref`, waiting on `join_on` when given.
fn schedule_join_after(
    st: &mut ExecState,
    fork_ref: &str,
    iteration: i32,
    join_on: Option<Vec<String>>,
) {
    let def = st.def.clone();
    let index = st.index.clone();
    let Some(loc) = index.location(fork_ref).cloned() else {
        return;
    };
    let Some(next) = index.list(&def, &loc).and_then(|l| l.get(loc.index + 1)) else {
        return;
    };
    let before = st.tasks.len();
    schedule_node(st, next, iteration);
    if let (Some(refs), true) = (join_on, st.tasks.len() > before) {
        let j = before;
        if st.tasks[j].task_type == sys::JOIN {
            st.tasks[j].input_data.insert("joinOn".into(), json!(refs));
            st.mark_dirty(j);
        }
    }
}

/// How a FORK_JOIN_DYNAMIC's failure over `EngineLimits::max_fork_branches` begins.
const FORK_LIMIT_REASON: &str = "FORK_JOIN_DYNAMIC branch limit";

/// The branches of a FORK_JOIN_DYNAMIC (§5.7), each as a node whose input is literal.
fn dynamic_branches(
    st: &ExecState,
    node: &WorkflowTask,
    input: &JsonMap,
) -> Result<Vec<WorkflowTask>, String> {
    let listed = if let Some(param) = node.dynamic_fork_tasks_param.as_deref() {
        input.get(param).and_then(Value::as_array)
    } else if let Some(param) = node.dynamic_fork_join_tasks_param.as_deref() {
        input
            .get(param)
            .and_then(|v| v.get("dynamicTasks"))
            .and_then(Value::as_array)
    } else {
        input.get("forkTaskInputs").and_then(Value::as_array)
    };
    let (count, limit) = (listed.map_or(0, Vec::len), st.limits.max_fork_branches);
    if count > limit {
        return Err(format!(
            "{FORK_LIMIT_REASON} of {limit} exceeded: {count} branches listed \
             (--max-fork-branches, BATON_MAX_FORK_BRANCHES); nothing was forked"
        ));
    }
    let mut out: Vec<WorkflowTask> = Vec::new();
    if let Some(param) = node.dynamic_fork_tasks_param.as_deref() {
        let list = input
            .get(param)
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        let tasks: Vec<WorkflowTask> = serde_json::from_value(list).map_err(|e| {
            format!("input '{param}' of FORK_JOIN_DYNAMIC must be a list of tasks: {e}")
        })?;
        let inputs_key = node
            .dynamic_fork_tasks_input_param_name
            .as_deref()
            .unwrap_or("dynamicTasksInputs");
        let inputs = match input.get(inputs_key) {
            None | Some(Value::Null) => JsonMap::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(format!(
                    "input '{inputs_key}' of FORK_JOIN_DYNAMIC must be a map of reference name to input"
                ))
            }
        };
        for mut t in tasks {
            if let Some(Value::Object(m)) = inputs.get(&t.task_reference_name) {
                t.input_parameters = m.clone();
            }
            out.push(t);
        }
    } else if let Some(param) = node.dynamic_fork_join_tasks_param.as_deref() {
        let list = input
            .get(param)
            .and_then(|v| v.get("dynamicTasks"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in list {
            let name = item
                .get("taskName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let reference = item
                .get("referenceName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ttype = item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or(sys::SIMPLE);
            let mut t = WorkflowTask::new(name, reference, ttype);
            if let Some(Value::Object(m)) = item.get("input") {
                t.input_parameters = m.clone();
            }
            out.push(t);
        }
    } else {
        let Some(items) = input.get("forkTaskInputs").and_then(Value::as_array) else {
            return Err(
                "FORK_JOIN_DYNAMIC needs dynamicForkTasksParam or input 'forkTaskInputs' (a list)"
                    .into(),
            );
        };
        let workflow = input.get("forkTaskWorkflow").and_then(Value::as_str);
        let name = input
            .get("forkTaskName")
            .and_then(Value::as_str)
            .or(workflow)
            .unwrap_or(&node.task_reference_name)
            .to_string();
        let ttype = if workflow.is_some() {
            sys::SUB_WORKFLOW
        } else {
            input
                .get("forkTaskType")
                .and_then(Value::as_str)
                .unwrap_or(sys::SIMPLE)
        };
        for (i, item) in items.iter().enumerate() {
            let mut t = WorkflowTask::new(&name, &format!("_{name}_{i}"), ttype);
            let mut task_input = match item {
                Value::Object(m) => m.clone(),
                other => {
                    let mut m = JsonMap::new();
                    m.insert("input".into(), other.clone());
                    m
                }
            };
            task_input.insert("__index".into(), json!(i));
            t.input_parameters = task_input;
            t.optional = node.optional;
            if let Some(wf) = workflow {
                t.sub_workflow_param = Some(baton_model::SubWorkflowParams {
                    name: wf.to_string(),
                    version: input
                        .get("forkTaskWorkflowVersion")
                        .and_then(Value::as_i64)
                        .map(|v| v as i32),
                    ..Default::default()
                });
            }
            out.push(t);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for t in &out {
        if t.task_reference_name.is_empty() {
            return Err("every dynamically forked task needs a taskReferenceName".into());
        }
        if !seen.insert(t.task_reference_name.clone())
            || st.index.location(&t.task_reference_name).is_some()
            || st
                .tasks
                .iter()
                .any(|x| x.reference_task_name == t.task_reference_name)
        {
            return Err(format!(
                "dynamically forked task reference '{}' is not unique",
                t.task_reference_name
            ));
        }
    }
    Ok(out)
}
