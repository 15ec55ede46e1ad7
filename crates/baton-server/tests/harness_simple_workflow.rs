//! Cases of the older copies of Conductor's `SimpleWorkflowSpec` and
//! `WorkflowConfigurationSpec` (`com/netflix/counductor/integration/test/`) that no other test
//! covered, with the same expectations, written for Baton with its own definitions:
//!
//! - a workflow definition registered without a schema version gets version 2, as one
//!   registered with it;
//! - a task that outlives its response timeout is TIMED_OUT and a new attempt queued; that
//!   one, given back with a callback, is SCHEDULED again and handed out once the callback
//!   passed; the workflow then completes.
//!
//! Time is moved with a manual clock, never slept.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn worker(name: &str, reference: &str) -> Value {
    json!({"name": name, "taskReferenceName": reference, "type": "SIMPLE"})
}

async fn queue_size(s: &TestServer, task_type: &str) -> i64 {
    let sizes = s
        .get_json(&format!("/tasks/queue/sizes?taskType={task_type}"))
        .await;
    sizes[task_type].as_i64().unwrap_or_default()
}

#[tokio::test]
async fn a_definition_without_a_schema_version_is_stored_with_version_2() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "sw_schema_none", "version": 1,
        "tasks": [worker("sw_schema_task", "t1")]}))
        .await;
    s.register_workflow(
        json!({"name": "sw_schema_two", "version": 1, "schemaVersion": 2,
        "tasks": [worker("sw_schema_task", "t1")]}),
    )
    .await;
    for name in ["sw_schema_none", "sw_schema_two"] {
        let def = s
            .get_json(&format!("/metadata/workflow/{name}?version=1"))
            .await;
        assert_eq!(def["schemaVersion"], 2, "{def:#}");
    }
}

/// The task (the spec's `task_rt`) has a 10 s response timeout and one retry at once.
#[tokio::test]
async fn a_response_timeout_then_a_callback_then_the_workflow_completes() {
    let s = TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await;
    s.register_task_def(json!({"name": "sw_task_rt", "timeoutSeconds": 120,
        "responseTimeoutSeconds": 10, "retryCount": 1, "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(json!({"name": "sw_rtowf", "version": 1, "tasks": [
        worker("sw_task_rt", "task1_rt"), worker("sw_rt_next", "t2")
    ]}))
    .await;
    let id = s.start("sw_rtowf", json!({"param1": "p1 value"})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(shape(&w).len(), 1);
    assert_eq!(queue_size(&s, "sw_task_rt").await, 1);

    let first = s.poll_one("sw_task_rt").await;
    assert_eq!(first["workflowInstanceId"], id.as_str());
    assert_eq!(first["status"], "IN_PROGRESS");
    assert!(s.poll_batch("sw_task_rt", 1, 0).await.is_empty());

    // Past the response timeout: a new attempt is queued in place of the timed-out one.
    s.advance(secs(11)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[("sw_task_rt", "TIMED_OUT"), ("sw_task_rt", "SCHEDULED")],
    );
    assert_eq!(queue_size(&s, "sw_task_rt").await, 1);

    // The new attempt is given back with a 2 s callback: SCHEDULED again, not handed out.
    let second = s.poll_one("sw_task_rt").await;
    let resp = s
        .update(
            &json!({"taskId": second["taskId"], "workflowInstanceId": id,
            "status": "IN_PROGRESS", "callbackAfterSeconds": 2}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[("sw_task_rt", "TIMED_OUT"), ("sw_task_rt", "SCHEDULED")],
    );
    s.advance(secs(1)).await;
    assert!(s.poll_batch("sw_task_rt", 1, 0).await.is_empty());

    s.advance(secs(2)).await;
    let third = s.poll_one("sw_task_rt").await;
    assert_eq!(third["taskId"], second["taskId"]);
    s.complete(&third, json!({"op": "task1.done"})).await;

    // A COMPLETED update that also carries a reason still completes the task.
    let next = s.poll_one("sw_rt_next").await;
    let resp = s
        .update(&json!({"taskId": next["taskId"], "workflowInstanceId": id,
            "status": "COMPLETED", "reasonForIncompletion": "Unit test failure"}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("sw_task_rt", "TIMED_OUT"),
            ("sw_task_rt", "COMPLETED"),
            ("sw_rt_next", "COMPLETED"),
        ],
    );
}
