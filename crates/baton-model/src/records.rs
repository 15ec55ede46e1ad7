//! Records that are not part of the Conductor wire contract but pass between the engine and
//! the store: queue entries and history events.

use serde::{Deserialize, Serialize};

/// A task waiting in a queue. A task is pollable once `visible_at` has passed; a worker poll
/// removes the entry and moves the task to IN_PROGRESS in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub queue: String,
    pub task_id: String,
    pub workflow_id: String,
    pub priority: i32,
    pub visible_at: i64,
}

/// One entry of the append-only audit trail: a workflow or task changed status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// Store-assigned, increasing across the whole store; 0 until written.
    #[serde(default)]
    pub id: i64,
    pub workflow_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_task_name: Option<String>,
    /// `WORKFLOW` or `TASK`.
    pub entity: String,
    /// The new status (a TaskStatus or WorkflowStatus name).
    pub status: String,
    /// Epoch milliseconds.
    pub time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl HistoryEvent {
    pub fn workflow(workflow_id: &str, status: &str, time: i64, reason: Option<String>) -> Self {
        HistoryEvent {
            id: 0,
            workflow_id: workflow_id.to_string(),
            task_id: None,
            reference_task_name: None,
            entity: "WORKFLOW".to_string(),
            status: status.to_string(),
            time,
            worker_id: None,
            reason,
        }
    }

    pub fn task(task: &crate::Task, time: i64) -> Self {
        HistoryEvent {
            id: 0,
            workflow_id: task.workflow_instance_id.clone(),
            task_id: Some(task.task_id.clone()),
            reference_task_name: Some(task.reference_task_name.clone()),
            entity: "TASK".to_string(),
            status: task.status.as_str().to_string(),
            time,
            worker_id: task.worker_id.clone(),
            reason: task.reason_for_incompletion.clone(),
        }
    }
}
