//! `/api/admin/*`, the event-queue admin routes, verbose queues, environment and secrets.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

/// Every limit the server holds is listed with the value it runs with.
#[tokio::test]
async fn admin_config_lists_the_limits_in_effect() {
    let runtime = baton_runtime::RuntimeConfig {
        max_tasks_per_workflow: 1234,
        max_bulk_ids: 17,
        search_count_limit: 4321,
        state_cache_workflows: 99,
        state_cache_bytes: 5 << 20,
        state_cache_idle: std::time::Duration::from_secs(42),
        sweep_claim: std::time::Duration::from_secs(7),
        ..Default::default()
    };
    let s = TestServer::with_runtime_config(runtime).await;
    let cfg = s.get_json("/admin/config").await;
    for (key, want) in [
        ("maxTasksPerWorkflow", 1234),
        ("maxBulkIds", 17),
        ("searchCountLimit", 4321),
        ("stateCacheWorkflows", 99),
        ("stateCacheBytes", 5 << 20),
        ("stateCacheIdleMs", 42_000),
        ("sweepClaimMs", 7000),
    ] {
        assert_eq!(cfg[key].as_u64(), Some(want), "{key} in {cfg}");
    }
    for key in [
        "maxTaskOutputBytes",
        "maxJsonDepth",
        "metricsMaxLabelValues",
        "eventStreamBuffer",
        "maxCorrelatedExecutions",
        "searchByTasksScanLimit",
        "maxRequeueTasks",
    ] {
        assert!(cfg[key].as_u64().is_some_and(|n| n > 0), "{key} in {cfg}");
    }
}

#[tokio::test]
async fn admin_routes() {
    let s = TestServer::spawn().await;
    let cfg = s.get_json("/admin/config").await;
    assert!(cfg["maxPollCount"].as_u64().is_some_and(|n| n > 0), "{cfg}");
    assert!(cfg["maxBodyBytes"].as_u64().is_some(), "{cfg}");

    s.register_workflow(simple_workflow("adm_wf", &["adm_t"]))
        .await;
    let id = s.start("adm_wf", json!({})).await;
    let pending = as_array(s.get_json("/admin/task/adm_t").await);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["workflowInstanceId"], id.as_str());
    assert_eq!(
        as_array(s.get_json("/admin/task/adm_t?start=1").await).len(),
        0
    );
    let resp = s.get("/admin/task/adm_t?count=0").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["count"]).await;

    let resp = s
        .post_json(&format!("/admin/sweep/requeue/{id}"), &json!({}))
        .await;
    assert_eq!(
        expect_status(resp, StatusCode::OK).await,
        format!("true.{id}")
    );
    let resp = s
        .post_json(
            &format!("/admin/consistency/verifyAndRepair/{id}"),
            &json!({}),
        )
        .await;
    assert_eq!(expect_status(resp, StatusCode::OK).await, "true");
    for path in [
        "/admin/sweep/requeue/ghost-id",
        "/admin/consistency/verifyAndRepair/ghost-id",
    ] {
        let resp = s.post_json(path, &json!({})).await;
        expect_error(resp, StatusCode::NOT_FOUND, &["ghost-id"]).await;
    }
    assert_eq!(s.get_json("/admin/queues?verbose=true").await, json!({}));

    let verbose = s.get_json("/tasks/queue/all/verbose").await;
    assert_eq!(
        verbose["adm_t"],
        json!({"a": {"size": 1, "uacked": 0}}),
        "{verbose}"
    );
}

#[tokio::test]
async fn event_queue_admin_updates_tasks() {
    let s = TestServer::spawn().await;
    assert_eq!(s.get_json("/queue/size").await, json!({}));
    assert_eq!(s.get_json("/queue/").await, json!({}));
    s.register_workflow(json!({"name": "qa_wf", "version": 1, "tasks": [
        {"name": "h", "taskReferenceName": "h", "type": "HUMAN"},
        {"name": "qa_t", "taskReferenceName": "t", "type": "SIMPLE"}]}))
        .await;
    let id = s.start("qa_wf", json!({})).await;
    let resp = s
        .post_json(
            &format!("/queue/update/{id}/h/COMPLETED"),
            &json!({"by": "ref"}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(tasks_by_ref(&w, "h")[0]["outputData"]["by"], "ref");
    let t = tasks_by_ref(&w, "t")[0]["taskId"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = s
        .post_json(
            &format!("/queue/update/{id}/task/{t}/COMPLETED"),
            &json!({"by": "id"}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s
        .wait_for_status(&id, "COMPLETED", std::time::Duration::from_secs(10))
        .await;
    assert_eq!(tasks_by_ref(&w, "t")[0]["outputData"]["by"], "id");

    let resp = s
        .post_json(&format!("/queue/update/{id}/h/COMPLETED"), &json!({}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["h"]).await;
    let resp = s
        .post_json(
            &format!("/queue/update/{id}/task/nope/COMPLETED"),
            &json!({}),
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["nope"]).await;
    let resp = s
        .post_json(&format!("/queue/update/{id}/h/SLEEPY"), &json!({}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["SLEEPY"]).await;
}

#[tokio::test]
async fn environment_and_secrets_are_empty() {
    let s = TestServer::spawn().await;
    assert_eq!(s.get_json("/environment").await, json!([]));
    assert_eq!(s.get_json("/secrets").await, json!([]));
    let resp = s.get("/environment/HOME").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["HOME"]).await;
}
