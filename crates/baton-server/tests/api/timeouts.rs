//! §4.5 / §4.6 / §4.8: response, task, poll and workflow timeouts; callbackAfterSeconds.
//!
//! Each test runs on a manual clock: it moves time to just before a deadline and shows
//! nothing happened, then just past it and shows what did. No test sleeps.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

async fn manual() -> TestServer {
    TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await
}

#[tokio::test]
async fn response_timeout_creates_new_attempt_and_late_update_is_ignored() {
    let s = manual().await;
    s.register_task_def(json!({
        "name": "rto_t", "responseTimeoutSeconds": 10, "retryCount": 1, "retryDelaySeconds": 0
    }))
    .await;
    s.register_workflow(simple_workflow("wf_rto", &["rto_t"]))
        .await;
    let id = s.start("wf_rto", json!({})).await;
    let first = s.poll_one("rto_t").await;
    assert_eq!(first["responseTimeoutSeconds"], 10);

    s.advance(secs(9)).await;
    let w = s.workflow(&id).await;
    let attempts = tasks_by_ref(&w, "rto_t_ref");
    assert_eq!(
        attempts.len(),
        1,
        "nothing times out before the deadline: {w}"
    );
    assert_eq!(attempts[0]["status"], "IN_PROGRESS", "{w}");

    assert!(s.advance(secs(2)).await >= 1, "the workflow was due");
    let w = s.workflow(&id).await;
    let attempts = tasks_by_ref(&w, "rto_t_ref");
    assert_eq!(attempts.len(), 2, "{w}");
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
    let s = manual().await;
    s.register_task_def(json!({
        "name": "hb_t", "responseTimeoutSeconds": 10, "retryCount": 1, "retryDelaySeconds": 0
    }))
    .await;
    s.register_workflow(simple_workflow("wf_hb", &["hb_t"]))
        .await;
    let id = s.start("wf_hb", json!({})).await;
    let t = s.poll_one("hb_t").await;
    for _ in 0..5 {
        s.advance(secs(6)).await;
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
    // 30 s after the poll, three response timeouts' worth, the attempt is still running
    s.advance(secs(6)).await;
    let w = s.workflow(&id).await;
    let attempts = tasks_by_ref(&w, "hb_t_ref");
    assert_eq!(attempts.len(), 1, "{w}");
    assert_eq!(attempts[0]["status"], "IN_PROGRESS", "{w}");
    assert!(s.poll_batch("hb_t", 1, 0).await.is_empty());

    // once the heartbeats stop, the lease ends 10 s after the last one
    s.advance(secs(5)).await;
    let w = s.workflow(&id).await;
    let attempts = tasks_by_ref(&w, "hb_t_ref");
    assert_eq!(attempts[0]["status"], "TIMED_OUT", "{w}");
    assert_eq!(attempts.len(), 2, "{w}");
}

#[tokio::test]
async fn task_timeout_time_out_wf() {
    let s = manual().await;
    s.register_task_def(json!({
        "name": "tto_t", "timeoutSeconds": 20, "responseTimeoutSeconds": 20,
        "timeoutPolicy": "TIME_OUT_WF", "retryCount": 0
    }))
    .await;
    s.register_workflow(simple_workflow("wf_tto", &["tto_t"]))
        .await;
    let id = s.start("wf_tto", json!({})).await;
    let t = s.poll_one("tto_t").await;
    s.advance(secs(15)).await;
    // a heartbeat extends the response timeout, never the task's total timeout
    let resp = s
        .update(&json!({
            "taskId": t["taskId"], "workflowInstanceId": id,
            "status": "IN_PROGRESS", "extendLease": true
        }))
        .await;
    expect_status(resp, StatusCode::OK).await;
    s.advance(secs(4)).await;
    assert_eq!(s.workflow(&id).await["status"], "RUNNING");
    s.advance(secs(2)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "TIMED_OUT", "{w}");
    assert_eq!(w["tasks"][0]["status"], "TIMED_OUT", "{w}");
    assert!(s.poll_batch("tto_t", 5, 0).await.is_empty());
}

#[tokio::test]
async fn poll_timeout_without_any_poll() {
    let s = manual().await;
    s.register_task_def(json!({
        "name": "pto_t", "pollTimeoutSeconds": 10, "timeoutPolicy": "TIME_OUT_WF",
        "retryCount": 0
    }))
    .await;
    s.register_workflow(simple_workflow("wf_pto", &["pto_t"]))
        .await;
    let id = s.start("wf_pto", json!({})).await;
    s.advance(secs(9)).await;
    assert_eq!(s.workflow(&id).await["status"], "RUNNING");
    s.advance(secs(2)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "TIMED_OUT", "{w}");
    let t = &w["tasks"][0];
    assert_eq!(t["status"], "TIMED_OUT", "{w}");
    assert_eq!(t["pollCount"], 0, "{w}");
    assert!(s.poll_batch("pto_t", 5, 0).await.is_empty());
}

#[tokio::test]
async fn callback_after_seconds_defers_redelivery() {
    let s = manual().await;
    s.register_workflow(simple_workflow("wf_cb", &["cb_t"]))
        .await;
    let id = s.start("wf_cb", json!({})).await;
    let t = s.poll_one("cb_t").await;
    let resp = s
        .update(&json!({
            "taskId": t["taskId"], "workflowInstanceId": id, "status": "IN_PROGRESS",
            "callbackAfterSeconds": 30, "outputData": {"progress": 50}
        }))
        .await;
    expect_status(resp, StatusCode::OK).await;
    s.advance(secs(29)).await;
    assert!(
        s.poll_batch("cb_t", 1, 0).await.is_empty(),
        "task must not be pollable before callbackAfterSeconds"
    );
    s.advance(secs(2)).await;
    let again = s.poll_one("cb_t").await;
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
    let s = manual().await;
    let mut def = simple_workflow("wf_wto", &["wto_t"]);
    def["timeoutSeconds"] = json!(60);
    def["timeoutPolicy"] = json!("TIME_OUT_WF");
    s.register_workflow(def).await;
    let id = s.start("wf_wto", json!({})).await;
    s.advance(secs(59)).await;
    assert_eq!(s.workflow(&id).await["status"], "RUNNING");
    s.advance(secs(2)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "TIMED_OUT", "{w}");
    let reason = w["reasonForIncompletion"].as_str().unwrap_or_default();
    assert!(reason.contains("timed out"), "{w}");
    assert_eq!(w["tasks"][0]["status"], "CANCELED", "{w}");
}

#[tokio::test]
async fn workflow_timeout_alert_only_keeps_running() {
    let s = manual().await;
    let mut def = simple_workflow("wf_wal", &["wal_t"]);
    def["timeoutSeconds"] = json!(60);
    s.register_workflow(def).await;
    let id = s.start("wf_wal", json!({})).await;
    // The workflow wakes at its timeout and is decided: ALERT_ONLY keeps it running.
    assert_eq!(s.advance(secs(61)).await, 1, "the timeout was evaluated");
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w}");
    let t = s.poll_one("wal_t").await;
    s.complete(&t, json!({})).await;
    s.wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
}
