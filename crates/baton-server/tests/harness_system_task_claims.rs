//! Conductor's `SystemTaskPollClaimSpec` and `AsyncSystemTaskDuplicateExecutionSpec`, with the
//! same expectations, written for Baton with its own definitions. Both specs block an
//! asynchronous system task inside its execution; here the task is an HTTP task whose
//! endpoint (a stub in the test) holds the request until the test releases it, and the
//! stub counts how often it was called.
//!
//! - `SystemTaskPollClaimSpec`: the task is claimed (IN_PROGRESS) before the blocking call
//!   begins, stays IN_PROGRESS while it runs, is executed exactly once and completes;
//! - `AsyncSystemTaskDuplicateExecutionSpec`: the repairs Conductor's sweeper does (re-pushing
//!   a task it takes for lost), asked for over HTTP while the call is in flight, do not hand
//!   the task out again: it is not executed a second time.
//!
//! Baton's server-run system tasks are polled like a worker's (IN_PROGRESS, with a poll count,
//! in the poll's commit), and the queue is written with the state, so a repair finds nothing
//! missing. The spec's "the message is still in the queue" reads Conductor's queue DAO, which
//! is not on the wire; the tests show instead that nothing hands the task out again.

mod common;

use common::blocking_stub::BlockingStub;
use common::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// One HTTP task calling `path` on the stub; its definition has the spec's response timeout
/// (45 s) and no retries, so nothing in the test's time hands it out again legitimately.
async fn register(s: &TestServer, name: &str, stub: &BlockingStub, path: &str) {
    s.register_task_def(json!({
        "name": "claim_http", "retryCount": 0, "timeoutSeconds": 3600,
        "responseTimeoutSeconds": 45
    }))
    .await;
    s.register_workflow(json!({"name": name, "version": 1, "tasks": [
        {"name": "claim_http", "taskReferenceName": "call", "type": "HTTP",
         "inputParameters": {"http_request": {
             "uri": format!("{}{path}", stub.base), "method": "GET",
             "connectionTimeOut": 2000, "readTimeOut": 30000}}},
    ]}))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_system_task_is_claimed_runs_once_and_completes() {
    let mut stub = BlockingStub::start().await;
    let s = TestServer::spawn().await;
    register(&s, "claim_wf", &stub, "/block").await;

    let id = s.start("claim_wf", json!({})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    let task = only_task(&w);
    assert_eq!(task["taskType"], "HTTP", "{w:#}");
    // SCHEDULED, unless the server's worker has claimed it already.
    let status = task["status"].as_str().unwrap_or("");
    assert!(matches!(status, "SCHEDULED" | "IN_PROGRESS"), "{w:#}");

    // The call has begun: the task was claimed before it, and is IN_PROGRESS while it runs.
    assert_eq!(stub.next_call(WAIT).await, 1);
    let w = s.workflow(&id).await;
    let task = only_task(&w);
    assert_eq!(task["status"], "IN_PROGRESS", "{w:#}");
    assert_eq!(task["pollCount"], 1, "{w:#}");
    assert!(task["startTime"].as_i64().unwrap_or(0) > 0, "{w:#}");

    stub.release(1);
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let task = only_task(&w);
    assert_eq!(task["status"], "COMPLETED", "{w:#}");
    assert_eq!(task["outputData"]["response"]["body"]["call"], 1, "{w:#}");
    assert_eq!(task["pollCount"], 1, "{w:#}");
    assert_eq!(
        stub.block_calls(),
        1,
        "the blocking call was made more than once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repairs_while_a_system_task_is_in_flight_do_not_execute_it_twice() {
    let mut stub = BlockingStub::start().await;
    let s = TestServer::spawn().await;
    register(&s, "dup_wf", &stub, "/block").await;
    let id = s.start("dup_wf", json!({})).await;
    assert_eq!(stub.next_call(WAIT).await, 1);
    let w = s.workflow(&id).await;
    let task_id = only_task(&w)["taskId"].as_str().unwrap().to_string();
    assert_eq!(only_task(&w)["status"], "IN_PROGRESS", "{w:#}");

    // What Conductor's sweeper and its operators do to a task they take for lost.
    let resp = s
        .post_json(&format!("/admin/sweep/requeue/{id}"), &json!({}))
        .await;
    assert_eq!(
        expect_status(resp, reqwest::StatusCode::OK).await,
        format!("true.{id}")
    );
    let resp = s
        .post_json(
            &format!("/admin/consistency/verifyAndRepair/{id}"),
            &json!({}),
        )
        .await;
    assert_eq!(expect_status(resp, reqwest::StatusCode::OK).await, "true");
    let resp = s
        .put_json(&format!("/workflow/decide/{id}"), &json!({}))
        .await;
    expect_status(resp, reqwest::StatusCode::OK).await;
    for task_type in ["HTTP", "claim_http"] {
        let resp = s
            .post_json(&format!("/tasks/queue/requeue/{task_type}"), &json!({}))
            .await;
        // Nothing SCHEDULED to re-push: the task in flight is IN_PROGRESS.
        assert_eq!(expect_status(resp, reqwest::StatusCode::OK).await, "0");
    }

    // A later HTTP task runs to its end: the server's HTTP worker has polled its queue since
    // the repairs, and a re-pushed first task, due earlier, would have been handed out first.
    s.register_workflow(json!({"name": "dup_after", "version": 1, "tasks": [
        {"name": "claim_http", "taskReferenceName": "later", "type": "HTTP",
         "inputParameters": {"http_request": {
             "uri": format!("{}/quick", stub.base), "method": "GET"}}},
    ]}))
    .await;
    let later = s.start("dup_after", json!({})).await;
    s.wait_for_status(&later, "COMPLETED", WAIT).await;

    let w = s.workflow(&id).await;
    let task = only_task(&w);
    assert_eq!(task["taskId"], task_id.as_str());
    assert_eq!(task["status"], "IN_PROGRESS", "{w:#}");
    assert_eq!(task["pollCount"], 1, "handed out again: {w:#}");
    assert_eq!(stub.block_calls(), 1, "executed a second time");

    stub.release(1);
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let task = only_task(&w);
    assert_eq!(task["taskId"], task_id.as_str());
    assert_eq!(task["pollCount"], 1, "{w:#}");
    assert_eq!(stub.block_calls(), 1, "executed a second time");
}
