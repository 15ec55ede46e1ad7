//! Task-definition limits enforced at hand-out: `concurrentExecLimit` and
//! `rateLimitPerFrequency`/`rateLimitFrequencyInSeconds` (CONDUCTOR-API §4.10); and the
//! server's per-workflow limits (tasks per workflow, task output size).

mod common;

use common::{simple_workflow, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn concurrent_exec_limit_bounds_tasks_in_progress() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "lim_conc", "concurrentExecLimit": 2, "retryCount": 0}))
        .await;
    s.register_workflow(simple_workflow("lim_conc_wf", &["lim_conc"]))
        .await;
    for _ in 0..5 {
        s.start("lim_conc_wf", json!({})).await;
    }
    let first = s.poll_batch("lim_conc", 10, 0).await;
    assert_eq!(first.len(), 2, "only two may be in progress at once");
    assert!(s.poll_batch("lim_conc", 10, 0).await.is_empty());
    s.complete(&first[0], json!({})).await;
    let next = s.poll_batch("lim_conc", 10, 0).await;
    assert_eq!(next.len(), 1, "a completion frees exactly one slot");
    // A waiting long poll is handed the task freed by a completion.
    let waiter = {
        let url = s.url("/tasks/poll/batch/lim_conc?count=10&timeout=3000");
        tokio::spawn(async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<Vec<serde_json::Value>>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.complete(&first[1], json!({})).await;
    let woken = waiter.await.unwrap();
    assert_eq!(woken.len(), 1);
}

#[tokio::test]
async fn rate_limit_bounds_hand_outs_per_window() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({
        "name": "lim_rate", "rateLimitPerFrequency": 3, "rateLimitFrequencyInSeconds": 1,
        "retryCount": 0
    }))
    .await;
    s.register_workflow(simple_workflow("lim_rate_wf", &["lim_rate"]))
        .await;
    for _ in 0..7 {
        s.start("lim_rate_wf", json!({})).await;
    }
    let first = s.poll_batch("lim_rate", 10, 0).await;
    assert_eq!(first.len(), 3, "three hand-outs per window");
    // Completing does not free rate: the window does.
    for t in &first {
        s.complete(t, json!({})).await;
    }
    assert!(s.poll_batch("lim_rate", 10, 0).await.is_empty());
    // Once the window has passed, three more (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut second = Vec::new();
    while second.is_empty() && Instant::now() < deadline {
        second = s.poll_batch("lim_rate", 10, 1000).await;
    }
    assert_eq!(second.len(), 3);
}

#[tokio::test]
async fn a_workflow_over_the_task_limit_fails_naming_it() {
    let s = TestServer::with_runtime_config(baton_runtime::RuntimeConfig {
        max_tasks_per_workflow: 20,
        ..Default::default()
    })
    .await;
    let branches: Vec<serde_json::Value> = (0..30)
        .map(|i| json!([{"name": "lim_t", "taskReferenceName": format!("b{i}"), "type": "SIMPLE"}]))
        .collect();
    s.register_workflow(json!({
        "name": "wf_lim_tasks", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
             "forkTasks": branches},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN"}
        ]
    }))
    .await;
    let id = s.start("wf_lim_tasks", json!({})).await;
    let w = s
        .wait_for_status(&id, "FAILED", std::time::Duration::from_secs(10))
        .await;
    let reason = w["reasonForIncompletion"].as_str().unwrap_or_default();
    assert!(reason.contains("--max-tasks-per-workflow"), "{reason}");
    assert!(reason.contains("limit of 20"), "{reason}");
    // none of the excess reached a worker
    assert!(s.poll_batch("lim_t", 100, 0).await.is_empty());
}

#[tokio::test]
async fn a_task_output_over_the_limit_fails_the_task_for_good_and_is_not_stored() {
    let s = TestServer::with_runtime_config(baton_runtime::RuntimeConfig {
        max_task_output_bytes: 1024,
        ..Default::default()
    })
    .await;
    s.register_task_def(json!({"name": "lim_out", "retryCount": 3}))
        .await;
    s.register_workflow(simple_workflow("wf_lim_out", &["lim_out"]))
        .await;
    let id = s.start("wf_lim_out", json!({})).await;
    let t = s.poll_one("lim_out").await;
    let big = "x".repeat(2000);
    s.complete(&t, json!({"blob": big})).await;
    let w = s
        .wait_for_status(&id, "FAILED", std::time::Duration::from_secs(10))
        .await;
    let task = &w["tasks"][0];
    assert_eq!(task["status"], "FAILED_WITH_TERMINAL_ERROR", "{w}");
    assert!(task["outputData"].get("blob").is_none(), "{w}");
    let reason = task["reasonForIncompletion"].as_str().unwrap_or_default();
    assert!(reason.contains("--max-task-output-bytes"), "{reason}");
    assert_eq!(
        w["tasks"].as_array().map(Vec::len),
        Some(1),
        "no retry: {w}"
    );

    // an output within the limit is kept
    let id = s.start("wf_lim_out", json!({})).await;
    let t = s.poll_one("lim_out").await;
    s.complete(&t, json!({"small": "y".repeat(500)})).await;
    let w = s
        .wait_for_status(&id, "COMPLETED", std::time::Duration::from_secs(10))
        .await;
    assert_eq!(
        w["tasks"][0]["outputData"]["small"].as_str().map(str::len),
        Some(500)
    );
}
