//! §4.5 / §4.6 / §4.8: response, task, poll and workflow timeouts; callbackAfterSeconds.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn response_timeout_creates_new_attempt_and_late_update_is_ignored() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({
        "name": "rto_t", "responseTimeoutSeconds": 1, "retryCount": 1, "retryDelaySeconds": 0
    }))
    .await;
    s.register_workflow(simple_workflow("wf_rto", &["rto_t"]))
        .await;
    let id = s.start("wf_rto", json!({})).await;
    let first = s.poll_one("rto_t").await;
    assert_eq!(first["responseTimeoutSeconds"], 1);

    let w = s
        .wait_for(&id, "response timeout retry", Duration::from_secs(5), |w| {
            tasks_by_ref(w, "rto_t_ref").len() >= 2
        })
        .await;
    let attempts = tasks_by_ref(&w, "rto_t_ref");
    assert_eq!(attempts[0]["taskId"], first["taskId"]);
    assert_eq!(attempts[0]["status"], "TIMED_OUT", "{w}");
    let reason = attempts[0]["reasonForIncompletion"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("responseTimeout"), "{w}");
    assert_eq!(attempts[1]["retriedTaskId"], first["taskId"]);
    assert_eq!(w["status"], "RUNNING");

    let second = s.poll_one("rto_t").await;
    assert_eq!(second["taskId"], attempts[1]["taskId"]);

    // the late update for the timed-out attempt is a 200 no-op
    let resp = s
        .update(&json!({
            "taskId": first["taskId"], "workflowInstanceId": id,
            "status": "COMPLETED", "outputData": {"late": true}
        }))
        .await;
    let body = expect_status(resp, StatusCode::OK).await;
    assert_eq!(body, first["taskId"].as_str().unwrap());
    let t = s
        .get_json(&format!("/tasks/{}", first["taskId"].as_str().unwrap()))
        .await;
    assert_eq!(t["status"], "TIMED_OUT", "{t}");
    assert!(t["outputData"].get("late").is_none(), "{t}");
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w}");
    let second_now = &tasks_by_ref(&w, "rto_t_ref")[1];
    assert_eq!(second_now["status"], "IN_PROGRESS");

    s.complete(&second, json!({})).await;
    s.wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn extend_lease_heartbeats_hold_off_the_response_timeout() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({
        "name": "hb_t", "responseTimeoutSeconds": 1, "retryCount": 1, "retryDelaySeconds": 0
    }))
    .await;
    s.register_workflow(simple_workflow("wf_hb", &["hb_t"]))
        .await;
    let id = s.start("wf_hb", json!({})).await;
    let t = s.poll_one("hb_t").await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let resp = s
            .update(&json!({
                "taskId": t["taskId"], "workflowInstanceId": id, "workerId": "test-worker",
                "status": "IN_PROGRESS", "extendLease": true
            }))
            .await;
        assert_eq!(
            expect_status(resp, StatusCode::OK).await,
            t["taskId"].as_str().unwrap()
        );
    }
    // 2 s after the poll, well past responseTimeoutSeconds, the attempt is still running
    let w = s.workflow(&id).await;
    let attempts = tasks_by_ref(&w, "hb_t_ref");
    assert_eq!(attempts.len(), 1, "{w}");
    assert_eq!(attempts[0]["status"], "IN_PROGRESS", "{w}");
    assert!(s.poll_batch("hb_t", 1, 0).await.is_empty());
    s.complete(&t, json!({"done": true})).await;
    s.wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn task_timeout_time_out_wf() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({
        "name": "tto_t", "timeoutSeconds": 1, "responseTimeoutSeconds": 1,
        "timeoutPolicy": "TIME_OUT_WF", "retryCount": 0
    }))
    .await;
    s.register_workflow(simple_workflow("wf_tto", &["tto_t"]))
        .await;
    let id = s.start("wf_tto", json!({})).await;
    let _t = s.poll_one("tto_t").await;
    let w = s
        .wait_for_status(&id, "TIMED_OUT", Duration::from_secs(5))
        .await;
    assert_eq!(w["tasks"][0]["status"], "TIMED_OUT", "{w}");
    assert!(s.poll_batch("tto_t", 5, 0).await.is_empty());
}

#[tokio::test]
async fn poll_timeout_without_any_poll() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({
        "name": "pto_t", "pollTimeoutSeconds": 1, "timeoutPolicy": "TIME_OUT_WF",
        "retryCount": 0
    }))
    .await;
    s.register_workflow(simple_workflow("wf_pto", &["pto_t"]))
        .await;
    let id = s.start("wf_pto", json!({})).await;
    let w = s
        .wait_for_status(&id, "TIMED_OUT", Duration::from_secs(5))
        .await;
    let t = &w["tasks"][0];
    assert_eq!(t["status"], "TIMED_OUT", "{w}");
    assert_eq!(t["pollCount"], 0, "{w}");
    assert!(s.poll_batch("pto_t", 5, 0).await.is_empty());
}

#[tokio::test]
async fn callback_after_seconds_defers_redelivery() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("wf_cb", &["cb_t"]))
        .await;
    let id = s.start("wf_cb", json!({})).await;
    let t = s.poll_one("cb_t").await;
    let resp = s
        .update(&json!({
            "taskId": t["taskId"], "workflowInstanceId": id, "status": "IN_PROGRESS",
            "callbackAfterSeconds": 1, "outputData": {"progress": 50}
        }))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let updated_at = Instant::now();
    assert!(
        s.poll_batch("cb_t", 1, 0).await.is_empty(),
        "task must not be pollable before callbackAfterSeconds"
    );
    let again = s.poll_one("cb_t").await;
    assert!(updated_at.elapsed() >= Duration::from_millis(500));
    assert_eq!(again["taskId"], t["taskId"]);
    assert_eq!(again["pollCount"], 2, "{again}");
    assert_eq!(again["status"], "IN_PROGRESS");
    assert_eq!(again["outputData"]["progress"], 50, "{again}");
    s.complete(&again, json!({"progress": 100})).await;
    s.wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn workflow_timeout_time_out_wf() {
    let s = TestServer::spawn().await;
    let mut def = simple_workflow("wf_wto", &["wto_t"]);
    def["timeoutSeconds"] = json!(1);
    def["timeoutPolicy"] = json!("TIME_OUT_WF");
    s.register_workflow(def).await;
    let id = s.start("wf_wto", json!({})).await;
    let w = s
        .wait_for_status(&id, "TIMED_OUT", Duration::from_secs(5))
        .await;
    let reason = w["reasonForIncompletion"].as_str().unwrap_or_default();
    assert!(!reason.is_empty(), "{w}");
    assert!(reason.contains("timed out"), "{w}");
    assert_eq!(w["tasks"][0]["status"], "CANCELED", "{w}");
}

#[tokio::test]
async fn workflow_timeout_alert_only_keeps_running() {
    let s = TestServer::spawn().await;
    let mut def = simple_workflow("wf_wal", &["wal_t"]);
    def["timeoutSeconds"] = json!(1);
    s.register_workflow(def).await;
    let id = s.start("wf_wal", json!({})).await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w}");
    let t = s.poll_one("wal_t").await;
    s.complete(&t, json!({})).await;
    s.wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
}
