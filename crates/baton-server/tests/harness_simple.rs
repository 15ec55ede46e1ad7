//! Scenarios of Conductor's `SimpleWorkflowSpec` that the other tests did not cover, with the
//! same expectations, written for Baton with its own definitions: null inputs and outputs, a
//! terminal error (Conductor's reason, the output still computed, the failed names), the
//! failed names of a workflow that completed after retries, `${CPEWF_TASK_ID}`, and a
//! non-restartable definition.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// t1 (input p1, p2 from the workflow, p3 its own task id, someNullKey null), then t2 (tp1
/// from the input, tp2 from t1's output); output o1, o3, validationErrors.
fn linear(name: &str, restartable: bool) -> Value {
    json!({"name": name, "version": 1, "restartable": restartable,
        "tasks": [
            {"name": "sw_task_1", "taskReferenceName": "t1", "type": "SIMPLE",
             "inputParameters": {"p1": "${workflow.input.param1}",
                                 "p2": "${workflow.input.param2}",
                                 "p3": "${CPEWF_TASK_ID}", "someNullKey": null}},
            {"name": "sw_task_2", "taskReferenceName": "t2", "type": "SIMPLE",
             "inputParameters": {"tp1": "${workflow.input.param1}", "tp2": "${t1.output.op}"}}
        ],
        "outputParameters": {"o1": "${workflow.input.param1}", "o3": "${t1.output.op}",
                             "validationErrors": "${t1.output.ErrorMessage}"}})
}

async fn server(task1_retries: i64, task2_retries: i64) -> TestServer {
    let s = TestServer::spawn().await;
    s.register_task_def(
        json!({"name": "sw_task_1", "retryCount": task1_retries, "retryDelaySeconds": 0}),
    )
    .await;
    s.register_task_def(
        json!({"name": "sw_task_2", "retryCount": task2_retries, "retryDelaySeconds": 0}),
    )
    .await;
    s.register_workflow(linear("sw_linear", true)).await;
    s.register_workflow(linear("sw_non_restartable", false))
        .await;
    s
}

fn input() -> Value {
    json!({"param1": "p1 value", "param2": "p2 value"})
}

#[tokio::test]
async fn null_inputs_and_outputs_are_kept_as_null() {
    let s = server(1, 1).await;
    let id = s
        .start("sw_linear", json!({"param1": "p1 value", "param2": null}))
        .await;
    let w = s.workflow(&id).await;
    assert!(w["input"].as_object().unwrap().contains_key("param2"));
    assert_eq!(w["input"]["param2"], Value::Null);
    assert_eq!(w["tasks"][0]["inputData"]["someNullKey"], Value::Null);
    let t = s.poll_one("sw_task_1").await;
    s.complete(
        &t,
        json!({"someOtherKey": {"a": 1, "A": null}, "someKey": null}),
    )
    .await;
    let w = s.workflow(&id).await;
    let out = w["tasks"][0]["outputData"].as_object().unwrap();
    assert!(out.contains_key("someKey"), "{w:#}");
    assert_eq!(out["someKey"], Value::Null);
    assert!(out["someOtherKey"].as_object().unwrap().contains_key("A"));
    assert_eq!(w["tasks"][1]["taskType"], "sw_task_2");
    assert_eq!(w["tasks"][1]["status"], "SCHEDULED");
}

#[tokio::test]
async fn a_terminal_error_fails_the_workflow_with_conductors_reason_and_output() {
    let s = server(1, 1).await;
    let id = s.start("sw_linear", input()).await;
    // A running workflow cannot be restarted.
    let resp = s
        .post_json(&format!("/workflow/{id}/restart"), &json!({}))
        .await;
    expect_status(resp, StatusCode::CONFLICT).await;
    let t = s.poll_one("sw_task_1").await;
    let resp = s
        .update(&json!({
            "taskId": t["taskId"], "workflowInstanceId": id,
            "status": "FAILED_WITH_TERMINAL_ERROR",
            "reasonForIncompletion":
                "NON TRANSIENT ERROR OCCURRED: An integration point required to complete the task is down",
            "outputData": {"TERMINAL_ERROR": "Integration endpoint down: FOOBAR",
                           "ErrorMessage": "There was a terminal error"}
        }))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let t1 = &tasks_by_ref(&w, "t1")[0];
    assert_eq!(
        w["reasonForIncompletion"],
        format!(
            "Task {} failed with status: FAILED and reason: 'NON TRANSIENT ERROR OCCURRED: An \
             integration point required to complete the task is down'",
            t1["taskId"].as_str().unwrap()
        )
    );
    assert_eq!(w["output"]["o1"], "p1 value");
    assert_eq!(
        w["output"]["validationErrors"],
        "There was a terminal error"
    );
    assert_eq!(t1["retryCount"], 0);
    assert_eq!(tasks_by_ref(&w, "t1").len(), 1, "not retried");
    assert_eq!(w["failedReferenceTaskNames"], json!(["t1"]));
    assert_eq!(w["failedTaskNames"], json!(["sw_task_1"]));
}

/// Failed attempts that were retried are still named on the workflow that then completed;
/// each attempt's `${CPEWF_TASK_ID}` is its own id.
#[tokio::test]
async fn a_workflow_completed_after_retries_names_the_tasks_that_failed() {
    let s = server(1, 3).await;
    let id = s.start("sw_linear", input()).await;
    let t1 = s.poll_one("sw_task_1").await;
    assert_eq!(t1["inputData"]["p3"], t1["taskId"]);
    assert_eq!(t1["inputData"]["p1"], "p1 value");
    s.complete(&t1, json!({"op": "task1.output"})).await;
    for _ in 0..2 {
        let t = s.poll_one("sw_task_2").await;
        assert_eq!(
            t["inputData"],
            json!({"tp1": "p1 value", "tp2": "task1.output"})
        );
        s.fail(&t, "failure...0").await;
    }
    let t = s.poll_one("sw_task_2").await;
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4, "{w:#}");
    let statuses: Vec<&str> = tasks
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["COMPLETED", "FAILED", "FAILED", "COMPLETED"]);
    assert_eq!(tasks[1]["taskId"], tasks[2]["retriedTaskId"]);
    assert_eq!(tasks[2]["taskId"], tasks[3]["retriedTaskId"]);
    assert_eq!(w["failedReferenceTaskNames"], json!(["t2"]));
    assert_eq!(w["failedTaskNames"], json!(["sw_task_2"]));
}

/// Retries exhausted fail the workflow; a retry of the workflow gives the task a new
/// attempt (with its own `${CPEWF_TASK_ID}`), and the completed workflow still names it.
#[tokio::test]
async fn a_workflow_retried_after_its_retries_ran_out_completes_naming_the_failed_task() {
    let s = server(1, 1).await;
    let id = s.start("sw_linear", input()).await;
    for _ in 0..2 {
        let t = s.poll_one("sw_task_1").await;
        assert_eq!(t["inputData"]["p3"], t["taskId"]);
        s.fail(&t, "failure...0").await;
    }
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(w["tasks"].as_array().unwrap().len(), 2);
    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["tasks"][2]["status"], "SCHEDULED");
    assert_eq!(w["tasks"][2]["inputData"]["p3"], w["tasks"][2]["taskId"]);
    let t = s.poll_one("sw_task_1").await;
    s.complete(&t, json!({"op": "task1.done"})).await;
    let t = s.poll_one("sw_task_2").await;
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["tasks"].as_array().unwrap().len(), 4);
    assert_eq!(w["failedReferenceTaskNames"], json!(["t1"]));
    assert_eq!(w["failedTaskNames"], json!(["sw_task_1"]));
}

#[tokio::test]
async fn a_non_restartable_workflow_restarts_when_failed_but_not_once_completed() {
    let s = server(0, 0).await;
    let id = s.start("sw_non_restartable", input()).await;
    let t = s.poll_one("sw_task_1").await;
    s.fail(&t, "failure...0").await;
    s.wait_for_status(&id, "FAILED", WAIT).await;
    let resp = s
        .post_json(&format!("/workflow/{id}/restart"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let t = s.poll_one("sw_task_1").await;
    s.complete(&t, json!({"op": "task1.done"})).await;
    let t = s.poll_one("sw_task_2").await;
    assert_eq!(
        t["inputData"],
        json!({"tp1": "p1 value", "tp2": "task1.done"})
    );
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["output"]["o3"], "task1.done");
    let resp = s
        .post_json(&format!("/workflow/{id}/restart"), &json!({}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["restartable"]).await;
    assert_eq!(s.workflow(&id).await["status"], "COMPLETED");
}
