//! The cases of Conductor's `StartWorkflowSpec`, `WaitTaskSpec` and `EventTaskSpec`, and the
//! "workflow with no tasks" case of `WorkflowAndTaskConfigurationSpec`, with the same
//! expectations, written for Baton with its own definitions.
//!
//! - START_WORKFLOW starts another workflow by name (with input) or from an inline definition;
//!   the starter completes, the started one runs with the starter's correlation id;
//! - a `startWorkflow` input that is not a start request fails the task and the workflow;
//! - a WAIT without duration is completed by a task update, and the workflow goes on;
//! - an EVENT task publishes (`event_produced` names the queue) and the workflow goes on;
//! - a definition without tasks: the spec starts it through the executor, past the REST
//!   layer's validation; over HTTP Conductor validates the inline definition (`tasks` is
//!   `@NotEmpty`), and so does Baton: 400 "WorkflowTask list cannot be empty".

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// A workflow whose only task is a START_WORKFLOW given `${workflow.input.startWorkflow}`.
fn starter() -> Value {
    json!({"name": "sw_starter", "version": 1, "tasks": [
        {"name": "start_other", "taskReferenceName": "start_other", "type": "START_WORKFLOW",
         "inputParameters": {"startWorkflow": "${workflow.input.startWorkflow}"}},
    ]})
}

/// Two worker tasks, the second fed by the first's output.
fn two_tasks(name: &str) -> Value {
    json!({"name": name, "version": 1, "tasks": [
        {"name": "sw_first", "taskReferenceName": "first", "type": "SIMPLE",
         "inputParameters": {"a": "${workflow.input.a}", "me": "${CPEWF_TASK_ID}"}},
        {"name": "sw_second", "taskReferenceName": "second", "type": "SIMPLE",
         "inputParameters": {"from_first": "${first.output.op}"}},
    ]})
}

async fn start_with_correlation(s: &TestServer, name: &str, input: Value, corr: &str) -> String {
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": name, "input": input, "correlationId": corr}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await
}

/// Runs the starter with `start_request`; answers the id of the workflow it started.
async fn run_starter(s: &TestServer, start_request: Value, corr: &str) -> String {
    s.register_workflow(starter()).await;
    let id = start_with_correlation(
        s,
        "sw_starter",
        json!({"startWorkflow": start_request}),
        corr,
    )
    .await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(&w, &[("START_WORKFLOW", "COMPLETED")]);
    let started = w["tasks"][0]["outputData"]["workflowId"]
        .as_str()
        .unwrap_or_else(|| panic!("no workflowId in the task output: {w:#}"))
        .to_string();
    assert_ne!(started, id);
    started
}

#[tokio::test]
async fn start_workflow_by_name_and_version_with_input() {
    let s = TestServer::spawn().await;
    s.register_workflow(two_tasks("sw_target")).await;
    let request = json!({"name": "sw_target", "version": 1, "input": {"a": "value1"}});
    let started = run_starter(&s, request, "corr-by-name").await;

    let w = s.workflow(&started).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    assert_eq!(w["workflowName"], "sw_target");
    assert_eq!(w["correlationId"], "corr-by-name");
    assert_eq!(w["input"]["a"], "value1");
    expect_shape(&w, &[("sw_first", "SCHEDULED")]);
    assert_eq!(w["tasks"][0]["inputData"]["a"], "value1");
}

#[tokio::test]
async fn start_workflow_from_an_inline_definition() {
    let s = TestServer::spawn().await;
    // Not registered: the definition travels in the request.
    let request = json!({"name": "sw_inline", "workflowDef": two_tasks("sw_inline"),
                         "input": {"a": "inline"}});
    let started = run_starter(&s, request, "corr-inline").await;

    let w = s.workflow(&started).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    assert_eq!(w["correlationId"], "corr-inline");
    assert!(w["input"].is_object(), "{w:#}");
    expect_shape(&w, &[("sw_first", "SCHEDULED")]);
    let first = &w["tasks"][0];
    assert_eq!(first["inputData"]["me"], first["taskId"], "{first:#}");

    // The started workflow runs to its end like any other.
    let t = s.poll_one("sw_first").await;
    assert_eq!(t["workflowInstanceId"], started.as_str());
    s.complete(&t, json!({"op": "done"})).await;
    let t = s.poll_one("sw_second").await;
    assert_eq!(t["inputData"]["from_first"], "done");
    s.complete(&t, json!({})).await;
    s.wait_for_status(&started, "COMPLETED", WAIT).await;
}

#[tokio::test]
async fn start_workflow_input_that_is_not_a_start_request_fails_the_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(starter()).await;
    // The request sits under another key: `startWorkflow` is missing.
    let input = json!({"start_workflow": {"param1": "value1", "param2": "value2"}});
    let resp = s
        .post_json("/workflow", &json!({"name": "sw_starter", "input": input}))
        .await;
    let id = expect_status(resp, StatusCode::OK).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(&w, &[("START_WORKFLOW", "FAILED")]);
    let reason = w["tasks"][0]["reasonForIncompletion"]
        .as_str()
        .unwrap_or("");
    assert!(!reason.is_empty(), "{w:#}");

    // A request without a name (and without a definition) fails the same way.
    let input = json!({"startWorkflow": {"param1": "value1"}});
    let resp = s
        .post_json("/workflow", &json!({"name": "sw_starter", "input": input}))
        .await;
    let id = expect_status(resp, StatusCode::OK).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(&w, &[("START_WORKFLOW", "FAILED")]);
    assert!(w["tasks"][0]["reasonForIncompletion"].is_string(), "{w:#}");
}

#[tokio::test]
async fn a_wait_task_completed_by_an_update_lets_the_workflow_go_on() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "wt_wf", "version": 1, "tasks": [
        {"name": "hold", "taskReferenceName": "hold", "type": "WAIT"},
        {"name": "wt_after", "taskReferenceName": "wt_after", "type": "SIMPLE"},
    ]}))
    .await;
    let id = s.start("wt_wf", json!({})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("WAIT", "IN_PROGRESS")]);

    // The task result an SDK sends for the WAIT task, by task id.
    let resp = s
        .update(&json!({
            "taskId": w["tasks"][0]["taskId"],
            "workflowInstanceId": id,
            "status": "COMPLETED",
            "outputData": {},
        }))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("WAIT", "COMPLETED"), ("wt_after", "SCHEDULED")]);

    let t = s.poll_one("wt_after").await;
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(&w, &[("WAIT", "COMPLETED"), ("wt_after", "COMPLETED")]);
}

#[tokio::test]
async fn an_event_task_publishes_and_the_workflow_goes_on() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "ev_wf", "version": 1, "tasks": [
        {"name": "announce", "taskReferenceName": "announce", "type": "EVENT",
         "sink": "conductor", "inputParameters": {"what": "${workflow.input.what}"}},
        {"name": "ev_after", "taskReferenceName": "ev_after", "type": "SIMPLE"},
    ]}))
    .await;
    let id = s.start("ev_wf", json!({"what": "hello"})).await;
    let w = s
        .wait_for(&id, "the event published", WAIT, |w| {
            w["tasks"][0]["status"] == "COMPLETED"
        })
        .await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("EVENT", "COMPLETED"), ("ev_after", "SCHEDULED")]);
    let produced = w["tasks"][0]["outputData"]["event_produced"]
        .as_str()
        .unwrap_or_default();
    assert!(produced.starts_with("conductor:"), "{w:#}");

    let t = s.poll_one("ev_after").await;
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(&w, &[("EVENT", "COMPLETED"), ("ev_after", "COMPLETED")]);
}

#[tokio::test]
async fn an_inline_definition_without_tasks_is_refused() {
    let s = TestServer::spawn().await;
    for def in [
        json!({"name": "empty_wf", "schemaVersion": 2}),
        json!({"name": "empty_wf", "schemaVersion": 2, "tasks": []}),
    ] {
        let resp = s
            .post_json(
                "/workflow",
                &json!({"name": "empty_wf", "workflowDef": def, "correlationId": "empty"}),
            )
            .await;
        expect_error(
            resp,
            StatusCode::BAD_REQUEST,
            &["WorkflowTask list cannot be empty"],
        )
        .await;
    }
    // Registering one is refused alike.
    let resp = s
        .post_json(
            "/metadata/workflow",
            &json!({"name": "empty_wf", "tasks": []}),
        )
        .await;
    expect_error(
        resp,
        StatusCode::BAD_REQUEST,
        &["WorkflowTask list cannot be empty"],
    )
    .await;
}
