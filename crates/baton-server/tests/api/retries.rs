//! §4.4 / §4.7: retries, backoff, terminal errors, optional tasks.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn fail_twice_then_complete() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "rt_t", "retryCount": 2, "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(simple_workflow("wf_rt", &["rt_t"]))
        .await;
    let id = s.start("wf_rt", json!({})).await;

    let a0 = s.poll_one("rt_t").await;
    s.fail(&a0, "boom 0").await;
    let a1 = s.poll_one("rt_t").await;
    s.fail(&a1, "boom 1").await;
    let a2 = s.poll_one("rt_t").await;
    s.complete(&a2, json!({"ok": true})).await;

    let w = s
        .wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
    let attempts = tasks_by_ref(&w, "rt_t_ref");
    assert_eq!(attempts.len(), 3, "{w}");
    let ids: Vec<&str> = attempts
        .iter()
        .map(|t| t["taskId"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], a0["taskId"]);
    assert_eq!(ids[1], a1["taskId"]);
    assert_eq!(ids[2], a2["taskId"]);
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    for (i, t) in attempts.iter().enumerate() {
        assert_eq!(t["retryCount"], i, "{t}");
    }
    assert!(attempts[0].get("retriedTaskId").is_none_or(Value::is_null));
    assert_eq!(attempts[1]["retriedTaskId"], ids[0]);
    assert_eq!(attempts[2]["retriedTaskId"], ids[1]);
    assert_eq!(attempts[0]["retried"], true);
    assert_eq!(attempts[1]["retried"], true);
    assert_ne!(attempts[2]["retried"], true);
    assert_eq!(attempts[0]["status"], "FAILED");
    assert_eq!(attempts[1]["status"], "FAILED");
    assert_eq!(attempts[2]["status"], "COMPLETED");
    assert_eq!(w["output"], json!({"ok": true}));
}

#[tokio::test]
async fn retries_exhausted_fails_workflow() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "rx_t", "retryCount": 1, "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(simple_workflow("wf_rx", &["rx_t", "rx_never"]))
        .await;
    let id = s.start("wf_rx", json!({})).await;
    let a0 = s.poll_one("rx_t").await;
    s.fail(&a0, "first failure").await;
    let a1 = s.poll_one("rx_t").await;
    s.fail(&a1, "disk on fire").await;

    let w = s
        .wait_for_status(&id, "FAILED", Duration::from_secs(5))
        .await;
    let reason = w["reasonForIncompletion"].as_str().unwrap_or_default();
    assert!(reason.contains("disk on fire"), "{w}");
    assert!(reason.contains(a1["taskId"].as_str().unwrap()), "{w}");
    let failed_refs = w["failedReferenceTaskNames"].as_array().unwrap();
    assert!(failed_refs.contains(&json!("rx_t_ref")), "{w}");
    assert_eq!(tasks_by_ref(&w, "rx_t_ref").len(), 2);
    assert!(tasks_by_ref(&w, "rx_never_ref").is_empty(), "{w}");
    assert!(s.poll_batch("rx_t", 5, 0).await.is_empty());
}

#[tokio::test]
async fn terminal_error_is_not_retried() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "te_t", "retryCount": 3, "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(simple_workflow("wf_te", &["te_t"]))
        .await;
    let id = s.start("wf_te", json!({})).await;
    let a0 = s.poll_one("te_t").await;
    s.fail_with(&a0, "FAILED_WITH_TERMINAL_ERROR", "bad input")
        .await;
    let w = s
        .wait_for_status(&id, "FAILED", Duration::from_secs(5))
        .await;
    let attempts = tasks_by_ref(&w, "te_t_ref");
    assert_eq!(attempts.len(), 1, "{w}");
    assert_eq!(attempts[0]["status"], "FAILED_WITH_TERMINAL_ERROR");
    assert!(w["reasonForIncompletion"]
        .as_str()
        .unwrap_or_default()
        .contains("bad input"));
    assert!(s.poll_batch("te_t", 5, 0).await.is_empty());
}

/// Fails three attempts in a row (the later ones while still SCHEDULED: Conductor has no
/// ownership check) and returns the `startDelayInSeconds` of each new attempt.
async fn backoff_delays(logic: &str) -> Vec<(i64, i64)> {
    let s = TestServer::spawn().await;
    let task = format!("bo_{}", logic.to_lowercase());
    s.register_task_def(json!({
        "name": task, "retryCount": 3, "retryDelaySeconds": 10,
        "backoffScaleFactor": 2, "retryLogic": logic
    }))
    .await;
    let wf = format!("wf_{task}");
    s.register_workflow(simple_workflow(&wf, &[&task])).await;
    let id = s.start(&wf, json!({})).await;
    let first = s.poll_one(&task).await;
    let mut current = first["taskId"].as_str().unwrap().to_string();
    let mut delays = Vec::new();
    for n in 0..3 {
        let resp = s
            .update(&json!({
                "taskId": current, "workflowInstanceId": id,
                "status": "FAILED", "reasonForIncompletion": format!("fail {n}")
            }))
            .await;
        expect_status(resp, StatusCode::OK).await;
        let w = s.workflow(&id).await;
        let attempts = tasks_by_ref(&w, &format!("{task}_ref"));
        assert_eq!(attempts.len(), n + 2, "{w}");
        let next = attempts[n + 1];
        assert_eq!(next["status"], "SCHEDULED", "{next}");
        assert_eq!(next["retriedTaskId"], current.as_str(), "{next}");
        delays.push((
            next["startDelayInSeconds"].as_i64().unwrap_or(-1),
            next["callbackAfterSeconds"].as_i64().unwrap_or(-1),
        ));
        // not pollable right away
        let got = s.poll_batch(&task, 5, 0).await;
        assert!(
            got.is_empty(),
            "{logic}: retry was pollable immediately: {got:?}"
        );
        current = next["taskId"].as_str().unwrap().to_string();
    }
    delays
}

#[tokio::test]
async fn exponential_backoff_delays() {
    assert_eq!(
        backoff_delays("EXPONENTIAL_BACKOFF").await,
        vec![(10, 10), (20, 20), (40, 40)]
    );
}

#[tokio::test]
async fn linear_backoff_delays() {
    assert_eq!(
        backoff_delays("LINEAR_BACKOFF").await,
        vec![(20, 20), (40, 40), (60, 60)]
    );
}

#[tokio::test]
async fn fixed_delays() {
    assert_eq!(
        backoff_delays("FIXED").await,
        vec![(10, 10), (10, 10), (10, 10)]
    );
}

#[tokio::test]
async fn optional_task_failure_completes_with_errors() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "opt_t", "retryCount": 0}))
        .await;
    let mut def = simple_workflow("wf_opt", &["opt_t", "after_t"]);
    def["tasks"][0]["optional"] = json!(true);
    s.register_workflow(def).await;
    let id = s.start("wf_opt", json!({})).await;
    let t = s.poll_one("opt_t").await;
    s.fail(&t, "optional broke").await;
    let next = s.poll_one("after_t").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    let opt = tasks_by_ref(&w, "opt_t_ref");
    assert_eq!(opt.len(), 1, "{w}");
    assert_eq!(opt[0]["status"], "COMPLETED_WITH_ERRORS", "{w}");
    s.complete(&next, json!({"fine": 1})).await;
    s.wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
}
