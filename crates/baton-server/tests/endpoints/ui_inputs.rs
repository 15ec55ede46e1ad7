//! What Conductor's UI sends and Jackson accepts: numbers as strings, `""` for an optional
//! number. Anything else is still a 400 naming the field.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn run_workflow_with_a_version_string() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("ui_wf", &["ui_t"]))
        .await;
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "ui_wf", "version": "1", "priority": "5", "input": {}}),
        )
        .await;
    let id = expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["workflowVersion"], 1);
    assert_eq!(w["priority"], 5);
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "ui_wf", "version": "", "input": {}}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let resp = s
        .post_json("/workflow", &json!({"name": "ui_wf", "version": "one"}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["version", "one"]).await;
    let resp = s
        .post_json("/workflow", &json!({"name": "ui_wf", "priority": true}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["priority"]).await;
}

#[tokio::test]
async fn save_schedule_with_blank_times_and_a_version_string() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("ui_sched_wf", &["ui_t"]))
        .await;
    let resp = s
        .post_json(
            "/scheduler/schedules",
            &json!({
                "name": "ui_sched", "cronExpression": "0 0 3 * * *",
                "scheduleStartTime": "", "scheduleEndTime": "",
                "startWorkflowRequest": {"name": "ui_sched_wf", "version": "1"}
            }),
        )
        .await;
    let saved = expect_json(resp, StatusCode::OK).await;
    assert!(saved.get("scheduleStartTime").is_none(), "{saved}");
    assert_eq!(saved["startWorkflowRequest"]["version"], 1);
    let resp = s
        .post_json(
            "/scheduler/schedules",
            &json!({
                "name": "ui_sched2", "cronExpression": "0 0 3 * * *",
                "scheduleStartTime": "1700000000000",
                "startWorkflowRequest": {"name": "ui_sched_wf"}
            }),
        )
        .await;
    let saved = expect_json(resp, StatusCode::OK).await;
    assert_eq!(saved["scheduleStartTime"], 1_700_000_000_000_i64);
    let resp = s
        .post_json(
            "/scheduler/schedules",
            &json!({
                "name": "ui_sched3", "cronExpression": "0 0 3 * * *",
                "scheduleEndTime": "soon",
                "startWorkflowRequest": {"name": "ui_sched_wf"}
            }),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["scheduleEndTime"]).await;
}
