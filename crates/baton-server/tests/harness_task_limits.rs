//! The worker-task cases of Conductor's `TaskLimitsWorkflowSpec`, with the same expectations,
//! written for Baton with its own definitions (the spec's system-task case uses a test-only
//! system task; see HARNESS.md):
//!
//! - a rate-limited task: the first workflow's task is handed out and completed; the second
//!   workflow's is not handed out within the window, and is once the window has passed;
//! - a concurrency-limited task: while the first workflow's task is in progress the second's
//!   is not handed out; once the first completes, it is.
//!
//! Time is a manual clock: the window passes when the test moves it, not by sleeping.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

async fn server(task_def: serde_json::Value, task: &str) -> TestServer {
    let s = TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await;
    s.register_task_def(task_def).await;
    s.register_workflow(simple_workflow("tl_wf", &[task])).await;
    s
}

async fn start_scheduled(s: &TestServer, task: &str) -> String {
    let id = s.start("tl_wf", json!({})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[(task, "SCHEDULED")]);
    id
}

#[tokio::test]
async fn a_rate_limited_task_waits_for_the_next_window() {
    let task = "tl_rated";
    let s = server(
        json!({"name": task, "rateLimitPerFrequency": 1, "rateLimitFrequencyInSeconds": 10}),
        task,
    )
    .await;
    let first = start_scheduled(&s, task).await;
    let t = s.poll_one(task).await;
    assert_eq!(t["workflowInstanceId"], first.as_str());
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&first, "COMPLETED", WAIT).await;
    expect_shape(&w, &[(task, "COMPLETED")]);

    let second = start_scheduled(&s, task).await;
    assert!(
        s.poll_batch(task, 1, 0).await.is_empty(),
        "one hand-out per 10 s window"
    );
    s.advance(Duration::from_secs(10)).await;
    let t = s.poll_one(task).await;
    assert_eq!(t["workflowInstanceId"], second.as_str());
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&second, "COMPLETED", WAIT).await;
    expect_shape(&w, &[(task, "COMPLETED")]);
}

#[tokio::test]
async fn a_concurrency_limited_task_waits_for_the_one_in_progress() {
    let task = "tl_single";
    let s = server(json!({"name": task, "concurrentExecLimit": 1}), task).await;
    let first = start_scheduled(&s, task).await;
    let t1 = s.poll_one(task).await;
    assert_eq!(t1["workflowInstanceId"], first.as_str());
    assert_eq!(t1["status"], "IN_PROGRESS");

    let second = start_scheduled(&s, task).await;
    assert!(
        s.poll_batch(task, 1, 0).await.is_empty(),
        "one in progress at a time"
    );
    s.complete(&t1, json!({})).await;
    let w = s.wait_for_status(&first, "COMPLETED", WAIT).await;
    expect_shape(&w, &[(task, "COMPLETED")]);

    let t2 = s.poll_one(task).await;
    assert_eq!(t2["workflowInstanceId"], second.as_str());
    assert_eq!(t2["status"], "IN_PROGRESS");
}
