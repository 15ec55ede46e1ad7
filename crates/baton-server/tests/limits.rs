//! Task-definition limits enforced at hand-out: `concurrentExecLimit` and
//! `rateLimitPerFrequency`/`rateLimitFrequencyInSeconds` (CONDUCTOR-API §4.10).

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
