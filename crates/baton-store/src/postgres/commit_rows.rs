//! A commit turned into the rows it writes (ADR 23).
//!
//! Preparing serialises every document in the caller's task, before the commit joins a
//! group: the committer then only concatenates the rows of the commits it takes into one
//! column array per field and sends one multi-row statement per table. A prepared commit is
//! self-contained, so when a group has to be taken apart (an unexpected error), each of its
//! commits can be written again alone.

use super::search_key::search_key;
use super::Inner;
use crate::codec::to_json;
use crate::{ClusterChanges, Commit, Millis, Result, WorkflowWrite};
use baton_model::{HistoryEvent, TaskExecLog, Workflow};

/// One workflow row as `workflows` stores it.
pub(super) struct WorkflowRow {
    pub id: String,
    pub name: String,
    pub def_version: i32,
    pub status: String,
    pub correlation_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub parent_workflow_id: Option<String>,
    pub start_time: i64,
    pub update_time: i64,
    pub end_time: i64,
    pub priority: i32,
    pub def_hash: String,
    pub next_wake_at: Option<Millis>,
    pub json: String,
    /// `None`: keep the stored input (updates only).
    pub input_json: Option<String>,
    /// The end of the search document that changes with the workflow's state (migration 7).
    pub state_text: String,
    /// The classifier of the definition it runs (migration 10).
    pub classifier: String,
    /// The search key (migration 16) of the document's parts before the input (id,
    /// correlation id, type, status, each with its line end), of its input (`None` with
    /// `input_json`: the stored input's, made in SQL) and of the rest (output and reason).
    pub key_head: String,
    pub key_input: Option<String>,
    pub key_tail: String,
    /// `None`: a new workflow; `Some(v)`: an update of the stored version `v`.
    pub expected_version: Option<i64>,
}

/// One task attempt as `tasks` stores it.
pub(super) struct TaskRow {
    pub task_id: String,
    pub workflow_id: String,
    pub seq: i32,
    pub ref_name: String,
    pub task_type: String,
    pub task_def_name: String,
    pub status: String,
    pub domain: Option<String>,
    pub json: String,
    pub poll_count: i32,
    pub start_time: i64,
    pub end_time: i64,
    /// The task's search document (migration 12).
    pub search_text: String,
    /// Its search key (migration 16).
    pub search_key: String,
}

/// One queue entry to (re)place.
pub(super) struct QueueRow {
    pub task_id: String,
    pub queue: String,
    pub workflow_id: String,
    pub priority: i32,
    pub visible_at: i64,
}

/// Everything one commit checks and writes.
#[derive(Default)]
pub(super) struct PreparedCommit {
    pub snapshots: Vec<(String, String)>,
    pub workflows: Vec<WorkflowRow>,
    pub tasks: Vec<TaskRow>,
    /// (task id, workflow id) of attempts to delete.
    pub removed_tasks: Vec<(String, String)>,
    pub unqueue: Vec<String>,
    pub queue_push: Vec<QueueRow>,
    /// (workflow id, task id, document), in order.
    pub history: Vec<(String, Option<String>, String)>,
    /// (workflow id, version read, wake-up).
    pub reschedule: Vec<(String, i64, Option<Millis>)>,
    /// Other workflows to wake no later than the time given.
    pub wake: Vec<(String, Millis)>,
    /// (workflow id, wake count read) of pending wakes to clear.
    pub unwake: Vec<(String, i64)>,
    /// (id, workflow id, payload, created at).
    pub follow_ups: Vec<(String, String, String, Millis)>,
    pub follow_ups_done: Vec<String>,
    /// (task id, line, created time).
    pub logs: Vec<(String, String, i64)>,
    /// What the commit tells the other nodes once it is committed.
    pub changes: ClusterChanges,
}

impl PreparedCommit {
    /// Serialises `commit`; definition snapshots this handle knows to be stored are left out.
    pub fn new(inner: &Inner, commit: Commit) -> Result<PreparedCommit> {
        let mut out = PreparedCommit {
            changes: ClusterChanges::of_commit(&commit),
            wake: commit.wake,
            unwake: commit.unwake,
            follow_ups_done: commit.follow_ups_done,
            ..PreparedCommit::default()
        };
        for write in commit.workflows {
            out.add_workflow(inner, write)?;
        }
        for r in commit.reschedule {
            out.reschedule
                .push((r.workflow_id, r.version, r.next_wake_at));
        }
        for f in commit.follow_ups {
            let payload = to_json(&f.payload)?;
            out.follow_ups
                .push((f.id, f.workflow_id, payload, f.created_at));
        }
        out.logs = log_rows(&commit.logs);
        Ok(out)
    }

    /// The workflows whose rows this commit writes or reschedules: two commits that share
    /// one are never written in the same group.
    pub fn workflow_ids(&self) -> impl Iterator<Item = &str> {
        self.workflows
            .iter()
            .map(|w| w.id.as_str())
            .chain(self.reschedule.iter().map(|r| r.0.as_str()))
    }

    fn add_workflow(&mut self, inner: &Inner, write: WorkflowWrite) -> Result<()> {
        let WorkflowWrite {
            mut workflow,
            def,
            expected_version,
            tasks,
            removed_tasks,
            queue_push,
            queue_remove,
            history,
            next_wake_at,
            keep_input,
        } = write;
        // Tasks and the definition live in their own rows; never serialise them with the row.
        drop(std::mem::take(&mut workflow.tasks));
        workflow.workflow_definition = None;
        let id = workflow.workflow_id.clone();
        // The input lives in its own column, written only when given (`read::workflow_from`).
        let input = std::mem::take(&mut workflow.input);
        let input_json = match (keep_input, expected_version) {
            (true, Some(_)) => None,
            _ => Some(to_json(&input)?),
        };
        let key = inner.defs.key_of(&def)?;
        if !inner.snapshots.lock().contains(&key.hash)
            && !self.snapshots.iter().any(|(h, _)| *h == key.hash)
        {
            let json = match key.json {
                Some(json) => json,
                None => to_json(def.as_ref())?,
            };
            self.snapshots.push((key.hash.clone(), json));
        }
        let json = to_json(&workflow)?;
        let state_text = state_text(&workflow)?;
        let key_head = search_key(&format!(
            "{id}\n{}\n{}\n{}\n",
            workflow.correlation_id.as_deref().unwrap_or(""),
            workflow.workflow_name,
            workflow.status.as_str()
        ));
        let key_input = input_json.as_deref().map(search_key);
        let key_tail = search_key(&format!("\n{state_text}"));
        self.workflows.push(WorkflowRow {
            id: id.clone(),
            name: workflow.workflow_name,
            def_version: workflow.workflow_version,
            status: workflow.status.as_str().to_string(),
            correlation_id: workflow.correlation_id,
            idempotency_key: workflow.idempotency_key,
            parent_workflow_id: workflow.parent_workflow_id,
            start_time: workflow.start_time,
            update_time: workflow.update_time,
            end_time: workflow.end_time,
            priority: workflow.priority,
            def_hash: key.hash,
            next_wake_at,
            json,
            input_json,
            state_text,
            classifier: def.classifier().to_string(),
            key_head,
            key_input,
            key_tail,
            expected_version,
        });
        for task in tasks {
            let search_key = search_key(&task.text);
            self.tasks.push(TaskRow {
                status: task.status.as_str().to_string(),
                task_id: task.task_id,
                workflow_id: id.clone(),
                seq: task.seq,
                ref_name: task.reference_task_name,
                task_type: task.task_type,
                task_def_name: task.task_def_name,
                domain: task.domain,
                json: task.json,
                poll_count: task.poll_count,
                start_time: task.start_time,
                end_time: task.end_time,
                search_text: task.text,
                search_key,
            });
        }
        self.unqueue.extend(removed_tasks.iter().cloned());
        self.unqueue.extend(queue_remove);
        self.removed_tasks
            .extend(removed_tasks.into_iter().map(|t| (t, id.clone())));
        for entry in queue_push {
            self.queue_push.push(QueueRow {
                task_id: entry.task_id,
                queue: entry.queue,
                workflow_id: entry.workflow_id,
                priority: entry.priority,
                visible_at: entry.visible_at,
            });
        }
        for event in &history {
            self.history.push(history_row(event)?);
        }
        Ok(())
    }
}

/// The end of a workflow's search document (migration 7) that changes with its state:
/// output and reason. PostgreSQL's text holds no NUL character, so one in the reason reads
/// as a space (the output's JSON escapes it).
fn state_text(workflow: &Workflow) -> Result<String> {
    let mut text = to_json(&workflow.output)?;
    text.push('\n');
    if let Some(reason) = &workflow.reason_for_incompletion {
        text.push_str(&reason.replace('\0', " "));
    }
    Ok(text)
}

/// A history event as its row: (workflow id, task id, document).
pub(super) fn history_row(e: &HistoryEvent) -> Result<(String, Option<String>, String)> {
    Ok((e.workflow_id.clone(), e.task_id.clone(), to_json(e)?))
}

/// The log lines that name a task (one that names none cannot be read back: dropped).
pub(super) fn log_rows(logs: &[TaskExecLog]) -> Vec<(String, String, i64)> {
    logs.iter()
        .filter_map(|l| {
            l.task_id
                .clone()
                .map(|t| (t, l.log.clone(), l.created_time))
        })
        .collect()
}
