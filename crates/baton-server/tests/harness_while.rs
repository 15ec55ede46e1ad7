//! Conductor's `WhileSpec` runs its loops with the WHILE operator, which Baton does not have
//! (it has DO_WHILE, whose cases `harness_do_while.rs` covers). A definition using WHILE is
//! refused at registration, and an inline one when started, instead of queueing the WHILE
//! task for a worker that never comes.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

fn with_while() -> serde_json::Value {
    json!({"name": "wl_wf", "version": 1, "tasks": [
        {"name": "loop", "taskReferenceName": "loop", "type": "WHILE",
         "loopCondition": "$.loop['iteration'] < $.value", "inputParameters": {"value": 2},
         "loopOver": [{"name": "wl_t", "taskReferenceName": "wl_t", "type": "SIMPLE"}]},
    ]})
}

#[tokio::test]
async fn a_while_loop_is_refused_not_left_for_a_worker() {
    let s = TestServer::spawn().await;
    let resp = s.post_json("/metadata/workflow", &with_while()).await;
    expect_error(
        resp,
        StatusCode::BAD_REQUEST,
        &["task type WHILE is not supported by Baton"],
    )
    .await;
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "wl_wf", "workflowDef": with_while(), "input": {}}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["WHILE"]).await;
    assert!(s.poll_batch("WHILE", 1, 0).await.is_empty());
}
