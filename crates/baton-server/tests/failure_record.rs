//! What a workflow records of the task that ended it, as Conductor 3.32's `WorkflowExecutorOps`
//! does: `failedTaskId` is the task whose failure ended the workflow (the last attempt of a
//! task out of retries, a TERMINATE asking for FAILED, a JOIN failed by its branches), set
//! once: a retried workflow that fails again keeps the first. `failedReferenceTaskNames` and
//! `failedTaskNames` name every FAILED or FAILED_WITH_TERMINAL_ERROR task, retried attempts
//! too, and grow across retries and restarts; a rerun starts them afresh, a restart forgets
//! `failedTaskId`. A task failed without a reason is named with Java's `null`.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

async fn defs(s: &TestServer, names: &[&str], retries: i32) {
    for n in names {
        s.register_task_def(json!({"name": n, "retryCount": retries, "retryDelaySeconds": 0}))
            .await;
    }
}

fn id_of(t: &Value) -> &str {
    t["taskId"].as_str().expect("taskId")
}

async fn retry(s: &TestServer, id: &str) {
    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
}

#[tokio::test]
async fn the_last_attempt_of_a_task_out_of_retries_is_the_failed_task() {
    let s = TestServer::spawn().await;
    defs(&s, &["fr_a"], 1).await;
    defs(&s, &["fr_b"], 0).await;
    s.register_workflow(simple_workflow("fr_simple", &["fr_a", "fr_b"]))
        .await;
    let id = s.start("fr_simple", json!({})).await;
    let first = s.poll_one("fr_a").await;
    s.fail(&first, "first").await;
    let second = s.poll_one("fr_a").await;
    s.fail(&second, "second").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(w["failedTaskId"], id_of(&second), "{w:#}");
    assert_eq!(
        w["reasonForIncompletion"],
        format!(
            "Task {} failed with status: FAILED and reason: 'second'",
            id_of(&second)
        )
    );
    let reference = w["tasks"][0]["referenceTaskName"].clone();
    assert_eq!(w["failedReferenceTaskNames"], json!([reference]), "{w:#}");
    assert_eq!(w["failedTaskNames"], json!(["fr_a"]), "{w:#}");
}

#[tokio::test]
async fn a_task_failed_without_a_reason_is_named_with_null() {
    let s = TestServer::spawn().await;
    defs(&s, &["fr_quiet"], 0).await;
    s.register_workflow(simple_workflow("fr_quiet_wf", &["fr_quiet"]))
        .await;
    let id = s.start("fr_quiet_wf", json!({})).await;
    let t = s.poll_one("fr_quiet").await;
    let resp = s
        .update(&json!({"taskId": t["taskId"], "workflowInstanceId": id,
                        "workerId": "test-worker", "status": "FAILED_WITH_TERMINAL_ERROR"}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(
        w["reasonForIncompletion"],
        format!(
            "Task {} failed with status: FAILED and reason: 'null'",
            id_of(&t)
        )
    );
    assert_eq!(w["failedTaskId"], id_of(&t), "{w:#}");
}

/// Conductor's retry keeps the failure record: failing again after a retry leaves
/// `failedTaskId` at the first failure and adds the new task's names.
#[tokio::test]
async fn a_retried_workflow_that_fails_again_keeps_the_first_failed_task() {
    let s = TestServer::spawn().await;
    defs(&s, &["fr_one", "fr_two"], 0).await;
    s.register_workflow(simple_workflow("fr_again", &["fr_one", "fr_two"]))
        .await;
    let id = s.start("fr_again", json!({})).await;
    let one = s.poll_one("fr_one").await;
    s.fail(&one, "one broke").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(w["failedTaskId"], id_of(&one), "{w:#}");

    retry(&s, &id).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    assert!(w["reasonForIncompletion"].is_null(), "{w:#}");
    assert_eq!(w["failedTaskId"], id_of(&one), "{w:#}");
    let again = s.poll_one("fr_one").await;
    s.complete(&again, json!({})).await;
    let two = s.poll_one("fr_two").await;
    s.fail(&two, "two broke").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    // The reason is the new failure's; the failed task stays the first one.
    assert_eq!(
        w["reasonForIncompletion"],
        format!(
            "Task {} failed with status: FAILED and reason: 'two broke'",
            id_of(&two)
        )
    );
    assert_eq!(w["failedTaskId"], id_of(&one), "{w:#}");
    let refs = |w: &Value, name: &str| -> Value {
        w["tasks"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["taskDefName"] == name))
            .map(|t| t["referenceTaskName"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        w["failedReferenceTaskNames"],
        json!([refs(&w, "fr_one"), refs(&w, "fr_two")]),
        "{w:#}"
    );
    assert_eq!(w["failedTaskNames"], json!(["fr_one", "fr_two"]), "{w:#}");

    // Retried to the end: the workflow completes, still naming what failed on the way.
    retry(&s, &id).await;
    let two = s.poll_one("fr_two").await;
    s.complete(&two, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["failedTaskId"], id_of(&one), "{w:#}");
    assert_eq!(w["failedTaskNames"], json!(["fr_one", "fr_two"]), "{w:#}");
}

#[tokio::test]
async fn a_rerun_forgets_the_failure_and_a_restart_forgets_the_failed_task() {
    let s = TestServer::spawn().await;
    defs(&s, &["fr_r"], 0).await;
    s.register_workflow(simple_workflow("fr_rerun", &["fr_r"]))
        .await;

    let id = s.start("fr_rerun", json!({})).await;
    let t = s.poll_one("fr_r").await;
    s.fail(&t, "broke").await;
    s.wait_for_status(&id, "FAILED", WAIT).await;
    let resp = s
        .post_json(
            &format!("/workflow/{id}/rerun"),
            &json!({"reRunFromWorkflowId": id}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    assert!(w["failedTaskId"].is_null(), "{w:#}");
    assert_eq!(w["failedTaskNames"], json!([]), "{w:#}");
    let t = s.poll_one("fr_r").await;
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert!(w["failedTaskId"].is_null(), "{w:#}");
    assert_eq!(w["failedTaskNames"], json!([]), "{w:#}");

    let id = s.start("fr_rerun", json!({})).await;
    let t = s.poll_one("fr_r").await;
    s.fail(&t, "broke").await;
    s.wait_for_status(&id, "FAILED", WAIT).await;
    let resp = s
        .post_json(&format!("/workflow/{id}/restart"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let t = s.poll_one("fr_r").await;
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert!(w["failedTaskId"].is_null(), "{w:#}");
    // Conductor's restart re-creates the execution with the names it had.
    assert_eq!(w["failedTaskNames"], json!(["fr_r"]), "{w:#}");
}

#[tokio::test]
async fn a_terminate_asking_for_failed_is_the_failed_task() {
    let s = TestServer::spawn().await;
    // Conductor takes terminationStatus only written out, never as an expression.
    for status in ["FAILED", "COMPLETED"] {
        s.register_workflow(
            json!({"name": format!("fr_term_{status}"), "version": 1, "tasks": [
                {"name": "end", "taskReferenceName": "end", "type": "TERMINATE",
                 "inputParameters": {"terminationStatus": status}}
            ]}),
        )
        .await;
    }
    let id = s.start("fr_term_FAILED", json!({})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let end = only_task(&w);
    assert_eq!(w["failedTaskId"], end["taskId"], "{w:#}");
    assert_eq!(
        w["reasonForIncompletion"],
        format!("Workflow is FAILED by TERMINATE task: {}", id_of(end))
    );

    let id = s.start("fr_term_COMPLETED", json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert!(w["failedTaskId"].is_null(), "{w:#}");
}

/// A JOIN failed by a permissive branch ends the workflow: it is the failed task. A workflow
/// failed at its end by a permissive task names no single task.
#[tokio::test]
async fn a_failed_join_is_the_failed_task_and_a_permissive_end_names_none() {
    let s = TestServer::spawn().await;
    defs(&s, &["fr_p1", "fr_p2", "fr_after"], 0).await;
    let permissive =
        |n: &str| json!({"name": n, "taskReferenceName": n, "type": "SIMPLE", "permissive": true});
    s.register_workflow(json!({"name": "fr_join", "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [[permissive("fr_p1")], [permissive("fr_p2")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN",
         "joinOn": ["fr_p1", "fr_p2"]}
    ]}))
    .await;
    let id = s.start("fr_join", json!({})).await;
    let t = s.poll_one("fr_p1").await;
    s.fail(&t, "p1 broke").await;
    let t = s.poll_one("fr_p2").await;
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let join = tasks_by_ref(&w, "join")[0];
    assert_eq!(join["status"], "FAILED", "{w:#}");
    assert_eq!(w["failedTaskId"], join["taskId"], "{w:#}");
    assert_eq!(
        w["failedReferenceTaskNames"],
        json!(["fr_p1", "join"]),
        "{w:#}"
    );

    s.register_workflow(json!({"name": "fr_perm_end", "version": 1, "tasks": [
        permissive("fr_p1"),
        {"name": "fr_after", "taskReferenceName": "fr_after", "type": "SIMPLE"}
    ]}))
    .await;
    let id = s.start("fr_perm_end", json!({})).await;
    let t = s.poll_one("fr_p1").await;
    s.fail(&t, "p1 broke").await;
    let t = s.poll_one("fr_after").await;
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert!(w["failedTaskId"].is_null(), "{w:#}");
    assert_eq!(w["failedReferenceTaskNames"], json!(["fr_p1"]), "{w:#}");
}
