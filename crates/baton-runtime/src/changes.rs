//! The change feed: one small record per committed change of a workflow (and per task a
//! worker claims), broadcast to whoever listens, such as the server's event stream that
//! keeps the web UI live. Records carry ids and statuses only; listeners read the rest
//! through the API.
//!
//! Bounded: the channel keeps the newest [`RuntimeConfig::change_feed_capacity`] records. A
//! listener that falls further behind is told how many it missed (tokio's `Lagged`) and
//! should re-read what it shows. With nobody listening, nothing is built or sent.
//!
//! [`RuntimeConfig::change_feed_capacity`]: crate::RuntimeConfig::change_feed_capacity

use baton_model::{Task, TaskStatus, WorkflowStatus};
use baton_store::{TaskWrite, WorkflowWrite};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A committed change of one workflow.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowChange {
    pub workflow_id: String,
    pub workflow_type: String,
    pub version: i32,
    /// The workflow's status after the change; absent when a worker claimed tasks (which
    /// changes the tasks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkflowStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Epoch ms of the change.
    pub update_time: i64,
    /// The tasks the change wrote, each with its new status.
    pub tasks: Vec<TaskChange>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskChange {
    pub task_id: String,
    pub reference_task_name: String,
    pub task_type: String,
    pub status: TaskStatus,
    pub retry_count: i32,
}

impl TaskChange {
    fn written(t: &TaskWrite) -> Self {
        TaskChange {
            task_id: t.task_id.clone(),
            reference_task_name: t.reference_task_name.clone(),
            task_type: t.task_type.clone(),
            status: t.status,
            retry_count: t.retry_count,
        }
    }

    fn of(t: &Task) -> Self {
        TaskChange {
            task_id: t.task_id.clone(),
            reference_task_name: t.reference_task_name.clone(),
            task_type: t.task_type.clone(),
            status: t.status,
            retry_count: t.retry_count,
        }
    }
}

pub(crate) struct ChangeFeed {
    tx: broadcast::Sender<Arc<WorkflowChange>>,
}

impl ChangeFeed {
    pub(crate) fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        ChangeFeed { tx }
    }

    /// Whether anyone listens.
    pub(crate) fn has_listeners(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<WorkflowChange>> {
        self.tx.subscribe()
    }

    /// Records for the writes of a commit, built only while someone listens; sent with
    /// [`ChangeFeed::publish`] once the commit succeeded.
    pub(crate) fn describe(&self, writes: &[WorkflowWrite]) -> Vec<WorkflowChange> {
        if self.tx.receiver_count() == 0 {
            return Vec::new();
        }
        writes
            .iter()
            .map(|w| WorkflowChange {
                workflow_id: w.workflow.workflow_id.clone(),
                workflow_type: w.workflow.workflow_name.clone(),
                version: w.workflow.workflow_version,
                status: Some(w.workflow.status),
                correlation_id: w.workflow.correlation_id.clone(),
                update_time: w.workflow.update_time,
                tasks: w.tasks.iter().map(TaskChange::written).collect(),
            })
            .collect()
    }

    /// Tasks a poll handed to a worker, one record per workflow.
    pub(crate) fn claimed(&self, tasks: &[Task], now: i64) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let mut out: Vec<WorkflowChange> = Vec::new();
        for t in tasks {
            match out
                .iter_mut()
                .find(|c| c.workflow_id == t.workflow_instance_id)
            {
                Some(c) => c.tasks.push(TaskChange::of(t)),
                None => out.push(WorkflowChange {
                    workflow_id: t.workflow_instance_id.clone(),
                    workflow_type: t.workflow_type.clone(),
                    version: 0,
                    status: None,
                    correlation_id: t.correlation_id.clone(),
                    update_time: now,
                    tasks: vec![TaskChange::of(t)],
                }),
            }
        }
        self.publish(out);
    }

    pub(crate) fn publish(&self, changes: Vec<WorkflowChange>) {
        for c in changes {
            // An error only means nobody listens any more.
            let _ = self.tx.send(Arc::new(c));
        }
    }
}
