//! §2.9 / §4.2 / §7.4: the worker path — poll, update, update-v2, logs, queues.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn empty_polls() {
    let s = TestServer::spawn().await;
    let resp = s
        .get("/tasks/poll/batch/nothing_here?count=5&timeout=100&workerid=w")
        .await;
    let v = expect_json(resp, StatusCode::OK).await;
    assert_eq!(v, json!([]));
    let resp = s.get("/tasks/poll/nothing_here?workerid=w").await;
    let body = expect_status(resp, StatusCode::NO_CONTENT).await;
    assert!(body.is_empty());
}

#[tokio::test]
async fn polled_task_shape_and_input_expressions() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "expr_b", "responseTimeoutSeconds": 120}))
        .await;
    let def = json!({
        "name": "wf_expr", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "expr_a", "taskReferenceName": "a", "type": "SIMPLE",
             "inputParameters": {"x": "${workflow.input.x}"}},
            {"name": "expr_b", "taskReferenceName": "b", "type": "SIMPLE",
             "inputParameters": {
                "wi": "${workflow.input.x}",
                "whole": "${a.output.r}",
                "deep": "${a.output.r.m.list[1].deep}",
                "idx": "${a.output.r.m.list[0]}",
                "missing": "${a.output.r.nope}",
                "escaped": "$${x}",
                "embedded": "x is ${workflow.input.x}!",
                "map": {"inner": {"y": "${workflow.input.x}"}, "arr": ["${a.output.r.m.list[0]}", 2]}
             }}
        ]
    });
    s.register_workflow(def).await;
    let id = s.start("wf_expr", json!({"x": 5})).await;

    let resp = s.get("/tasks/poll/expr_a?workerid=worker-1").await;
    let a = expect_json(resp, StatusCode::OK).await;
    assert_eq!(a["status"], "IN_PROGRESS", "{a}");
    assert_eq!(a["workerId"], "worker-1", "{a}");
    assert_eq!(a["pollCount"], 1, "{a}");
    assert_eq!(a["taskType"], "expr_a", "{a}");
    assert_eq!(a["taskDefName"], "expr_a", "{a}");
    assert_eq!(a["workflowInstanceId"], id.as_str(), "{a}");
    assert_eq!(a["referenceTaskName"], "a", "{a}");
    assert_eq!(
        a["responseTimeoutSeconds"], 3600,
        "unregistered SIMPLE gets defaults: {a}"
    );
    assert_eq!(a["inputData"], json!({"x": 5}), "{a}");
    assert!(!a["taskId"].as_str().unwrap_or("").is_empty());

    let r = json!({"m": {"list": [10, {"deep": "found"}]}});
    s.complete(&a, json!({"r": r})).await;

    let b = s.poll_one("expr_b").await;
    assert_eq!(b["responseTimeoutSeconds"], 120, "{b}");
    let input = &b["inputData"];
    assert_eq!(input["wi"], 5, "{input}");
    assert_eq!(input["whole"], r, "{input}");
    assert_eq!(input["deep"], "found", "{input}");
    assert_eq!(input["idx"], 10, "{input}");
    assert!(
        input.get("missing").is_some_and(Value::is_null),
        "missing path must resolve to null (present): {input}"
    );
    assert_eq!(input["escaped"], "${x}", "{input}");
    assert_eq!(input["embedded"], "x is 5!", "{input}");
    assert_eq!(
        input["map"],
        json!({"inner": {"y": 5}, "arr": [10, 2]}),
        "{input}"
    );
}

#[tokio::test]
async fn update_v2_hands_out_next_task_of_same_type() {
    let s = TestServer::spawn().await;
    let def = json!({
        "name": "wf_chain", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "chain_t", "taskReferenceName": "c1", "type": "SIMPLE"},
            {"name": "chain_t", "taskReferenceName": "c2", "type": "SIMPLE"}
        ]
    });
    s.register_workflow(def).await;
    let id = s.start("wf_chain", json!({})).await;
    let first = s.poll_one("chain_t").await;
    assert_eq!(first["referenceTaskName"], "c1");

    // a non-terminal (IN_PROGRESS) v2 update answers 204 and hands nothing out
    let resp = s
        .post_json(
            "/tasks/update-v2",
            &json!({
                "taskId": first["taskId"], "workflowInstanceId": id,
                "workerId": "v2-worker", "status": "IN_PROGRESS", "outputData": {"p": 1}
            }),
        )
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    // callbackAfterSeconds 0: pollable again right away, same task, second hand-out
    let first = s.poll_one("chain_t").await;
    assert_eq!(first["referenceTaskName"], "c1");
    assert_eq!(first["pollCount"], 2, "{first}");
    assert_eq!(first["outputData"], json!({"p": 1}), "{first}");

    let resp = s
        .post_json(
            "/tasks/update-v2",
            &json!({
                "taskId": first["taskId"], "workflowInstanceId": id,
                "workerId": "v2-worker", "status": "COMPLETED", "outputData": {"i": 1}
            }),
        )
        .await;
    let next = expect_json(resp, StatusCode::OK).await;
    assert_eq!(next["referenceTaskName"], "c2", "{next}");
    assert_eq!(next["status"], "IN_PROGRESS", "{next}");
    assert_eq!(next["workerId"], "v2-worker", "{next}");
    assert_eq!(next["pollCount"], 1, "{next}");

    let resp = s
        .post_json(
            "/tasks/update-v2",
            &json!({
                "taskId": next["taskId"], "workflowInstanceId": id,
                "workerId": "v2-worker", "status": "COMPLETED", "outputData": {"i": 2}
            }),
        )
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let w = s
        .wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;
    assert_eq!(w["output"], json!({"i": 2}));
}

#[tokio::test]
async fn long_poll_is_woken_by_a_new_task() {
    // The poll waits up to an hour, far past the test's own limit: only the wake-up of a
    // queued task can end it in time (its deadline re-check cannot).
    let config = baton_runtime::RuntimeConfig {
        max_poll_timeout: Duration::from_secs(3600),
        ..Default::default()
    };
    let s = Arc::new(TestServer::with_runtime_config(config).await);
    s.register_workflow(simple_workflow("wf_wake", &["wake_t"]))
        .await;
    let rt = s.runtime.clone().expect("in-process runtime");
    let poller = tokio::spawn(async move {
        rt.poll("wake_t", Some("w"), None, 1, Duration::from_secs(3600))
            .await
    });
    // The outcome does not depend on whether the poll is already waiting.
    tokio::task::yield_now().await;
    let id = s.start("wf_wake", json!({})).await;
    let got = tokio::time::timeout(Duration::from_secs(30), poller)
        .await
        .expect("the long poll was not woken by the queued task")
        .expect("poller panicked")
        .expect("poll");
    assert_eq!(
        got.len(),
        1,
        "long poll should return the new task: {got:?}"
    );
    assert_eq!(got[0].workflow_instance_id, id);
}

#[tokio::test]
async fn concurrent_batch_pollers_never_share_a_task() {
    let s = Arc::new(TestServer::spawn().await);
    s.register_workflow(simple_workflow("wf_many", &["many_t"]))
        .await;
    for i in 0..50 {
        s.start("wf_many", json!({"i": i})).await;
    }
    let mut handles = Vec::new();
    for _ in 0..2 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..100 {
                let got = s.poll_batch("many_t", 7, 50).await;
                if got.is_empty() {
                    break;
                }
                mine.extend(
                    got.into_iter()
                        .map(|t| t["taskId"].as_str().unwrap().to_string()),
                );
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a task id was handed out twice");
    assert_eq!(all.len(), 50, "every task handed out exactly once");
}

#[tokio::test]
async fn stale_and_invalid_updates() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("wf_stale", &["stale_t", "stale_u"]))
        .await;
    let id = s.start("wf_stale", json!({})).await;
    let task = s.poll_one("stale_t").await;
    let tid = task["taskId"].as_str().unwrap().to_string();
    s.complete(&task, json!({"v": 1})).await;

    // v1 again: 200 + the id, nothing changes
    let again = json!({
        "taskId": tid, "workflowInstanceId": id, "status": "COMPLETED", "outputData": {"v": 2}
    });
    let resp = s.update(&again).await;
    assert!(content_type(&resp).starts_with("text/plain"));
    assert_eq!(expect_status(resp, StatusCode::OK).await, tid);
    // v2 again: 204
    let resp = s.post_json("/tasks/update-v2", &again).await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    // a FAILED after COMPLETED also changes nothing
    let resp = s
        .update(
            &json!({"taskId": tid, "workflowInstanceId": id, "status": "FAILED",
                        "reasonForIncompletion": "late"}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;

    let t = s.get_json(&format!("/tasks/{tid}")).await;
    assert_eq!(t["status"], "COMPLETED", "{t}");
    assert_eq!(t["outputData"], json!({"v": 1}), "{t}");
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["tasks"].as_array().unwrap().len(), 2, "{w}");
    let completed: Vec<Value> = s
        .history(&id)
        .await
        .into_iter()
        .filter(|e| e["taskId"] == tid.as_str() && e["status"] == "COMPLETED")
        .collect();
    assert_eq!(completed.len(), 1, "{completed:?}");

    // unknown task id → 404
    let resp = s
        .update(&json!({"taskId": "no-such-task", "workflowInstanceId": id, "status": "COMPLETED"}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["no-such-task"]).await;
    let resp = s.get("/tasks/no-such-task").await;
    expect_error(resp, StatusCode::NOT_FOUND, &[]).await;
    // empty task id → 400
    let resp = s
        .update(&json!({"taskId": "", "workflowInstanceId": id, "status": "COMPLETED"}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["taskId"]).await;
    let resp = s
        .post_json(
            "/tasks/update-v2",
            &json!({"taskId": "", "workflowInstanceId": id, "status": "COMPLETED"}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["taskId"]).await;
}

#[tokio::test]
async fn task_logs() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("wf_logs", &["log_t"]))
        .await;
    s.start("wf_logs", json!({})).await;
    let task = s.poll_one("log_t").await;
    let tid = task["taskId"].as_str().unwrap();

    let resp = s.get(&format!("/tasks/{tid}/log")).await;
    expect_status(resp, StatusCode::NO_CONTENT).await;

    let resp = s
        .post_raw(&format!("/tasks/{tid}/log"), "raw line one")
        .await;
    expect_status(resp, StatusCode::OK).await;
    let resp = s
        .post_raw(&format!("/tasks/{tid}/log"), "\"quoted \\\"two\\\"\"")
        .await;
    expect_status(resp, StatusCode::OK).await;

    let logs = as_array(s.get_json(&format!("/tasks/{tid}/log")).await);
    let lines: Vec<&str> = logs.iter().map(|l| l["log"].as_str().unwrap()).collect();
    assert_eq!(lines, vec!["raw line one", "quoted \"two\""]);
    assert!(logs.iter().all(|l| l["taskId"] == tid), "{logs:?}");
    assert!(
        logs.iter()
            .all(|l| l["createdTime"].as_i64().unwrap_or(0) > 0),
        "{logs:?}"
    );
}

#[tokio::test]
async fn queue_sizes_reflect_scheduled_tasks() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("wf_q", &["q_t"])).await;
    for _ in 0..3 {
        s.start("wf_q", json!({})).await;
    }
    let sizes = s
        .get_json("/tasks/queue/sizes?taskType=q_t&taskType=other_t")
        .await;
    assert_eq!(sizes, json!({"q_t": 3, "other_t": 0}));
    assert_eq!(s.get_json("/tasks/queue/size?taskType=q_t").await, json!(3));
    let all = s.get_json("/tasks/queue/all").await;
    assert_eq!(all["q_t"], 3, "{all}");

    let got = s.poll_batch("q_t", 1, 100).await;
    assert_eq!(got.len(), 1);
    assert_eq!(s.get_json("/tasks/queue/size?taskType=q_t").await, json!(2));
    let resp = s.get("/tasks/queue/size").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["taskType"]).await;
}
