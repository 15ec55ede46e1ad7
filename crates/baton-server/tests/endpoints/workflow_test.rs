//! `POST /api/workflow/test`: a definition run with mocked task outputs, no workers.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn mocks_drive_retries_and_switch_branches() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "mt_a", "retryCount": 1, "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(json!({"name": "mock_wf", "version": 1, "tasks": [
        {"name": "mt_a", "taskReferenceName": "a", "type": "SIMPLE"},
        {"name": "route", "taskReferenceName": "route", "type": "SWITCH",
         "evaluatorType": "value-param", "expression": "r",
         "inputParameters": {"r": "${a.output.route}"},
         "decisionCases": {"x": [{"name": "mt_b", "taskReferenceName": "b", "type": "SIMPLE"}]},
         "defaultCase": [{"name": "mt_c", "taskReferenceName": "c", "type": "SIMPLE"}]}],
        "outputParameters": {"v": "${b.output.v}"}}))
        .await;
    let resp = s
        .post_json("/workflow/test", &json!({
            "name": "mock_wf", "version": 1, "input": {"k": 1},
            "taskRefToMockOutput": {
                "a": [{"status": "FAILED", "output": {}}, {"status": "COMPLETED", "output": {"route": "x"}}],
                "b": [{"status": "COMPLETED", "output": {"v": 42}}]
            }
        }))
        .await;
    let w = expect_json(resp, StatusCode::OK).await;
    assert_eq!(w["status"], "COMPLETED", "{w}");
    assert_eq!(w["output"]["v"], 42);
    let a = tasks_by_ref(&w, "a");
    assert_eq!(
        a.len(),
        2,
        "a failed once, then its retry took the second mock"
    );
    assert_eq!(a[0]["status"], "FAILED");
    assert_eq!(a[1]["status"], "COMPLETED");
    assert!(
        tasks_by_ref(&w, "c").is_empty(),
        "the default branch never ran"
    );
}

#[tokio::test]
async fn an_unmocked_task_stops_the_run_and_no_worker_sees_it() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("mock_stop", &["ms_a", "ms_b"]))
        .await;
    let resp = s
        .post_json(
            "/workflow/test",
            &json!({
                "name": "mock_stop",
                "taskRefToMockOutput": {"ms_a_ref": [{"status": "COMPLETED", "output": {"x": 1}}]}
            }),
        )
        .await;
    let w = expect_json(resp, StatusCode::OK).await;
    assert_eq!(w["status"], "RUNNING", "{w}");
    assert_eq!(tasks_by_ref(&w, "ms_a_ref")[0]["status"], "COMPLETED");
    assert_eq!(tasks_by_ref(&w, "ms_b_ref")[0]["status"], "SCHEDULED");
    // The test execution's tasks live in a domain of their own.
    assert!(
        s.poll_batch("ms_b", 1, 0).await.is_empty(),
        "a worker must not get a test task"
    );
}

#[tokio::test]
async fn sub_workflows_take_their_own_mocks() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("mock_child", &["mc_k"]))
        .await;
    s.register_workflow(json!({"name": "mock_parent", "version": 1, "tasks": [
        {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
         "subWorkflowParam": {"name": "mock_child", "version": 1}}],
        "outputParameters": {"k": "${sub.output.k}"}}))
        .await;
    let resp = s
        .post_json("/workflow/test", &json!({
            "name": "mock_parent",
            "subWorkflowTestRequest": {"sub": {"name": "mock_child",
                "taskRefToMockOutput": {"mc_k_ref": [{"status": "COMPLETED", "output": {"k": "v"}}]}}}
        }))
        .await;
    let w = expect_json(resp, StatusCode::OK).await;
    assert_eq!(w["status"], "COMPLETED", "{w}");
    assert_eq!(w["output"]["k"], "v");
}

#[tokio::test]
async fn bad_test_requests_are_rejected() {
    let s = TestServer::spawn().await;
    let resp = s
        .post_json("/workflow/test", &json!({"name": "ghost_wf"}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["ghost_wf"]).await;
    let resp = s
        .post_json(
            "/workflow/test",
            &json!({"name": "x", "taskRefToMockOutput": {"a": [{"status": "NAPPING"}]}}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["NAPPING"]).await;
    let resp = s.post_raw("/workflow/test", "{").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["JSON"]).await;
}
