//! decide, resetcallbacks, remove with and without archiving, terminate-remove, requeue.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn decide_answers_for_known_workflows_only() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("decide_wf", &["dec_t"]))
        .await;
    let id = s.start("decide_wf", json!({})).await;
    let resp = s
        .client
        .put(s.url(&format!("/workflow/decide/{id}")))
        .send()
        .await
        .unwrap();
    expect_status(resp, StatusCode::OK).await;
    // Deciding changes nothing that was already decided.
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["tasks"].as_array().map(Vec::len), Some(1));
    let resp = s
        .client
        .put(s.url("/workflow/decide/ghost-id"))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, &["ghost-id"]).await;
}

#[tokio::test]
async fn reset_callbacks_makes_a_delayed_task_pollable_now() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("cb_wf", &["cb_task"]))
        .await;
    let id = s.start("cb_wf", json!({})).await;
    let t = s.poll_one("cb_task").await;
    // The worker asks to be called back in an hour.
    let resp = s
        .update(&json!({
            "taskId": t["taskId"], "workflowInstanceId": id, "status": "IN_PROGRESS",
            "callbackAfterSeconds": 3600,
        }))
        .await;
    expect_status(resp, StatusCode::OK).await;
    assert!(
        s.poll_batch("cb_task", 1, 0).await.is_empty(),
        "not due for an hour"
    );

    let resp = s
        .post_json(&format!("/workflow/{id}/resetcallbacks"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let again = s.poll_one("cb_task").await;
    assert_eq!(again["taskId"], t["taskId"]);

    let resp = s
        .post_json("/workflow/ghost-id/resetcallbacks", &json!({}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["ghost-id"]).await;
    expect_status(s.delete(&format!("/workflow/{id}")).await, StatusCode::OK).await;
    let resp = s
        .post_json(&format!("/workflow/{id}/resetcallbacks"), &json!({}))
        .await;
    expect_error(resp, StatusCode::CONFLICT, &["terminal"]).await;
}

#[tokio::test]
async fn remove_keeps_the_audit_trail_only_when_archiving() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("rm_wf", &["rm_t"]))
        .await;
    let kept = s.start("rm_wf", json!({})).await;
    let gone = s.start("rm_wf", json!({})).await;
    for id in [&kept, &gone] {
        expect_status(s.delete(&format!("/workflow/{id}")).await, StatusCode::OK).await;
    }
    expect_status(
        s.delete(&format!("/workflow/{kept}/remove")).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        s.delete(&format!("/workflow/{gone}/remove?archiveWorkflow=false"))
            .await,
        StatusCode::OK,
    )
    .await;
    for id in [&kept, &gone] {
        let resp = s.get(&format!("/workflow/{id}")).await;
        expect_error(resp, StatusCode::NOT_FOUND, &[id.as_str()]).await;
    }
    assert!(
        !s.history(&kept).await.is_empty(),
        "archived: the trail stays"
    );
    assert!(
        s.history(&gone).await.is_empty(),
        "not archived: the trail goes"
    );

    let resp = s.delete("/workflow/ghost-id/remove").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["ghost-id"]).await;
    let resp = s
        .delete(&format!("/workflow/{kept}/remove?archiveWorkflow=perhaps"))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["archiveWorkflow"]).await;
}

#[tokio::test]
async fn terminate_remove_ends_and_deletes_in_one_call() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("trm_wf", &["trm_t"]))
        .await;
    let id = s.start("trm_wf", json!({})).await;
    let resp = s
        .delete(&format!("/workflow/{id}/terminate-remove?reason=cleanup"))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let resp = s.get(&format!("/workflow/{id}")).await;
    expect_error(resp, StatusCode::NOT_FOUND, &[id.as_str()]).await;
    let trail = s.history(&id).await;
    assert!(
        trail.iter().any(|e| e.to_string().contains("TERMINATED")),
        "terminated before removal: {trail:?}"
    );
    // Its task is gone from the queue with it.
    assert!(s.poll_batch("trm_t", 1, 0).await.is_empty());
    let resp = s.delete("/workflow/ghost-id/terminate-remove").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["ghost-id"]).await;
}

#[tokio::test]
async fn requeue_repushes_scheduled_tasks_without_duplicating_them() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("rq_wf", &["rq_task"]))
        .await;
    s.start("rq_wf", json!({})).await;
    s.start("rq_wf", json!({})).await;
    let resp = s
        .post_json("/tasks/queue/requeue/rq_task", &json!({}))
        .await;
    assert!(content_type(&resp).starts_with("text/plain"));
    assert_eq!(expect_status(resp, StatusCode::OK).await, "2");
    let sizes = s.get_json("/tasks/queue/sizes?taskType=rq_task").await;
    assert_eq!(sizes["rq_task"], 2, "still one entry per task: {sizes}");
    let got = s.poll_batch("rq_task", 5, 500).await;
    assert_eq!(got.len(), 2);
    let resp = s
        .post_json("/tasks/queue/requeue/rq_task", &json!({}))
        .await;
    assert_eq!(
        expect_status(resp, StatusCode::OK).await,
        "0",
        "none scheduled now"
    );
}
