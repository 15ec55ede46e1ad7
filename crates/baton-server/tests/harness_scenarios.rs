//! The scenarios of Conductor's test-harness specs for the routes added beside the core
//! (`TestWorkflowSpec`, `SignalTaskSpec`), with the same expectations, written for Baton over
//! HTTP with its own definitions. Where the spec needs a sweep to advance the workflow, Baton
//! decides in the same commit, so the expectation holds right away.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

fn simple(name: &str, reference: &str) -> Value {
    json!({"name": name, "taskReferenceName": reference, "type": "SIMPLE"})
}

// ---- TestWorkflowSpec ------------------------------------------------------------------

#[tokio::test]
async fn test_run_with_simple_tasks_stops_at_the_unmocked_one() {
    let s = TestServer::spawn().await;
    // The definition is inline: nothing is registered.
    let resp = s
        .post_json("/workflow/test", &json!({
            "name": "harness_test_wf", "version": 1, "input": {"var": "var_test_value"},
            "workflowDef": {"name": "harness_test_wf", "version": 1,
                "tasks": [simple("h_task1", "task1"), simple("h_task2", "task2")]},
            "taskRefToMockOutput": {"task1": [{"status": "COMPLETED", "output": {"key": "value"}}]}
        }))
        .await;
    let w = expect_json(resp, StatusCode::OK).await;
    let id = w["workflowId"].as_str().expect("workflowId");
    let w = s.workflow(id).await;
    assert_eq!(w["status"], "RUNNING");
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{w}");
    assert_eq!(tasks[0]["taskType"], "h_task1");
    assert_eq!(tasks[0]["status"], "COMPLETED");
    assert_eq!(tasks[0]["outputData"]["key"], "value");
    assert_eq!(tasks[1]["taskType"], "h_task2");
    assert_eq!(tasks[1]["status"], "SCHEDULED");
}

#[tokio::test]
async fn test_run_with_a_switch_takes_the_branch_of_the_input() {
    let s = TestServer::spawn().await;
    let switch = json!({"name": "switch", "taskReferenceName": "switch", "type": "SWITCH",
        "evaluatorType": "value-param", "expression": "switchCaseValue",
        "inputParameters": {"switchCaseValue": "${workflow.input.case}"},
        "decisionCases": {"a": [simple("h_task1", "d1")], "b": [simple("h_task2", "d2")]}});
    let resp = s
        .post_json("/workflow/test", &json!({
            "name": "harness_switch_wf", "version": 1, "input": {"case": "b"},
            "workflowDef": {"name": "harness_switch_wf", "version": 1,
                "tasks": [simple("h_task1", "task1"), switch]},
            "taskRefToMockOutput": {"task1": [{"status": "COMPLETED", "output": {"key": "value"}}]}
        }))
        .await;
    let w = expect_json(resp, StatusCode::OK).await;
    let w = s.workflow(w["workflowId"].as_str().unwrap()).await;
    assert_eq!(w["status"], "RUNNING");
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{w}");
    assert_eq!(tasks[0]["taskType"], "h_task1");
    assert_eq!(tasks[0]["status"], "COMPLETED");
    assert_eq!(tasks[0]["outputData"]["key"], "value");
    assert_eq!(tasks[1]["taskType"], "SWITCH");
    assert_eq!(tasks[1]["status"], "COMPLETED");
    assert_eq!(tasks[2]["taskType"], "h_task2");
    assert_eq!(tasks[2]["referenceTaskName"], "d2");
    assert_eq!(tasks[2]["status"], "SCHEDULED");
}

// ---- SignalTaskSpec --------------------------------------------------------------------

fn wait_workflow() -> Value {
    json!({"name": "harness_wait_wf", "version": 1, "tasks": [
        {"name": "wait", "taskReferenceName": "wait", "type": "WAIT"},
        simple("h_integration_task_1", "t1")]})
}

#[tokio::test]
async fn signal_completes_a_blocked_wait_and_advances_the_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(wait_workflow()).await;
    let id = s.start("harness_wait_wf", json!({})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(w["tasks"][0]["taskType"], "WAIT");
    assert_eq!(w["tasks"][0]["status"], "IN_PROGRESS");

    let resp = s
        .post_json(
            &format!("/tasks/{id}/COMPLETED/signal"),
            &json!({"result": "done"}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{w}");
    assert_eq!(tasks[0]["status"], "COMPLETED");
    assert_eq!(tasks[0]["outputData"]["result"], "done");
    assert_eq!(tasks[1]["taskType"], "h_integration_task_1");
    assert_eq!(tasks[1]["status"], "SCHEDULED");
}

#[tokio::test]
async fn signal_without_a_blocked_task_changes_nothing() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "harness_wait_only", "version": 1, "tasks": [
        {"name": "wait", "taskReferenceName": "wait", "type": "WAIT"},
        {"name": "wait2", "taskReferenceName": "wait2", "type": "WAIT"}]}))
        .await;
    let id = s.start("harness_wait_only", json!({})).await;
    for _ in 0..2 {
        let resp = s
            .post_json(&format!("/tasks/{id}/wait/COMPLETED"), &json!({}))
            .await;
        expect_status(resp, StatusCode::OK).await;
        let resp = s
            .post_json(&format!("/tasks/{id}/wait2/COMPLETED"), &json!({}))
            .await;
        expect_status(resp, StatusCode::OK).await;
    }
    let before = s
        .wait_for_status(&id, "COMPLETED", Duration::from_secs(10))
        .await;
    let resp = s
        .post_json(&format!("/tasks/{id}/FAILED/signal"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let after = s.workflow(&id).await;
    assert_eq!(before["tasks"], after["tasks"], "nothing changed");
    assert_eq!(after["status"], "COMPLETED");
}

#[tokio::test]
async fn signal_descends_into_a_sub_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(
        json!({"name": "harness_signal_child", "version": 1, "tasks": [
        {"name": "wait", "taskReferenceName": "wait", "type": "WAIT"}]}),
    )
    .await;
    s.register_workflow(
        json!({"name": "harness_signal_parent", "version": 1, "tasks": [
        {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
         "subWorkflowParam": {"name": "harness_signal_child", "version": 1}}]}),
    )
    .await;
    let parent = s.start("harness_signal_parent", json!({})).await;
    let w = s
        .wait_for(&parent, "the child started", Duration::from_secs(10), |w| {
            w["tasks"][0]["status"] == "IN_PROGRESS" && w["tasks"][0]["subWorkflowId"].is_string()
        })
        .await;
    assert_eq!(w["tasks"][0]["taskType"], "SUB_WORKFLOW");
    let child = w["tasks"][0]["subWorkflowId"].as_str().unwrap().to_string();
    let c = s
        .wait_for(&child, "the child waits", Duration::from_secs(10), |w| {
            w["tasks"][0]["status"] == "IN_PROGRESS"
        })
        .await;
    assert_eq!(c["tasks"][0]["taskType"], "WAIT");

    let resp = s
        .post_json(
            &format!("/tasks/{parent}/COMPLETED/signal"),
            &json!({"result": "sub-done"}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let c = s
        .wait_for_status(&child, "COMPLETED", Duration::from_secs(10))
        .await;
    assert_eq!(c["tasks"][0]["status"], "COMPLETED");
    assert_eq!(c["tasks"][0]["outputData"]["result"], "sub-done");
    s.wait_for_status(&parent, "COMPLETED", Duration::from_secs(30))
        .await;
}
