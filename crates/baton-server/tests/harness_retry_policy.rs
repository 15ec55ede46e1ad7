//! The cases of Conductor's `RetryPolicySpec`, with the same expectations, written for Baton
//! with its own definitions: `maxRetryDelaySeconds` caps the backoff, `backoffJitterMs` adds
//! up to that many milliseconds to the delay (not to `callbackAfterSeconds`, which stays the
//! capped base delay), and `totalTimeoutSeconds` bounds the time all attempts of a task may
//! take. Conductor reads the jittered delay from its internal task model; Baton's is not on
//! the wire, so these tests read it from when the retry becomes pollable on a manual clock.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const TASK: &str = "rp_task";
const WF: &str = "rp_wf";

async fn server(task_def: Value) -> TestServer {
    let s = TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await;
    s.register_task_def(task_def).await;
    s.register_workflow(simple_workflow(WF, &[TASK])).await;
    s
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn fail(s: &TestServer, task: &Value) {
    s.fail(task, "failed by the test").await;
}

/// The last attempt of the task, which must be SCHEDULED.
async fn rescheduled(s: &TestServer, id: &str, attempts: usize) -> Value {
    let w = s.workflow(id).await;
    let all = tasks_by_ref(&w, &format!("{TASK}_ref"));
    assert_eq!(all.len(), attempts, "{w:#}");
    let last = all[attempts - 1].clone();
    assert_eq!(last["status"], "SCHEDULED", "{w:#}");
    last
}

/// Nothing pollable right now (a poll that does not wait).
async fn not_pollable(s: &TestServer) {
    let got = s.poll_batch(TASK, 1, 0).await;
    assert!(got.is_empty(), "the retry was pollable too early: {got:?}");
}

#[tokio::test]
async fn exponential_backoff_is_capped_by_max_retry_delay() {
    let s = server(json!({
        "name": TASK, "retryCount": 5, "retryDelaySeconds": 2,
        "retryLogic": "EXPONENTIAL_BACKOFF", "maxRetryDelaySeconds": 3,
        "timeoutSeconds": 3600, "responseTimeoutSeconds": 3600,
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    fail(&s, &s.poll_one(TASK).await).await;
    // retry 0: 2 s, below the cap
    assert_eq!(rescheduled(&s, &id, 2).await["callbackAfterSeconds"], 2);
    s.advance(secs(2)).await;
    fail(&s, &s.poll_one(TASK).await).await;
    // retry 1: 4 s, capped to 3 s
    assert_eq!(rescheduled(&s, &id, 3).await["callbackAfterSeconds"], 3);
    s.advance(ms(2_999)).await;
    not_pollable(&s).await;
    s.advance(ms(1)).await;
    s.poll_one(TASK).await;
}

#[tokio::test]
async fn linear_backoff_is_capped_by_max_retry_delay() {
    let s = server(json!({
        "name": TASK, "retryCount": 5, "retryDelaySeconds": 2,
        "retryLogic": "LINEAR_BACKOFF", "backoffScaleFactor": 2, "maxRetryDelaySeconds": 5,
        "timeoutSeconds": 3600, "responseTimeoutSeconds": 3600,
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    fail(&s, &s.poll_one(TASK).await).await;
    // retry 0: 2 * 2 * 1 = 4 s, below the cap
    assert_eq!(rescheduled(&s, &id, 2).await["callbackAfterSeconds"], 4);
    s.advance(secs(4)).await;
    fail(&s, &s.poll_one(TASK).await).await;
    // retry 1: 2 * 2 * 2 = 8 s, capped to 5 s
    assert_eq!(rescheduled(&s, &id, 3).await["callbackAfterSeconds"], 5);
}

#[tokio::test]
async fn jitter_adds_at_most_its_milliseconds_to_the_delay_not_to_the_callback() {
    let s = server(json!({
        "name": TASK, "retryCount": 3, "retryDelaySeconds": 60, "retryLogic": "FIXED",
        "backoffJitterMs": 5000, "timeoutSeconds": 3600, "responseTimeoutSeconds": 3600,
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    fail(&s, &s.poll_one(TASK).await).await;
    let retry = rescheduled(&s, &id, 2).await;
    assert_eq!(retry["callbackAfterSeconds"], 60, "{retry:#}");
    // The delay is in [60 000, 65 000] ms.
    s.advance(ms(59_999)).await;
    not_pollable(&s).await;
    s.advance(ms(5_001)).await;
    let again = s.poll_one(TASK).await;
    assert_eq!(again["taskId"], retry["taskId"]);
}

#[tokio::test]
async fn no_jitter_makes_the_delay_exactly_the_base_delay() {
    let s = server(json!({
        "name": TASK, "retryCount": 3, "retryDelaySeconds": 30, "retryLogic": "FIXED",
        "backoffJitterMs": 0, "timeoutSeconds": 3600, "responseTimeoutSeconds": 3600,
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    fail(&s, &s.poll_one(TASK).await).await;
    let retry = rescheduled(&s, &id, 2).await;
    assert_eq!(retry["callbackAfterSeconds"], 30, "{retry:#}");
    s.advance(ms(29_999)).await;
    not_pollable(&s).await;
    s.advance(ms(1)).await;
    assert_eq!(s.poll_one(TASK).await["taskId"], retry["taskId"]);
}

#[tokio::test]
async fn the_cap_applies_before_the_jitter() {
    let s = server(json!({
        "name": TASK, "retryCount": 5, "retryDelaySeconds": 2,
        "retryLogic": "EXPONENTIAL_BACKOFF", "maxRetryDelaySeconds": 3, "backoffJitterMs": 2000,
        "timeoutSeconds": 3600, "responseTimeoutSeconds": 3600,
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    fail(&s, &s.poll_one(TASK).await).await;
    assert_eq!(rescheduled(&s, &id, 2).await["callbackAfterSeconds"], 2);
    s.advance(secs(4)).await;
    fail(&s, &s.poll_one(TASK).await).await;
    // raw 4 s, capped to 3 s, plus up to 2 s of jitter
    let retry = rescheduled(&s, &id, 3).await;
    assert_eq!(retry["callbackAfterSeconds"], 3, "{retry:#}");
    s.advance(ms(2_999)).await;
    not_pollable(&s).await;
    s.advance(ms(2_001)).await;
    assert_eq!(s.poll_one(TASK).await["taskId"], retry["taskId"]);
}

#[tokio::test]
async fn a_total_timeout_of_zero_does_not_stop_retries() {
    let s = server(json!({
        "name": TASK, "retryCount": 5, "retryDelaySeconds": 0, "retryLogic": "FIXED",
        "totalTimeoutSeconds": 0, "timeoutSeconds": 3600, "responseTimeoutSeconds": 3600,
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    s.advance(secs(86_400)).await;
    fail(&s, &s.poll_one(TASK).await).await;
    rescheduled(&s, &id, 2).await;
    assert_eq!(s.workflow(&id).await["status"], "RUNNING");
}

#[tokio::test]
async fn a_failure_past_the_total_timeout_is_not_retried() {
    // ALERT_ONLY: the budget does not time the waiting task out (the next test does that);
    // it only refuses the retry.
    let s = server(json!({
        "name": TASK, "retryCount": 10, "retryDelaySeconds": 0, "retryLogic": "FIXED",
        "totalTimeoutSeconds": 5, "timeoutSeconds": 0, "responseTimeoutSeconds": 1,
        "timeoutPolicy": "ALERT_ONLY",
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    // The budget runs from when the first attempt was scheduled.
    s.advance(secs(6)).await;
    fail(&s, &s.poll_one(TASK).await).await;
    let w = s
        .wait_for(&id, "a terminal status", secs(15), |w| {
            w["status"] != "RUNNING"
        })
        .await;
    assert!(
        w["status"] == "FAILED" || w["status"] == "TIMED_OUT",
        "{w:#}"
    );
    assert_eq!(tasks_by_ref(&w, &format!("{TASK}_ref")).len(), 1, "{w:#}");
}

#[tokio::test]
async fn a_failure_within_the_total_timeout_is_retried() {
    let s = server(json!({
        "name": TASK, "retryCount": 10, "retryDelaySeconds": 0, "retryLogic": "FIXED",
        "totalTimeoutSeconds": 5, "timeoutSeconds": 0, "responseTimeoutSeconds": 1,
        "timeoutPolicy": "TIME_OUT_WF",
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    s.advance(secs(4)).await;
    fail(&s, &s.poll_one(TASK).await).await;
    rescheduled(&s, &id, 2).await;
}

#[tokio::test]
async fn a_task_waiting_past_the_total_timeout_times_the_workflow_out() {
    let s = server(json!({
        "name": TASK, "retryCount": 10, "retryDelaySeconds": 0, "retryLogic": "FIXED",
        "totalTimeoutSeconds": 5, "timeoutSeconds": 0, "responseTimeoutSeconds": 1,
        "timeoutPolicy": "TIME_OUT_WF",
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    s.advance(secs(6)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "TIMED_OUT", "{w:#}");
    let only = tasks_by_ref(&w, &format!("{TASK}_ref"));
    assert_eq!(only.len(), 1, "{w:#}");
    assert_eq!(only[0]["status"], "TIMED_OUT");
    assert!(s.poll_batch(TASK, 1, 0).await.is_empty());
}

#[tokio::test]
async fn an_in_progress_task_past_the_total_timeout_is_timed_out() {
    // responseTimeoutSeconds is long: only the total budget can time the task out.
    let s = server(json!({
        "name": TASK, "retryCount": 10, "retryDelaySeconds": 0, "retryLogic": "FIXED",
        "totalTimeoutSeconds": 5, "timeoutSeconds": 0, "responseTimeoutSeconds": 3600,
        "timeoutPolicy": "RETRY",
    }))
    .await;
    let id = s.start(WF, json!({})).await;
    let polled = s.poll_one(TASK).await;
    s.advance(secs(4)).await;
    let w = s.workflow(&id).await;
    assert_eq!(
        tasks_by_ref(&w, &format!("{TASK}_ref"))[0]["status"],
        "IN_PROGRESS"
    );
    s.advance(secs(2)).await;
    let w = s.workflow(&id).await;
    let first = tasks_by_ref(&w, &format!("{TASK}_ref"))[0].clone();
    assert_eq!(first["taskId"], polled["taskId"]);
    assert_eq!(first["status"], "TIMED_OUT", "{w:#}");
    // Past the budget, the timed-out task is not retried: the workflow ends.
    assert!(
        w["status"] == "FAILED" || w["status"] == "TIMED_OUT",
        "{w:#}"
    );
    assert_eq!(tasks_by_ref(&w, &format!("{TASK}_ref")).len(), 1, "{w:#}");
}
