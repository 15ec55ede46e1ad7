//! Task signals, the synchronous update by reference, and the synchronous execute's
//! `returnStrategy` and `consistency`.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn waits(name: &str, refs: &[&str]) -> Value {
    let tasks: Vec<Value> = refs
        .iter()
        .map(|r| json!({"name": r, "taskReferenceName": r, "type": "WAIT"}))
        .collect();
    json!({"name": name, "version": 1, "tasks": tasks,
           "outputParameters": {"last": format!("${{{}.output.ok}}", refs[refs.len() - 1])}})
}

#[tokio::test]
async fn signal_sync_ends_the_waiting_task_and_answers_the_next_blocker() {
    let s = TestServer::spawn().await;
    s.register_workflow(waits("sig_wf", &["w1", "w2"])).await;
    let id = s.start("sig_wf", json!({})).await;

    let resp = s
        .post_json(
            &format!("/tasks/{id}/COMPLETED/signal/sync?returnStrategy=BLOCKING_TASK"),
            &json!({"ok": 1}),
        )
        .await;
    let run = expect_json(resp, StatusCode::OK).await;
    assert_eq!(run["responseType"], "BLOCKING_TASK", "{run}");
    assert_eq!(run["targetWorkflowId"], id.as_str());
    assert_eq!(run["referenceTaskName"], "w2");
    assert_eq!(run["taskType"], "WAIT");

    // The default strategy answers the workflow; the fire-and-forget form answers nothing.
    let resp = s
        .post_json(&format!("/tasks/{id}/COMPLETED/signal"), &json!({"ok": 2}))
        .await;
    assert_eq!(expect_status(resp, StatusCode::OK).await, "");
    let w = s
        .wait_for_status(&id, "COMPLETED", std::time::Duration::from_secs(10))
        .await;
    assert_eq!(w["output"]["last"], 2);
    assert_eq!(tasks_by_ref(&w, "w1")[0]["outputData"]["ok"], 1);

    // Nothing left to signal: a no-op, as in Conductor; the sync form answers the state.
    let resp = s
        .post_json(&format!("/tasks/{id}/FAILED/signal"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let resp = s
        .post_json(&format!("/tasks/{id}/FAILED/signal/sync"), &json!({}))
        .await;
    let run = expect_json(resp, StatusCode::OK).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(s.workflow(&id).await["status"], "COMPLETED");
    let resp = s
        .post_json("/tasks/ghost-id/COMPLETED/signal", &json!({}))
        .await;
    expect_error(
        resp,
        StatusCode::NOT_FOUND,
        &["Workflow with id: ghost-id not found."],
    )
    .await;
    let resp = s
        .post_json(&format!("/tasks/{id}/DANCING/signal/sync"), &json!({}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["status", "DANCING"]).await;
}

#[tokio::test]
async fn signal_reaches_a_wait_inside_a_sub_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(waits("sig_child", &["cw"])).await;
    s.register_workflow(json!({"name": "sig_parent", "version": 1, "tasks": [
        {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
         "subWorkflowParam": {"name": "sig_child", "version": 1}}]}))
        .await;
    let id = s.start("sig_parent", json!({})).await;
    // Started through the system worker: wait until the child blocks.
    let resp = s
        .post_json(
            "/workflow/execute/sig_parent/1?returnStrategy=BLOCKING_WORKFLOW&waitForSeconds=10",
            &json!({}),
        )
        .await;
    let run = expect_json(resp, StatusCode::OK).await;
    assert_eq!(run["responseType"], "BLOCKING_WORKFLOW");
    assert!(run["workflowId"].as_str().is_some());
    assert_ne!(
        run["workflowId"], run["targetWorkflowId"],
        "the child blocks: {run}"
    );

    // Signal the first parent: its child's WAIT completes, then the parent.
    s.wait_for(
        &id,
        "child started",
        std::time::Duration::from_secs(10),
        |w| w["tasks"][0]["subWorkflowId"].is_string(),
    )
    .await;
    let child = s.workflow(&id).await["tasks"][0]["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    s.wait_for(
        &child,
        "child waits",
        std::time::Duration::from_secs(10),
        |w| w["tasks"][0]["status"] == "IN_PROGRESS",
    )
    .await;
    let resp = s
        .post_json(
            &format!("/tasks/{id}/COMPLETED/signal/sync?returnStrategy=TARGET_WORKFLOW_OUTPUT&timeoutMillis=10000"),
            &json!({"ok": "deep"}),
        )
        .await;
    let run = expect_json(resp, StatusCode::OK).await;
    assert_eq!(run["responseType"], "TARGET_WORKFLOW_OUTPUT");
    s.wait_for_status(&child, "COMPLETED", std::time::Duration::from_secs(10))
        .await;
    s.wait_for_status(&id, "COMPLETED", std::time::Duration::from_secs(10))
        .await;
    let resp = s
        .post_json(
            &format!("/tasks/{id}/COMPLETED/signal/sync?timeoutMillis=999999999"),
            &json!({}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["timeoutMillis"]).await;
}

#[tokio::test]
async fn update_by_reference_sync_answers_the_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "sync_wf", "version": 1, "tasks": [
        {"name": "h", "taskReferenceName": "h", "type": "HUMAN"},
        {"name": "sync_next", "taskReferenceName": "next", "type": "SIMPLE"}]}))
        .await;
    let id = s.start("sync_wf", json!({})).await;
    let resp = s
        .post_json(
            &format!("/tasks/{id}/h/COMPLETED/sync?workerid=ann"),
            &json!({"approved": true}),
        )
        .await;
    let w = expect_json(resp, StatusCode::OK).await;
    assert_eq!(w["workflowId"], id.as_str());
    let h = tasks_by_ref(&w, "h")[0];
    assert_eq!(h["status"], "COMPLETED");
    assert_eq!(h["outputData"]["approved"], true);
    assert_eq!(
        tasks_by_ref(&w, "next")[0]["status"],
        "SCHEDULED",
        "decided before answering"
    );

    let resp = s
        .post_json(&format!("/tasks/{id}/h/COMPLETED/sync"), &json!({}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["Found no running task h"]).await;
    let resp = s
        .post_json(&format!("/tasks/{id}/h/NOPE/sync"), &json!({}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["NOPE"]).await;
    let resp = s
        .post_raw(&format!("/tasks/{id}/next/COMPLETED/sync"), "{\"a\":")
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["JSON"]).await;
    let resp = s
        .post_json("/tasks/ghost-id/h/COMPLETED/sync", &json!({}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["ghost-id"]).await;
}

#[tokio::test]
async fn execute_shapes_its_answer_by_return_strategy() {
    let s = TestServer::spawn().await;
    s.register_workflow(waits("exec_wf", &["gate"])).await;
    let exec = |q: &'static str| {
        let s = &s;
        async move {
            s.post_json(
                &format!("/workflow/execute/exec_wf/1?{q}"),
                &json!({"input": {"n": 7}}),
            )
            .await
        }
    };
    let run = expect_json(exec("requestId=r-1").await, StatusCode::OK).await;
    assert_eq!(run["responseType"], "TARGET_WORKFLOW");
    assert_eq!(run["requestId"], "r-1");
    assert_eq!(run["status"], "RUNNING");

    let task = expect_json(
        exec("returnStrategy=BLOCKING_TASK_INPUT").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(task["responseType"], "BLOCKING_TASK_INPUT");
    assert_eq!(task["referenceTaskName"], "gate");
    assert!(task["taskId"].is_string());

    let out = expect_json(
        exec("returnStrategy=TARGET_WORKFLOW_OUTPUT&consistency=SYNCHRONOUS").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(out["input"]["n"], 7);
    assert!(out.get("tasks").is_none(), "output only: {out}");

    let before = s
        .get_json("/workflow/search?query=workflowType%3Dexec_wf")
        .await["totalHits"]
        .clone();
    expect_error(
        exec("returnStrategy=NOPE").await,
        StatusCode::BAD_REQUEST,
        &["returnStrategy", "NOPE"],
    )
    .await;
    expect_error(
        exec("consistency=EVENTUAL").await,
        StatusCode::BAD_REQUEST,
        &["consistency"],
    )
    .await;
    let after = s
        .get_json("/workflow/search?query=workflowType%3Dexec_wf")
        .await["totalHits"]
        .clone();
    assert_eq!(before, after, "a rejected execute starts nothing");
}
