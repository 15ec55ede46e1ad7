//! Executions: `Workflow`, `Task`, what workers send back (`TaskResult`), and request/response
//! shapes of the workflow and task APIs (§3.5–3.9).

use crate::{
    IdempotencyStrategy, JsonMap, TaskDef, TaskResultStatus, TaskStatus, WorkflowDef,
    WorkflowStatus, WorkflowTask,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

/// A workflow execution. Stored without `tasks` and `workflowDefinition`, which live in their
/// own rows and are attached when the execution is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_app: Option<String>,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub update_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(default)]
    pub status: WorkflowStatus,
    #[serde(default)]
    pub end_time: i64,
    #[serde(default)]
    pub workflow_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_workflow_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_workflow_task_id: Option<String>,
    #[serde(default)]
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub input: JsonMap,
    #[serde(default)]
    pub output: JsonMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re_run_from_workflow_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_for_incompletion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default)]
    pub task_to_domain: IndexMap<String, String>,
    #[serde(default)]
    pub failed_reference_task_names: Vec<String>,
    #[serde(default)]
    pub failed_task_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_definition: Option<Arc<WorkflowDef>>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub variables: JsonMap,
    #[serde(default)]
    pub last_retried_time: i64,
    #[serde(default)]
    pub start_time: i64,
    #[serde(default)]
    pub workflow_name: String,
    #[serde(default)]
    pub workflow_version: i32,
    #[serde(default)]
    pub history: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Where the start request said its input is stored (Conductor's external payload
    /// storage); kept and returned. Baton has no external storage and reads `input` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_input_payload_storage_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_output_payload_storage_path: Option<String>,
    /// Conductor's workflow rate limiting (Orkes); returned as Conductor does, never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_key: Option<String>,
    #[serde(default, skip_serializing_if = "crate::wire::skip_false")]
    pub rate_limited: bool,
    /// Id of the task whose failure ended the workflow (Baton extension; Conductor keeps it
    /// internally for the failure workflow's `failureTaskId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_id: Option<String>,
    /// The classifier the execution took from its definition when it started (ADR 31), as a
    /// search reads it from its column for the `classifier` of a `WorkflowSummary`; not part
    /// of the stored document nor of a `Workflow` sent. None when not read.
    #[serde(skip)]
    pub classifier: Option<String>,
}

/// One attempt of one task (§3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    #[serde(default)]
    pub task_type: String,
    #[serde(default)]
    pub status: TaskStatus,
    #[serde(default)]
    pub input_data: JsonMap,
    #[serde(default)]
    pub reference_task_name: String,
    #[serde(default)]
    pub retry_count: i32,
    #[serde(default)]
    pub seq: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub poll_count: i32,
    #[serde(default)]
    pub task_def_name: String,
    #[serde(default)]
    pub scheduled_time: i64,
    #[serde(default)]
    pub start_time: i64,
    #[serde(default)]
    pub end_time: i64,
    #[serde(default)]
    pub update_time: i64,
    #[serde(default)]
    pub start_delay_in_seconds: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_task_id: Option<String>,
    #[serde(default)]
    pub retried: bool,
    #[serde(default)]
    pub executed: bool,
    #[serde(default = "default_true")]
    pub callback_from_worker: bool,
    #[serde(default)]
    pub response_timeout_seconds: i64,
    #[serde(default)]
    pub workflow_instance_id: String,
    #[serde(default)]
    pub workflow_type: String,
    #[serde(default)]
    pub task_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_for_incompletion: Option<String>,
    #[serde(default)]
    pub callback_after_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    #[serde(default)]
    pub output_data: JsonMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_task: Option<Box<WorkflowTask>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default)]
    pub rate_limit_per_frequency: i32,
    #[serde(default)]
    pub rate_limit_frequency_in_seconds: i32,
    #[serde(default)]
    pub workflow_priority: i32,
    #[serde(default)]
    pub iteration: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_workflow_id: Option<String>,
    #[serde(default)]
    pub subworkflow_changed: bool,
    #[serde(default)]
    pub first_start_time: i64,
    #[serde(default)]
    pub loop_over_task: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<Box<TaskDef>>,
    #[serde(default)]
    pub queue_wait_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_task_id: Option<String>,
    /// Copied from the task definition when the task is scheduled (Conductor's queue
    /// isolation); kept and returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_name_space: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_input_payload_storage_path: Option<String>,
    /// As the worker reported it in its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_output_payload_storage_path: Option<String>,
    /// Server-side metadata for the worker, by key (Conductor: omitted when empty).
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        deserialize_with = "crate::lenient::null_as_default"
    )]
    pub runtime_metadata: IndexMap<String, String>,
    /// Timing data newer SDKs send with a result (`clientReceiveTime`, …), as the worker
    /// sent it; omitted while empty, as in Conductor.
    #[serde(
        default,
        skip_serializing_if = "JsonMap::is_empty",
        deserialize_with = "crate::lenient::null_as_default"
    )]
    pub execution_metadata: JsonMap,
}

fn default_true() -> bool {
    true
}

impl Task {
    /// The queue this task waits in: `[domain:]taskType`.
    pub fn queue_name(&self) -> String {
        queue_name(&self.task_type, self.domain.as_deref())
    }
}

/// The queue name for a task type and optional domain: `[domain:]taskType`.
pub fn queue_name(task_type: &str, domain: Option<&str>) -> String {
    match domain {
        Some(d) if !d.is_empty() => format!("{d}:{task_type}"),
        _ => task_type.to_string(),
    }
}

/// One line of a task's execution log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskExecLog {
    #[serde(default)]
    pub log: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default)]
    pub created_time: i64,
}

/// What a worker reports for a task (§3.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    #[serde(default)]
    pub workflow_instance_id: String,
    #[serde(default)]
    pub task_id: String,
    pub status: TaskResultStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_data: Option<JsonMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_for_incompletion: Option<String>,
    #[serde(default)]
    pub callback_after_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<TaskExecLog>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_output_payload_storage_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_workflow_id: Option<String>,
    #[serde(default)]
    pub extend_lease: bool,
    /// Newer SDKs' timing data; stored on the task when it carries any.
    #[serde(
        default,
        skip_serializing_if = "JsonMap::is_empty",
        deserialize_with = "crate::lenient::null_as_default"
    )]
    pub execution_metadata: JsonMap,
}

impl TaskResult {
    pub fn new(workflow_id: &str, task_id: &str, status: TaskResultStatus) -> Self {
        TaskResult {
            workflow_instance_id: workflow_id.to_string(),
            task_id: task_id.to_string(),
            status,
            output_data: None,
            reason_for_incompletion: None,
            callback_after_seconds: 0,
            worker_id: None,
            logs: Vec::new(),
            external_output_payload_storage_path: None,
            sub_workflow_id: None,
            extend_lease: false,
            execution_metadata: JsonMap::new(),
        }
    }
}

/// Body of `POST /api/workflow` (§3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StartWorkflowRequest {
    #[serde(default)]
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::lenient::opt_i32"
    )]
    pub version: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub input: JsonMap,
    #[serde(default)]
    pub task_to_domain: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_def: Option<WorkflowDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_input_payload_storage_path: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "is_zero_i32",
        deserialize_with = "crate::lenient::i32_or_zero"
    )]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_strategy: Option<IdempotencyStrategy>,
}

/// `{"bulkErrorResults": {...}, "bulkSuccessfulResults": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BulkResponse {
    pub bulk_error_results: IndexMap<String, String>,
    pub bulk_successful_results: Vec<String>,
}

/// `{"totalHits": n, "results": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult<T> {
    pub total_hits: i64,
    pub results: Vec<T>,
}

/// Last poll of a queue by a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollData {
    pub queue_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub worker_id: String,
    pub last_poll_time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    /// The runtime's state cache holds the task list of every cached workflow, and its byte
    /// budget counts `size_of::<Task>()` per task (ADR 36, `baton_engine::footprint`). The
    /// definition nodes (`workflow_task`, `task_definition`, about 2.7 KB together) are
    /// boxed because they are None in every stored or cached task; a large field added
    /// inline would make every cached task pay for it, so this bound fails first (816 bytes
    /// on 64-bit when written).
    #[test]
    fn a_task_stays_small_inline() {
        assert!(size_of::<Task>() < 1_000, "{}", size_of::<Task>());
    }

    #[test]
    fn boxed_definition_nodes_keep_the_wire_format() {
        let mut t = Task {
            task_id: "t1".into(),
            ..Task::default()
        };
        let bare = serde_json::to_value(&t).unwrap();
        assert!(bare.get("workflowTask").is_none() && bare.get("taskDefinition").is_none());
        t.workflow_task = Some(Box::new(WorkflowTask::new("a", "a_ref", "SIMPLE")));
        t.task_definition = Some(Box::new(TaskDef::named("a")));
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["workflowTask"]["taskReferenceName"], "a_ref");
        assert_eq!(v["taskDefinition"]["name"], "a");
        let back: Task = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
    }
}
