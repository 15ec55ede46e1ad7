//! Workflow operations from the API (§4.9): pause, resume, restart, retry, rerun, skip.
//! Each checks its precondition against the loaded state, changes it, and decides again.

use crate::decider::{decide, schedule_node, schedule_retry};
use crate::state::{base_ref, ExecState};
use crate::systask as sys;
use baton_model::{JsonMap, Task, TaskStatus, Workflow, WorkflowDef, WorkflowStatus};
use std::sync::Arc;

/// Why an operation was refused; the runtime maps it to a status code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

fn id(st: &ExecState) -> &str {
    &st.workflow.workflow_id
}

pub fn pause(st: &mut ExecState) -> Result<bool, OpError> {
    match st.workflow.status {
        WorkflowStatus::Paused => Ok(false),
        s if s.is_terminal() => Err(OpError::Conflict(format!(
            "Workflow {} is {} and cannot be paused",
            id(st),
            s.as_str()
        ))),
        _ => {
            st.set_workflow_status(WorkflowStatus::Paused, None);
            Ok(true)
        }
    }
}

pub fn resume(st: &mut ExecState) -> Result<(), OpError> {
    if st.workflow.status != WorkflowStatus::Paused {
        return Err(OpError::Conflict(format!(
            "Workflow {} is {}, not PAUSED; only a paused workflow can be resumed",
            id(st),
            st.workflow.status.as_str()
        )));
    }
    st.workflow.last_retried_time = st.now;
    st.set_workflow_status(WorkflowStatus::Running, None);
    decide(st);
    Ok(())
}

/// Whether [`restart`] accepts this workflow (checked before its parents are re-opened).
pub fn check_restart(w: &Workflow, def: &WorkflowDef) -> Result<(), OpError> {
    if !w.status.is_terminal() {
        return Err(OpError::Conflict(format!(
            "Workflow {} is {}; only a terminal workflow can be restarted",
            w.workflow_id,
            w.status.as_str()
        )));
    }
    if w.status == WorkflowStatus::Completed && !def.restartable {
        return Err(OpError::NotFound(format!(
            "Workflow {} is COMPLETED and its definition is not restartable",
            w.workflow_id
        )));
    }
    Ok(())
}

/// Whether [`rerun`] accepts this workflow (checked before its parents are re-opened).
pub fn check_rerun(w: &Workflow) -> Result<(), OpError> {
    if !w.status.is_terminal() {
        return Err(OpError::Conflict(format!(
            "Workflow {} is {}; only a terminal workflow can be rerun",
            w.workflow_id,
            w.status.as_str()
        )));
    }
    Ok(())
}

/// Forgets every task and runs the workflow again from its first node, with the same id.
pub fn restart(st: &mut ExecState, latest_def: Option<Arc<WorkflowDef>>) -> Result<(), OpError> {
    check_restart(&st.workflow, &st.def)?;
    if let Some(def) = latest_def {
        st.index = Arc::new(crate::state::DefIndex::build(&def));
        st.workflow.workflow_version = def.version;
        st.def = def;
    }
    clear_tasks(st, |_| true);
    reset_running(st);
    // Conductor's restart clears `failedTaskId` but keeps the failed task names.
    st.workflow.failed_task_id = None;
    st.workflow.create_time = st.now;
    st.workflow.start_time = st.now;
    st.workflow.last_retried_time = 0;
    st.workflow.variables = st.def.variables.clone();
    decide(st);
    Ok(())
}

/// Creates new attempts for the failed, timed-out and canceled tasks and runs on (§4.9).
pub fn retry(st: &mut ExecState) -> Result<(), OpError> {
    if !st.workflow.status.is_terminal() {
        return Err(OpError::NotFound(format!(
            "Workflow {} is {}; only a terminal workflow can be retried",
            id(st),
            st.workflow.status.as_str()
        )));
    }
    // The latest non-retried attempt of each reference name, in list order.
    let failed: Vec<usize> = st
        .tasks
        .live()
        .filter(|(i, t)| !t.retried && st.latest_by_ref(&t.reference_task_name) == Some(*i))
        .map(|(i, _)| i)
        .filter(|&i| {
            matches!(
                st.tasks[i].status,
                TaskStatus::Failed
                    | TaskStatus::FailedWithTerminalError
                    | TaskStatus::TimedOut
                    | TaskStatus::Canceled
            )
        })
        .collect();
    if failed.is_empty() && st.workflow.status != WorkflowStatus::TimedOut {
        return Err(OpError::Conflict(format!(
            "Workflow {} has no failed, timed out or canceled task to retry",
            id(st)
        )));
    }
    reset_running(st);
    st.workflow.last_retried_time = st.now;
    for i in failed {
        if sys::is_structural(&st.tasks[i].task_type) {
            // JOIN and DO_WHILE wait again for their tasks.
            st.task_mut(i).executed = false;
            st.task_mut(i).end_time = 0;
            st.task_mut(i).reason_for_incompletion = None;
            st.set_status(i, TaskStatus::InProgress);
        } else {
            schedule_retry(st, i, 0);
        }
    }
    decide(st);
    Ok(())
}

/// Re-runs a terminal workflow from a task (or from the start), with optional new inputs.
pub fn rerun(
    st: &mut ExecState,
    from_task_id: Option<&str>,
    task_input: Option<JsonMap>,
    workflow_input: Option<JsonMap>,
    correlation_id: Option<String>,
) -> Result<(), OpError> {
    check_rerun(&st.workflow)?;
    set_rerun_inputs(st, workflow_input, correlation_id);
    let Some(task_id) = from_task_id else {
        clear_tasks(st, |_| true);
        reset_running(st);
        forget_failures(st);
        decide(st);
        return Ok(());
    };
    let Some(i) = st.find_task(task_id) else {
        return Err(OpError::NotFound(format!(
            "Task {task_id} is not part of workflow {}",
            id(st)
        )));
    };
    let from = st.tasks[i].clone();
    let node = st
        .node_of(&from)
        .map(|n| n.into_owned())
        .ok_or_else(|| OpError::Invalid(format!("Task {task_id} has no node in the definition")))?;
    clear_tasks(st, |t| t.seq >= from.seq);
    // Tasks before it that did not succeed run again too.
    for j in 0..st.tasks.len() {
        if st.tasks[j].status.is_terminal()
            && !st.tasks[j].status.is_successful()
            && !st.tasks[j].retried
        {
            schedule_retry(st, j, 0);
        }
    }
    reset_running(st);
    forget_failures(st);
    schedule_node(st, &node, from.iteration);
    if let Some(input) = task_input {
        if let Some(k) = st.latest_by_ref(&from.reference_task_name) {
            st.task_mut(k).input_data = input;
            st.mark_dirty(k);
        }
    }
    decide(st);
    Ok(())
}

fn set_rerun_inputs(
    st: &mut ExecState,
    workflow_input: Option<JsonMap>,
    correlation_id: Option<String>,
) {
    if let Some(input) = workflow_input {
        st.workflow.input = input;
        st.input_changed = true;
    }
    if correlation_id.is_some() {
        st.workflow.correlation_id = correlation_id;
    }
}

/// Re-runs a terminal workflow from its SUB_WORKFLOW task `task_id`, whose child is being
/// re-run from one of its own tasks (Conductor's rerun with a task id found in a child): the
/// tasks after it are forgotten and it waits again, in place, for the same child.
pub fn rerun_into_sub_workflow(
    st: &mut ExecState,
    task_id: &str,
    workflow_input: Option<JsonMap>,
    correlation_id: Option<String>,
) -> Result<(), OpError> {
    check_rerun(&st.workflow)?;
    let i = sub_workflow_task(st, task_id)?;
    let seq = st.tasks[i].seq;
    set_rerun_inputs(st, workflow_input, correlation_id);
    clear_tasks(st, |t| t.seq > seq);
    let Some(i) = st.find_task(task_id) else {
        return Err(OpError::NotFound(format!(
            "Task {task_id} is not part of workflow {}",
            id(st)
        )));
    };
    // Tasks before it that did not succeed run again too (as in `rerun`).
    for j in 0..st.tasks.len() {
        if j != i
            && st.tasks[j].status.is_terminal()
            && !st.tasks[j].status.is_successful()
            && !st.tasks[j].retried
        {
            schedule_retry(st, j, 0);
        }
    }
    reset_running(st);
    forget_failures(st);
    st.task_mut(i).output_data = JsonMap::new();
    wait_again(st, i);
    decide(st);
    Ok(())
}

/// Re-opens the SUB_WORKFLOW task `task_id` of a terminal parent whose child `child_id` was
/// just restarted, rerun or retried (Conductor's "update and push parents"): the task waits
/// for the same child again, the tasks canceled when the parent ended run again, and the
/// parent runs. Answers false, changing nothing, where Conductor leaves the parent alone or
/// where re-opening would be wrong: the parent is not terminal, the task is optional, it
/// succeeded (the parent went on past it), or it is no longer the current attempt (a retry
/// started another child).
pub fn reopen_for_child(
    st: &mut ExecState,
    task_id: &str,
    child_id: &str,
) -> Result<bool, OpError> {
    if !st.workflow.status.is_terminal() {
        return Ok(false);
    }
    let Some(i) = st.find_task(task_id) else {
        return Ok(false);
    };
    let t = &st.tasks[i];
    let current = !t.retried && st.latest_by_ref(&t.reference_task_name) == Some(i);
    let optional = st.node_of(t).is_some_and(|n| n.optional);
    // A task that succeeded had its successors scheduled: re-opening it would run them twice.
    if t.task_type != sys::SUB_WORKFLOW
        || t.sub_workflow_id.as_deref() != Some(child_id)
        || t.status.is_successful()
        || !current
        || optional
    {
        return Ok(false);
    }
    resume_sub_workflow_task(st, task_id)?;
    Ok(true)
}

fn sub_workflow_task(st: &ExecState, task_id: &str) -> Result<usize, OpError> {
    match st.find_task(task_id) {
        Some(i) if st.tasks[i].task_type == sys::SUB_WORKFLOW => Ok(i),
        Some(_) => Err(OpError::Invalid(format!(
            "Task {task_id} of workflow {} is not a SUB_WORKFLOW task",
            id(st)
        ))),
        None => Err(OpError::NotFound(format!(
            "Task {task_id} is not part of workflow {}",
            id(st)
        ))),
    }
}

/// Sets a SUB_WORKFLOW task waiting again for its child, marked as changed by it.
fn wait_again(st: &mut ExecState, i: usize) {
    let t = st.task_mut(i);
    t.executed = false;
    t.end_time = 0;
    t.reason_for_incompletion = None;
    t.subworkflow_changed = true;
    st.set_status(i, TaskStatus::InProgress);
}

/// Records a SKIPPED attempt for a node that has not run yet; the decider walks past it.
pub fn skip_task(
    st: &mut ExecState,
    reference: &str,
    input: Option<JsonMap>,
    output: Option<JsonMap>,
) -> Result<(), OpError> {
    if st.workflow.status != WorkflowStatus::Running {
        return Err(OpError::Conflict(format!(
            "Workflow {} is {}; tasks can be skipped only in a RUNNING workflow",
            id(st),
            st.workflow.status.as_str()
        )));
    }
    let Some(node) = st.index.node(&st.def, base_ref(reference)).cloned() else {
        return Err(OpError::NotFound(format!(
            "No task with reference name '{reference}' in workflow {}",
            id(st)
        )));
    };
    if st.latest_by_ref(reference).is_some() {
        return Err(OpError::Conflict(format!(
            "Task '{reference}' has already been scheduled and cannot be skipped"
        )));
    }
    let seq = st.tasks.next_seq();
    // The type it would have run with: a worker task's is its name (as Conductor's skip
    // sets it); a system task keeps its system type, which the decider walks by.
    let task_type = if node.task_type == sys::SIMPLE {
        node.name.clone()
    } else {
        node.task_type.clone()
    };
    let t = Task {
        task_type,
        status: TaskStatus::Skipped,
        input_data: input.unwrap_or_default(),
        output_data: output.unwrap_or_default(),
        reference_task_name: reference.to_string(),
        task_def_name: node.name.clone(),
        seq,
        scheduled_time: st.now,
        start_time: st.now,
        end_time: st.now,
        update_time: st.now,
        workflow_instance_id: st.workflow.workflow_id.clone(),
        workflow_type: st.workflow.workflow_name.clone(),
        correlation_id: st.workflow.correlation_id.clone(),
        task_id: uuid::Uuid::now_v7().to_string(),
        // Handled when the flow reaches the node, not now.
        executed: true,
        callback_from_worker: true,
        ..Task::default()
    };
    st.add_task(t);
    decide(st);
    Ok(())
}

/// Sets a terminal workflow running again. What it records of earlier failures stays, as in
/// Conductor: a retried workflow keeps `failedTaskId` (the first failure's) and the names of
/// the tasks that failed, and adds to them; only a rerun forgets them (`forget_failures`),
/// and a restart forgets `failedTaskId`.
fn reset_running(st: &mut ExecState) {
    // Tasks that had succeeded may run again.
    st.tasks.forget_join_progress();
    st.workflow.end_time = 0;
    st.workflow.output = JsonMap::new();
    st.workflow.reason_for_incompletion = None;
    st.set_workflow_status(WorkflowStatus::Running, None);
    st.workflow.end_time = 0;
}

/// A rerun starts the record of failures afresh (Conductor's rerun resets `failedTaskId`
/// and both name sets).
fn forget_failures(st: &mut ExecState) {
    st.workflow.failed_reference_task_names.clear();
    st.workflow.failed_task_names.clear();
    st.workflow.failed_task_id = None;
}

/// Deletes the tasks matching `pred` (and their queue entries).
fn clear_tasks(st: &mut ExecState, pred: impl Fn(&Task) -> bool) {
    let mut keep = Vec::new();
    let mut old = std::mem::take(&mut st.tasks);
    old.compact();
    let mut dirty_keep = Vec::new();
    let was_dirty: Vec<bool> = (0..old.len()).map(|i| old.is_dirty(i)).collect();
    for (i, t) in old.into_vec().into_iter().enumerate() {
        if pred(&t) {
            st.queue_remove.push(t.task_id.clone());
            st.removed_tasks.push(t.task_id);
        } else {
            dirty_keep.push(was_dirty.get(i).copied().unwrap_or(false));
            keep.push(t);
        }
    }
    st.replace_tasks(keep, dirty_keep);
}

/// Re-opens a failed SUB_WORKFLOW task whose child was retried in place
/// (`resumeSubworkflowTasks`): the task waits for the same child again and the workflow runs.
pub fn resume_sub_workflow_task(st: &mut ExecState, task_id: &str) -> Result<(), OpError> {
    if !st.workflow.status.is_terminal() {
        return Err(OpError::NotFound(format!(
            "Workflow {} is {}; only a terminal workflow can be retried",
            id(st),
            st.workflow.status.as_str()
        )));
    }
    let i = st.find_task(task_id).ok_or_else(|| {
        OpError::NotFound(format!("Task {task_id} is not part of workflow {}", id(st)))
    })?;
    reset_running(st);
    st.workflow.last_retried_time = st.now;
    // Tasks canceled when the workflow failed run again.
    for j in 0..st.tasks.len() {
        if j != i && !st.tasks[j].retried && matches!(st.tasks[j].status, TaskStatus::Canceled) {
            if sys::is_structural(&st.tasks[j].task_type) {
                st.task_mut(j).executed = false;
                st.task_mut(j).end_time = 0;
                st.set_status(j, TaskStatus::InProgress);
            } else {
                schedule_retry(st, j, 0);
            }
        }
    }
    wait_again(st, i);
    decide(st);
    Ok(())
}
