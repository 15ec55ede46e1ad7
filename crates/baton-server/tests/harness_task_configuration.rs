//! Cases of the older copy of Conductor's `WorkflowAndTaskConfigurationSpec`
//! (`com/netflix/counductor/integration/test/`) that no other test covered, with the same
//! expectations, written for Baton with its own definitions:
//!
//! - an optional task that fails is retried, and the retry that times out with no retries
//!   left ends COMPLETED_WITH_ERRORS, the workflow going on;
//! - a task timed out under the RETRY policy is retried, and the workflow times out once the
//!   retries ran out;
//! - a task skipped before it was scheduled is listed SKIPPED, and the workflow walks past it;
//! - a worker reporting IN_PROGRESS with `callbackAfterSeconds` gives the task back: SCHEDULED,
//!   not handed out until the delay passed, still counted in its queue.
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

async fn manual() -> TestServer {
    TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await
}

fn worker(name: &str, reference: &str) -> Value {
    json!({"name": name, "taskReferenceName": reference, "type": "SIMPLE"})
}

/// Polls a task of `task_type`, checks it belongs to `id`, and completes it with `output`.
async fn work(s: &TestServer, id: &str, task_type: &str, output: Value) -> Value {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, output).await;
    t
}

/// The queue size of `task_type` as `GET /tasks/queue/sizes` reports it.
async fn queue_size(s: &TestServer, task_type: &str) -> i64 {
    let sizes = s
        .get_json(&format!("/tasks/queue/sizes?taskType={task_type}"))
        .await;
    sizes[task_type].as_i64().unwrap_or_default()
}

/// An optional task whose definition retries once and times out (RETRY) after 5 s: the
/// first attempt fails, its retry is polled and never answered; once it times out with no
/// retries left it ends COMPLETED_WITH_ERRORS and the next task is scheduled.
#[tokio::test]
async fn an_optional_task_retried_then_timed_out_completes_with_errors() {
    let s = manual().await;
    s.register_task_def(json!({"name": "tc_optional", "timeoutSeconds": 5,
        "responseTimeoutSeconds": 5, "retryCount": 1, "timeoutPolicy": "RETRY",
        "retryDelaySeconds": 0}))
        .await;
    let mut optional = worker("tc_optional", "opt");
    optional["optional"] = json!(true);
    s.register_workflow(json!({"name": "tc_optional_wf", "version": 1,
        "tasks": [optional, worker("tc_after_optional", "t2")]}))
        .await;
    let id = s.start("tc_optional_wf", json!({"p": 1})).await;
    expect_shape(&s.workflow(&id).await, &[("tc_optional", "SCHEDULED")]);

    let t = s.poll_one("tc_optional").await;
    s.fail(&t, "NETWORK ERROR").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[("tc_optional", "FAILED"), ("tc_optional", "SCHEDULED")],
    );

    // The retry is taken and never answered: it times out after the task's 5 s.
    let retry = s.poll_one("tc_optional").await;
    assert_eq!(retry["retryCount"], 1, "{retry:#}");
    s.advance(secs(4)).await;
    expect_shape(
        &s.workflow(&id).await,
        &[("tc_optional", "FAILED"), ("tc_optional", "IN_PROGRESS")],
    );
    s.advance(secs(2)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(
        &w,
        &[
            ("tc_optional", "FAILED"),
            ("tc_optional", "COMPLETED_WITH_ERRORS"),
            ("tc_after_optional", "SCHEDULED"),
        ],
    );

    work(&s, &id, "tc_after_optional", json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("tc_optional", "FAILED"),
            ("tc_optional", "COMPLETED_WITH_ERRORS"),
            ("tc_after_optional", "COMPLETED"),
        ],
    );
}

/// A task whose definition times it out after 1 s under the RETRY policy, with one retry:
/// the first attempt is TIMED_OUT and retried; the retry is TIMED_OUT too, and the workflow
/// ends TIMED_OUT.
#[tokio::test]
async fn a_task_timed_out_under_the_retry_policy_is_retried_then_times_the_workflow_out() {
    let s = manual().await;
    s.register_task_def(json!({"name": "tc_timeout", "timeoutSeconds": 1,
        "responseTimeoutSeconds": 1, "retryCount": 1, "timeoutPolicy": "RETRY",
        "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(json!({"name": "tc_timeout_wf", "version": 1,
        "tasks": [worker("tc_timeout", "t1"), worker("tc_never", "t2")]}))
        .await;
    let id = s.start("tc_timeout_wf", json!({})).await;
    expect_shape(&s.workflow(&id).await, &[("tc_timeout", "SCHEDULED")]);

    let first = s.poll_one("tc_timeout").await;
    assert_eq!(first["workflowInstanceId"], id.as_str());
    s.advance(secs(3)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(
        &w,
        &[("tc_timeout", "TIMED_OUT"), ("tc_timeout", "SCHEDULED")],
    );

    let second = s.poll_one("tc_timeout").await;
    assert_eq!(second["retriedTaskId"], first["taskId"], "{second:#}");
    s.advance(secs(3)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "TIMED_OUT", "{w:#}");
    expect_shape(
        &w,
        &[("tc_timeout", "TIMED_OUT"), ("tc_timeout", "TIMED_OUT")],
    );
    assert!(s.poll_batch("tc_never", 1, 0).await.is_empty());
}

/// Skipping a task that is not scheduled yet lists it SKIPPED at once; the workflow then goes
/// from the first task straight to the third. The spec lists the skipped task first (Conductor
/// creates it without a sequence number, so it sorts before every other); Baton lists it
/// where the skip happened, after the task already scheduled (HARNESS.md).
#[tokio::test]
async fn a_task_skipped_before_it_runs_is_listed_skipped_and_walked_past() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "tc_skip_wf", "version": 1, "tasks": [
        worker("tc_skip_1", "t1"), worker("tc_skip_2", "t2"), worker("tc_skip_3", "t3")
    ]}))
    .await;
    let id = s.start("tc_skip_wf", json!({})).await;
    expect_shape(&s.workflow(&id).await, &[("tc_skip_1", "SCHEDULED")]);

    let resp = s
        .put_json(&format!("/workflow/{id}/skiptask/t2"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("tc_skip_1", "SCHEDULED"), ("tc_skip_2", "SKIPPED")]);

    work(&s, &id, "tc_skip_1", json!({"op": "task1.done"})).await;
    let w = s.workflow(&id).await;
    expect_shape(
        &w,
        &[
            ("tc_skip_1", "COMPLETED"),
            ("tc_skip_2", "SKIPPED"),
            ("tc_skip_3", "SCHEDULED"),
        ],
    );
    assert!(s.poll_batch("tc_skip_2", 1, 0).await.is_empty());
    work(&s, &id, "tc_skip_3", json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(shape(&w).len(), 3, "{w:#}");
    assert_eq!(shape(&w)[2], ("tc_skip_3".into(), "COMPLETED".into()));
}

/// Reports IN_PROGRESS with a callback for the task `t`, then shows it back in SCHEDULED,
/// counted in its queue, and not handed out until `callback` seconds have passed.
async fn call_back_later(s: &TestServer, t: &Value, callback: u64, output: Value) {
    let task_type = t["taskType"].as_str().unwrap();
    let resp = s
        .update(
            &json!({"taskId": t["taskId"], "workflowInstanceId": t["workflowInstanceId"],
            "status": "IN_PROGRESS", "callbackAfterSeconds": callback, "outputData": output}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let id = t["workflowInstanceId"].as_str().unwrap();
    let w = s.workflow(id).await;
    assert_eq!(w["status"], "RUNNING");
    let now = tasks_by_ref(&w, t["referenceTaskName"].as_str().unwrap());
    assert_eq!(now.len(), 1, "the same attempt: {w:#}");
    assert_eq!(now[0]["status"], "SCHEDULED", "{w:#}");
    assert_eq!(queue_size(s, task_type).await, 1);
    s.advance(secs(callback - 1)).await;
    assert!(
        s.poll_batch(task_type, 1, 0).await.is_empty(),
        "handed out before its callback"
    );
    s.advance(secs(1)).await;
}

/// Both tasks of a chain are given back once with a callback (2 s, then 5 s) and completed
/// when handed out again; the second gets the first's final output as input.
#[tokio::test]
async fn tasks_given_back_with_a_callback_wait_in_their_queue_until_it_passes() {
    let s = manual().await;
    s.register_workflow(json!({"name": "tc_callback_wf", "version": 1, "tasks": [
        worker("tc_cb_1", "t1"),
        {"name": "tc_cb_2", "taskReferenceName": "t2", "type": "SIMPLE",
         "inputParameters": {"tp1": "${workflow.input.param1}", "tp2": "${t1.output.op}"}}
    ]}))
    .await;
    let id = s
        .start("tc_callback_wf", json!({"param1": "p1 value"}))
        .await;
    expect_shape(&s.workflow(&id).await, &[("tc_cb_1", "SCHEDULED")]);

    let t1 = s.poll_one("tc_cb_1").await;
    call_back_later(&s, &t1, 2, json!({"op": "task1.in.progress"})).await;
    let again = s.poll_one("tc_cb_1").await;
    assert_eq!(again["taskId"], t1["taskId"], "the same attempt again");
    assert_eq!(again["outputData"]["op"], "task1.in.progress");
    s.complete(&again, json!({"op": "task1.done"})).await;
    let w = s.workflow(&id).await;
    expect_shape(&w, &[("tc_cb_1", "COMPLETED"), ("tc_cb_2", "SCHEDULED")]);

    let t2 = s.poll_one("tc_cb_2").await;
    assert_eq!(t2["inputData"]["tp1"], "p1 value");
    assert_eq!(t2["inputData"]["tp2"], "task1.done");
    call_back_later(&s, &t2, 5, json!({})).await;
    work(&s, &id, "tc_cb_2", json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(&w, &[("tc_cb_1", "COMPLETED"), ("tc_cb_2", "COMPLETED")]);
    assert_eq!(queue_size(&s, "tc_cb_2").await, 0);
}
