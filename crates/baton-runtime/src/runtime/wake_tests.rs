//! Which commits wake a waiting poll of a queue (ADR 41): a task that ends wakes one only if
//! its definition has a concurrency limit, under which it frees a slot.

use super::*;
use baton_model::{TaskResult, TaskResultStatus};
use baton_store::SqliteStore;
use serde_json::json;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

const TASK: &str = "wake_t";

/// A runtime whose `wake_t` tasks have `limit` as their concurrency limit; a claimed task
/// of a started one-task workflow.
async fn claimed_task(dir: &std::path::Path, limit: Option<i32>) -> (Arc<Runtime>, Task) {
    let store = SqliteStore::open_path(dir.join("baton.db")).expect("a new SQLite store opens");
    let rt = Runtime::new(Arc::new(store), RuntimeConfig::default());
    let task_def: TaskDef = serde_json::from_value(json!({
        "name": TASK, "concurrentExecLimit": limit,
    }))
    .expect("the task definition parses");
    rt.register_task_defs(vec![task_def])
        .await
        .expect("registers");
    let def: WorkflowDef = serde_json::from_value(json!({
        "name": "wake_wf", "version": 1,
        "tasks": [{"name": TASK, "taskReferenceName": "t1", "type": "SIMPLE"}],
    }))
    .expect("the definition parses");
    rt.register_workflow_def(def, true)
        .await
        .expect("registers");
    let req: StartWorkflowRequest =
        serde_json::from_value(json!({"name": "wake_wf", "version": 1})).expect("parses");
    rt.start_workflow(req).await.expect("starts");
    let mut claimed = rt
        .poll(TASK, Some("w1"), None, 1, Duration::ZERO)
        .await
        .expect("polls");
    (rt, claimed.pop().expect("the task is handed out"))
}

/// Whether completing `task` wakes a poll waiting on its queue.
async fn completing_wakes_a_poll(rt: &Runtime, task: &Task) -> bool {
    let notify = rt.queues.get(TASK);
    let mut waiting = pin!(notify.notified());
    waiting.as_mut().enable();
    let r = TaskResult::new(
        &task.workflow_instance_id,
        &task.task_id,
        TaskResultStatus::Completed,
    );
    rt.update_task(r).await.expect("the update applies");
    let mut cx = Context::from_waker(Waker::noop());
    matches!(waiting.as_mut().poll(&mut cx), Poll::Ready(()))
}

#[tokio::test]
async fn a_task_that_ends_wakes_no_poll_without_a_concurrency_limit() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (rt, task) = claimed_task(dir.path(), None).await;
    assert!(!completing_wakes_a_poll(&rt, &task).await);
}

#[tokio::test]
async fn a_task_that_ends_wakes_a_poll_under_its_concurrency_limit() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (rt, task) = claimed_task(dir.path(), Some(1)).await;
    assert!(completing_wakes_a_poll(&rt, &task).await);
}
