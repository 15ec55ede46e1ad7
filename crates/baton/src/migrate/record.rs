//! One execution as `baton migrate`, `baton export` and `baton import` carry it: the
//! workflow with its tasks and the definition it runs, its history, the queue entries of its
//! scheduled tasks and its task logs. Read from a store with [`ExecutionRecord::read`],
//! written into one with [`ExecutionRecord::commit`] (one atomic commit).

use baton_model::{HistoryEvent, QueueEntry, TaskExecLog, Workflow};
use baton_store::{Commit, FollowUp, Store, TaskWrite, WorkflowWrite};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExecutionRecord {
    /// With `tasks` and `workflowDefinition`, as `GET /api/workflow/{id}?includeTasks=true`.
    pub workflow: Workflow,
    /// Oldest first; ids are each store's own numbering, so they are left out (0).
    pub history: Vec<HistoryEvent>,
    #[serde(default)]
    pub queue: Vec<QueueRow>,
    #[serde(default)]
    pub logs: Vec<TaskExecLog>,
}

/// A queue entry of one of the execution's tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueRow {
    pub queue: String,
    pub task_id: String,
    pub priority: i32,
    pub visible_at: i64,
}

impl ExecutionRecord {
    /// The execution `id` as `store` holds it; `None` if there is none.
    pub async fn read(store: &Arc<dyn Store>, id: &str) -> anyhow::Result<Option<Self>> {
        let Some(state) = store.load_workflow(id).await? else {
            return Ok(None);
        };
        let mut history = store.history(id).await?;
        for event in &mut history {
            event.id = 0;
        }
        let mut logs = Vec::new();
        for task in &state.tasks {
            logs.extend(store.task_logs(&task.task_id).await?);
        }
        let queue = store
            .queue_entries(id)
            .await?
            .into_iter()
            .map(|q| QueueRow {
                queue: q.queue,
                task_id: q.task_id,
                priority: q.priority,
                visible_at: q.visible_at,
            })
            .collect();
        let mut workflow = state.workflow;
        workflow.tasks = state.tasks;
        workflow.workflow_definition = Some(state.def);
        Ok(Some(ExecutionRecord {
            workflow,
            history,
            queue,
            logs,
        }))
    }

    pub fn id(&self) -> &str {
        &self.workflow.workflow_id
    }

    /// How far the execution has progressed: its last update (of the row or of any task,
    /// since claims change tasks only) and the length of its history.
    pub fn progress(&self) -> (i64, usize) {
        let last_task = self
            .workflow
            .tasks
            .iter()
            .map(|t| t.update_time)
            .max()
            .unwrap_or(0);
        (self.workflow.update_time.max(last_task), self.history.len())
    }

    /// One commit inserting the execution as recorded. A running one is due at once, so its
    /// timers and leases are recomputed by the decider of whichever server runs it next.
    /// `None` if the record names no definition. `text_bytes`: the target store's bound of
    /// task search documents.
    pub fn commit(
        &self,
        follow_ups: Vec<FollowUp>,
        now: i64,
        text_bytes: usize,
    ) -> anyhow::Result<Option<Commit>> {
        let Some(def) = self.workflow.workflow_definition.clone() else {
            return Ok(None);
        };
        let running = !self.workflow.status.is_terminal();
        let mut workflow = self.workflow.clone();
        let tasks = std::mem::take(&mut workflow.tasks)
            .iter()
            .map(|t| TaskWrite::new(t, &workflow.workflow_id, text_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        workflow.workflow_definition = None;
        let mut history = self.history.clone();
        for event in &mut history {
            event.id = 0;
        }
        let id = workflow.workflow_id.clone();
        let queue_push = self
            .queue
            .iter()
            .map(|q| QueueEntry {
                queue: q.queue.clone(),
                task_id: q.task_id.clone(),
                workflow_id: id.clone(),
                priority: q.priority,
                visible_at: q.visible_at,
            })
            .collect();
        Ok(Some(Commit {
            workflows: vec![WorkflowWrite {
                workflow,
                def,
                expected_version: None,
                tasks,
                removed_tasks: vec![],
                queue_push,
                queue_remove: vec![],
                history,
                next_wake_at: running.then_some(now),
                keep_input: false,
            }],
            logs: self.logs.clone(),
            follow_ups,
            ..Default::default()
        }))
    }
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
