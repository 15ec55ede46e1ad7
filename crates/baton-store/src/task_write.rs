//! A task attempt as a commit writes it: its row's columns, its stored JSON and its search
//! document, made from a borrowed task (ADR 39).
//!
//! The runtime keeps every task of a cached workflow for its next decision, so a write used to
//! carry a copy of each task it changed. A task's input or output can be the largest value a
//! workflow holds (a long loop's output gains an entry with every iteration, a dynamic fork's
//! task holds every branch), and copying it, then freeing the copy after the write, cost six
//! times more than serialising it. The write now carries the serialised row instead, made in
//! the caller's task, which also takes the serialisation off SQLite's single writer thread.

use crate::codec::to_json;
use crate::task_text::task_text;
use crate::Result;
use baton_model::{Task, TaskStatus};
use std::borrow::Cow;

/// What a commit stores for one task attempt (see the module comment).
#[derive(Debug, Clone)]
pub struct TaskWrite {
    pub task_id: String,
    pub seq: i32,
    pub reference_task_name: String,
    pub task_type: String,
    pub task_def_name: String,
    pub status: TaskStatus,
    pub domain: Option<String>,
    pub retry_count: i32,
    /// Claims raise it; a write whose count is below the stored one has not seen a claim.
    pub poll_count: i32,
    pub start_time: i64,
    pub end_time: i64,
    /// The task in its stored form, without the definition nodes (`workflowTask`,
    /// `taskDefinition`), which are never stored with a task.
    pub json: String,
    /// Its free-text search document (ADR 32), input and output bounded.
    pub text: String,
}

impl TaskWrite {
    /// The write of `task`, a task of workflow `workflow_id`, whose search document keeps
    /// `text_bytes` bytes of its input and of its output ([`crate::Store::task_text_bytes`]).
    pub fn new(task: &Task, workflow_id: &str, text_bytes: usize) -> Result<Self> {
        // The runtime's tasks carry neither definition node and name their workflow; a task
        // that does not is copied and fixed rather than stored as given.
        let stored: Cow<'_, Task> = if task.workflow_task.is_some()
            || task.task_definition.is_some()
            || task.workflow_instance_id.is_empty()
        {
            let mut fixed = task.clone();
            fixed.workflow_task = None;
            fixed.task_definition = None;
            if fixed.workflow_instance_id.is_empty() {
                fixed.workflow_instance_id = workflow_id.to_string();
            }
            Cow::Owned(fixed)
        } else {
            Cow::Borrowed(task)
        };
        Ok(TaskWrite {
            task_id: task.task_id.clone(),
            seq: task.seq,
            reference_task_name: task.reference_task_name.clone(),
            task_type: task.task_type.clone(),
            task_def_name: task.task_def_name.clone(),
            status: task.status,
            domain: task.domain.clone(),
            retry_count: task.retry_count,
            poll_count: task.poll_count,
            start_time: task.start_time,
            end_time: task.end_time,
            json: to_json(stored.as_ref())?,
            text: task_text(task, text_bytes),
        })
    }

    /// The write of `task` with the default search-document bound
    /// ([`crate::DEFAULT_TASK_TEXT_BYTES`]): for tools and tests that build commits by hand.
    pub fn of(task: &Task, workflow_id: &str) -> Result<Self> {
        Self::new(task, workflow_id, crate::DEFAULT_TASK_TEXT_BYTES)
    }

    /// The queue its task type and domain name (`[domain:]taskType`).
    pub fn queue_name(&self) -> String {
        baton_model::queue_name(&self.task_type, self.domain.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::from_json;
    use baton_model::{TaskDef, WorkflowTask};

    #[test]
    fn the_stored_json_leaves_out_the_definition_nodes_and_names_the_workflow() {
        let mut task = Task {
            task_id: "t1".into(),
            task_type: "work".into(),
            ..Task::default()
        };
        task.output_data
            .insert("answer".into(), serde_json::json!(42));
        task.workflow_task = Some(Box::new(WorkflowTask::new("work", "w_ref", "SIMPLE")));
        task.task_definition = Some(Box::new(TaskDef::named("work")));
        let write = TaskWrite::of(&task, "wf-1").expect("serialises");
        let back: Task = from_json(&write.json, "task").expect("reads back");
        assert_eq!(back.workflow_instance_id, "wf-1");
        assert!(back.workflow_task.is_none() && back.task_definition.is_none());
        assert_eq!(back.output_data, task.output_data);
        // The caller's task is left as it was.
        assert!(task.workflow_task.is_some() && task.workflow_instance_id.is_empty());
    }

    #[test]
    fn a_runtime_task_is_stored_as_it_is() {
        let mut task = Task {
            task_id: "t2".into(),
            workflow_instance_id: "wf-2".into(),
            ..Task::default()
        };
        task.input_data.insert("x".into(), serde_json::json!("y"));
        let write = TaskWrite::new(&task, "wf-2", 4).expect("serialises");
        assert_eq!(write.json, to_json(&task).expect("serialises"));
        // The search document keeps only the first 4 bytes of the input's JSON.
        assert!(write.text.contains("{\"x\""), "{}", write.text);
        assert!(!write.text.contains("\"y\""), "{}", write.text);
    }
}
