//! What the PostgreSQL tests build their stores' contents from: a one-node definition, tasks,
//! a workflow start with its tasks queued, a poll request, several handles on one database.

#![allow(dead_code)]

use super::pg;
use baton_model::{Task, TaskStatus, WorkflowDef, WorkflowStatus};
use baton_store::{Commit, PollRequest, Store, TaskWrite, WorkflowWrite};
use std::sync::Arc;

pub const NOW: i64 = 1_700_000_000_000;

pub fn def() -> Arc<WorkflowDef> {
    Arc::new(serde_json::from_value(serde_json::json!({"name": "flow", "version": 1})).unwrap())
}

pub fn task(workflow_id: &str, task_id: &str, seq: i32, task_type: &str) -> Task {
    Task {
        task_id: task_id.to_string(),
        workflow_instance_id: workflow_id.to_string(),
        task_type: task_type.to_string(),
        task_def_name: task_type.to_string(),
        reference_task_name: format!("{task_id}_ref"),
        seq,
        status: TaskStatus::Scheduled,
        scheduled_time: NOW,
        response_timeout_seconds: 30,
        ..Default::default()
    }
}

/// The writes of `tasks`, as the runtime makes them (default search-document bound).
pub fn writes(tasks: Vec<Task>) -> Vec<TaskWrite> {
    tasks
        .iter()
        .map(|t| TaskWrite::of(t, &t.workflow_instance_id).unwrap())
        .collect()
}

/// A new workflow with `tasks` queued, visible now.
pub fn insert(id: &str, tasks: Vec<Task>) -> Commit {
    let workflow = baton_model::Workflow {
        workflow_id: id.to_string(),
        workflow_name: "flow".to_string(),
        workflow_version: 1,
        status: WorkflowStatus::Running,
        start_time: NOW,
        ..Default::default()
    };
    let queue_push = tasks
        .iter()
        .map(|t| baton_model::QueueEntry {
            queue: t.queue_name(),
            task_id: t.task_id.clone(),
            workflow_id: id.to_string(),
            priority: 0,
            visible_at: NOW,
        })
        .collect();
    Commit {
        workflows: vec![WorkflowWrite {
            workflow,
            def: def(),
            expected_version: None,
            tasks: writes(tasks),
            removed_tasks: vec![],
            queue_push,
            queue_remove: vec![],
            history: vec![],
            next_wake_at: None,
            keep_input: false,
        }],
        ..Default::default()
    }
}

pub fn poll_req(queue: &str, count: usize, worker: &str) -> PollRequest {
    PollRequest {
        queue: queue.to_string(),
        count,
        worker_id: Some(worker.to_string()),
        domain: None,
        now: NOW,
        limits: Default::default(),
        def_limits: None,
        registered: true,
        claim: baton_engine::claim::claim,
    }
}

/// `n` handles on the database, each with its own pool.
pub async fn handles(db: &pg::PgDb, n: usize) -> Vec<Arc<dyn Store>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(db.open().await);
    }
    out
}
