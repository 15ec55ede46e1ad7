//! Issue 9, defect 5: `Long.MAX_VALUE` durations mean "never" (clamped to the ten-year maximum,
//! stored as sent); negative counts and durations are a 400 naming the field that changes
//! nothing.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const JAVA_LONG_MAX: i64 = i64::MAX;

#[tokio::test]
async fn max_workflow_and_task_timeouts_keep_running_and_pollable() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({
        "name": "never_t", "timeoutSeconds": JAVA_LONG_MAX,
        "responseTimeoutSeconds": JAVA_LONG_MAX, "totalTimeoutSeconds": JAVA_LONG_MAX,
        "timeoutPolicy": "TIME_OUT_WF"
    }))
    .await;
    let mut def = simple_workflow("wf_never", &["never_t", "never_t2"]);
    def["timeoutSeconds"] = json!(JAVA_LONG_MAX);
    def["timeoutPolicy"] = json!("TIME_OUT_WF");
    s.register_workflow(def).await;
    // Stored as sent: the definition reads back unchanged.
    let stored = s.get_json("/metadata/workflow/wf_never").await;
    assert_eq!(stored["timeoutSeconds"], json!(JAVA_LONG_MAX), "{stored}");

    let id = s.start("wf_never", json!({})).await;
    let t = s.poll_one("never_t").await;
    // Give the sweeper a chance to act on any (wrongly) overdue timer.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w}");
    assert_eq!(w["tasks"][0]["status"], "IN_PROGRESS", "{w}");
    s.complete(&t, json!({})).await;
    let t2 = s.poll_one("never_t2").await;
    s.complete(&t2, json!({})).await;
    s.wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn callback_after_max_is_not_redelivered() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("wf_cbmax", &["cbmax_t"]))
        .await;
    let id = s.start("wf_cbmax", json!({})).await;
    let t = s.poll_one("cbmax_t").await;
    let resp = s
        .update(&json!({
            "taskId": t["taskId"], "workflowInstanceId": id, "status": "IN_PROGRESS",
            "callbackAfterSeconds": JAVA_LONG_MAX
        }))
        .await;
    expect_status(resp, StatusCode::OK).await;
    assert!(
        s.poll_batch("cbmax_t", 1, 300).await.is_empty(),
        "a callback 'never' must not be handed out again now"
    );
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w}");
    assert_eq!(w["tasks"][0]["status"], "SCHEDULED", "{w}");
    assert_eq!(w["tasks"][0]["pollCount"], 1, "{w}");
}

/// Everything a rejected request could have touched.
async fn snapshot(s: &TestServer, id: &str) -> Value {
    json!({
        "taskdefs": s.get_json("/metadata/taskdefs").await,
        "workflowdefs": s.get_json("/metadata/workflow").await,
        "queues": s.get_json("/tasks/queue/all").await,
        "workflow": s.workflow(id).await,
        "running": s.get_json("/workflow/running/wf_neg").await,
    })
}

#[tokio::test]
async fn negative_counts_and_durations_are_400_naming_the_field() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "neg_t"})).await;
    s.register_workflow(simple_workflow("wf_neg", &["neg_t"]))
        .await;
    let id = s.start("wf_neg", json!({})).await;
    let task = s.poll_one("neg_t").await;
    let before = snapshot(&s, &id).await;

    // Task definitions, on create (POST) and update (PUT).
    for field in [
        "retryCount",
        "timeoutSeconds",
        "retryDelaySeconds",
        "pollTimeoutSeconds",
        "totalTimeoutSeconds",
        "maxRetryDelaySeconds",
        "backoffJitterMs",
        "rateLimitPerFrequency",
        "concurrentExecLimit",
    ] {
        let mut def = json!({"name": "neg_t"});
        def[field] = json!(-1);
        let resp = s.post_json("/metadata/taskdefs", &json!([def])).await;
        expect_error(resp, StatusCode::BAD_REQUEST, &[field]).await;
        let resp = s.put_json("/metadata/taskdefs", &def).await;
        expect_error(resp, StatusCode::BAD_REQUEST, &[field]).await;
    }

    // Workflow definitions and their tasks, registered or inline in a start request.
    let wf_task = |extra: Value| {
        let mut t = json!({"name": "neg_t", "taskReferenceName": "r", "type": "SIMPLE"});
        if let (Some(t), Some(e)) = (t.as_object_mut(), extra.as_object()) {
            t.extend(e.clone());
        }
        t
    };
    let wf = |t: Value| json!({"name": "wf_neg", "version": 1, "schemaVersion": 2, "tasks": [t]});
    let mut wf_timeout = wf(wf_task(json!({})));
    wf_timeout["timeoutSeconds"] = json!(-1);
    let cases: Vec<(Value, &str)> = vec![
        (
            wf(wf_task(json!({"retryCount": -1}))),
            "tasks[0].retryCount",
        ),
        (
            wf(wf_task(json!({"startDelay": -5}))),
            "tasks[0].startDelay",
        ),
        (
            wf(wf_task(
                json!({"taskDefinition": {"name": "neg_t", "retryDelaySeconds": -1}}),
            )),
            "tasks[0].taskDefinition.retryDelaySeconds",
        ),
        (wf_timeout, "timeoutSeconds"),
    ];
    for (def, field) in &cases {
        let resp = s.post_json("/metadata/workflow", def).await;
        expect_error(resp, StatusCode::BAD_REQUEST, &[field]).await;
        let resp = s.put_json("/metadata/workflow", &json!([def])).await;
        expect_error(resp, StatusCode::BAD_REQUEST, &[field]).await;
        let resp = s
            .post_json(
                "/workflow",
                &json!({"name": "wf_neg", "workflowDef": def, "input": {}}),
            )
            .await;
        expect_error(resp, StatusCode::BAD_REQUEST, &[field]).await;
    }

    // A task result (the update is refused whole: no output change either).
    let resp = s
        .update(&json!({
            "taskId": task["taskId"], "workflowInstanceId": id, "status": "IN_PROGRESS",
            "callbackAfterSeconds": -1, "outputData": {"changed": true}
        }))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["callbackAfterSeconds"]).await;

    // A start request.
    let resp = s
        .post_json("/workflow", &json!({"name": "wf_neg", "priority": -1}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["priority"]).await;

    assert_eq!(snapshot(&s, &id).await, before);
    assert_eq!(before["workflow"]["tasks"][0]["taskId"], task["taskId"]);
    assert_eq!(before["workflow"]["tasks"][0]["status"], "IN_PROGRESS");
}

#[tokio::test]
async fn schedule_times_negative_are_400_and_max_means_never() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("wf_sched_dur", &["sched_t"]))
        .await;
    let body = |field: &str, t: i64| {
        let mut b = json!({
            "name": "sched_dur", "cronExpression": "* * * * * *",
            "startWorkflowRequest": {"name": "wf_sched_dur"},
        });
        b[field] = json!(t);
        b
    };
    for field in ["scheduleStartTime", "scheduleEndTime"] {
        let resp = s.post_json("/scheduler/schedules", &body(field, -1)).await;
        expect_error(resp, StatusCode::BAD_REQUEST, &[field]).await;
    }
    assert_eq!(s.get_json("/scheduler/schedules").await, json!([]));

    // A start time of Long.MAX_VALUE is accepted and never due (it used to hang the save while
    // every cron time since 1970 was skipped).
    let resp = s
        .post_json(
            "/scheduler/schedules",
            &body("scheduleStartTime", JAVA_LONG_MAX),
        )
        .await;
    let saved = expect_json(resp, StatusCode::OK).await;
    assert_eq!(saved["scheduleStartTime"], json!(JAVA_LONG_MAX), "{saved}");
    assert!(saved["nextRunTime"].is_null(), "{saved}");
}
