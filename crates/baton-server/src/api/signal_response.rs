//! Conductor's `SignalResponse`: how the synchronous `execute` and task `signal/sync` routes
//! answer, shaped by the caller's `returnStrategy`.

use super::params::{text, QueryMap};
use crate::error::ApiError;
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_model::{Task, Workflow};
use baton_runtime::Blocking;
use serde_json::{json, Value};

/// What a synchronous call answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnStrategy {
    TargetWorkflow,
    BlockingWorkflow,
    BlockingTask,
    BlockingTaskInput,
    TargetWorkflowOutput,
}

impl ReturnStrategy {
    const ALL: [(&'static str, ReturnStrategy); 5] = [
        ("TARGET_WORKFLOW", ReturnStrategy::TargetWorkflow),
        ("BLOCKING_WORKFLOW", ReturnStrategy::BlockingWorkflow),
        ("BLOCKING_TASK", ReturnStrategy::BlockingTask),
        ("BLOCKING_TASK_INPUT", ReturnStrategy::BlockingTaskInput),
        (
            "TARGET_WORKFLOW_OUTPUT",
            ReturnStrategy::TargetWorkflowOutput,
        ),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("TARGET_WORKFLOW", |(n, _)| n)
    }

    /// The `returnStrategy` parameter; TARGET_WORKFLOW when absent.
    pub fn from_query(q: &QueryMap) -> Result<Self, ApiError> {
        let Some(raw) = text(q, "returnStrategy") else {
            return Ok(ReturnStrategy::TargetWorkflow);
        };
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(raw.trim()))
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                ApiError::bad_request(format!(
                    "query parameter 'returnStrategy' must be one of {}, got '{raw}'",
                    names.join(", ")
                ))
            })
    }
}

/// Checks `consistency` (SYNCHRONOUS, DURABLE, REGION_DURABLE). Baton answers only after its
/// commit is durable, which satisfies each of them.
pub fn check_consistency(q: &QueryMap) -> Result<(), ApiError> {
    match text(q, "consistency") {
        None => Ok(()),
        Some(c)
            if ["SYNCHRONOUS", "DURABLE", "REGION_DURABLE"]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(c.trim())) =>
        {
            Ok(())
        }
        Some(c) => Err(ApiError::bad_request(format!(
            "query parameter 'consistency' must be one of SYNCHRONOUS, DURABLE, REGION_DURABLE, got '{c}'"
        ))),
    }
}

fn workflow_run(
    w: &Workflow,
    target: &Workflow,
    strategy: ReturnStrategy,
    request_id: &str,
    timed_out: bool,
) -> Value {
    json!({
        "responseType": strategy.name(),
        "targetWorkflowId": target.workflow_id,
        "targetWorkflowStatus": target.status,
        "requestId": request_id,
        "workflowId": w.workflow_id,
        "correlationId": w.correlation_id,
        "input": w.input,
        "output": w.output,
        "signalTimeout": timed_out,
        "priority": w.priority,
        "variables": w.variables,
        "tasks": w.tasks,
        "createdBy": w.created_by,
        "createTime": w.create_time,
        "status": w.status,
        "updateTime": w.update_time,
    })
}

fn task_run(t: &Task, target: &Workflow, strategy: ReturnStrategy, request_id: &str) -> Value {
    json!({
        "responseType": strategy.name(),
        "targetWorkflowId": target.workflow_id,
        "targetWorkflowStatus": target.status,
        "requestId": request_id,
        "taskType": t.task_type,
        "taskId": t.task_id,
        "referenceTaskName": t.reference_task_name,
        "retryCount": t.retry_count,
        "taskDefName": t.task_def_name,
        "retriedTaskId": t.retried_task_id,
        "workflowType": t.workflow_type,
        "reasonForIncompletion": t.reason_for_incompletion,
        "priority": t.workflow_priority,
        "workflowId": t.workflow_instance_id,
        "correlationId": t.correlation_id,
        "status": t.status,
        "input": t.input_data,
        "output": t.output_data,
        "createdBy": t.worker_id,
        "createTime": t.start_time,
        "updateTime": t.update_time,
    })
}

/// The answer for `b` under `strategy`. As in Conductor, a task strategy with no blocking
/// task (the workflow ended, or the wait timed out) answers 200 with an empty body.
pub fn render(b: &Blocking, strategy: ReturnStrategy, request_id: &str) -> Response {
    let target = &b.target;
    let body = match strategy {
        ReturnStrategy::TargetWorkflow => Some(workflow_run(
            target,
            target,
            strategy,
            request_id,
            b.timed_out,
        )),
        ReturnStrategy::BlockingWorkflow => {
            let w = b.blocking_workflow.as_ref().unwrap_or(target);
            Some(workflow_run(w, target, strategy, request_id, b.timed_out))
        }
        ReturnStrategy::TargetWorkflowOutput => Some(json!({
            "responseType": strategy.name(),
            "targetWorkflowId": target.workflow_id,
            "targetWorkflowStatus": target.status,
            "requestId": request_id,
            "workflowId": target.workflow_id,
            "correlationId": target.correlation_id,
            "input": target.input,
            "output": target.output,
        })),
        ReturnStrategy::BlockingTask | ReturnStrategy::BlockingTaskInput => b
            .blocking_tasks
            .first()
            .map(|t| task_run(t, target, strategy, request_id)),
    };
    match body {
        Some(v) => Json(v).into_response(),
        None => ().into_response(),
    }
}
