//! Conductor's `Issue1322LateDuplicateOverwriteSpec`, with the same expectations, written for
//! Baton with its own definitions: a second, late terminal update of a task that already ended
//! (a duplicate attempt finishing after the first) must not overwrite the stored record. The
//! spec drives two executions of one system task; over HTTP the same race is two terminal
//! updates of one task, the second arriving after the workflow ended (and, a variant, while
//! the workflow has already gone on to the next task).

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

async fn late_update(s: &TestServer, first: &Value, marker: &str) {
    let resp = s
        .update(&json!({
            "taskId": first["taskId"],
            "workflowInstanceId": first["workflowInstanceId"],
            "workerId": "late-worker",
            "status": "COMPLETED",
            "outputData": {"marker": marker},
        }))
        .await;
    // Answered (Baton ignores an update of an ended attempt); the record is what counts.
    assert!(resp.status().is_success(), "{}", resp.status());
}

#[tokio::test]
async fn a_late_duplicate_completion_does_not_overwrite_the_ended_task() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("ld_wf", &["ld_task"]))
        .await;
    let id = s.start("ld_wf", json!({})).await;
    let t = s.poll_one("ld_task").await;
    s.complete(&t, json!({"marker": "FIRST"})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let ended_at = w["endTime"].as_i64().unwrap();
    let task_end = w["tasks"][0]["endTime"].as_i64().unwrap();

    late_update(&s, &t, "SECOND").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "COMPLETED");
    let stored = &w["tasks"][0];
    assert_eq!(stored["outputData"]["marker"], "FIRST", "{w:#}");
    assert_eq!(stored["endTime"].as_i64().unwrap(), task_end);
    assert!(stored["endTime"].as_i64().unwrap() <= ended_at, "{w:#}");
    assert_eq!(w["endTime"].as_i64().unwrap(), ended_at);
}

#[tokio::test]
async fn a_late_duplicate_completion_does_not_overwrite_a_task_the_workflow_went_past() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("ld_wf2", &["ld_a", "ld_b"]))
        .await;
    let id = s.start("ld_wf2", json!({})).await;
    let t = s.poll_one("ld_a").await;
    s.complete(&t, json!({"marker": "FIRST"})).await;
    let w = s.workflow(&id).await;
    expect_shape(&w, &[("ld_a", "COMPLETED"), ("ld_b", "SCHEDULED")]);

    late_update(&s, &t, "SECOND").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("ld_a", "COMPLETED"), ("ld_b", "SCHEDULED")]);
    assert_eq!(w["tasks"][0]["outputData"]["marker"], "FIRST", "{w:#}");
    let b = s.poll_one("ld_b").await;
    s.complete(&b, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["tasks"][0]["outputData"]["marker"], "FIRST");
}
