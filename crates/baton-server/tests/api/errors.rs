//! §1.6: bad input answers a 4xx JSON error naming the problem and changes nothing.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Everything a bad request could have touched, as seen through the API.
async fn snapshot(s: &TestServer) -> Value {
    json!({
        "taskdefs": s.get_json("/metadata/taskdefs").await,
        "workflowdefs": s.get_json("/metadata/workflow").await,
        "queues": s.get_json("/tasks/queue/all").await,
    })
}

async fn seeded() -> TestServer {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "err_t"})).await;
    s.register_workflow(simple_workflow("wf_err", &["err_t"]))
        .await;
    s
}

#[tokio::test]
async fn health_endpoints() {
    let s = TestServer::spawn().await;
    for url in [format!("{}/health", s.root), format!("{}/health", s.base)] {
        let resp = s.client.get(&url).send().await.unwrap();
        let v = expect_json(resp, StatusCode::OK).await;
        assert_eq!(v["healthy"], true, "{url}: {v}");
    }
}

#[tokio::test]
async fn malformed_json_bodies_are_400() {
    let s = seeded().await;
    let id = s.start("wf_err", json!({})).await;
    let task = s.poll_one("err_t").await;
    let before = snapshot(&s).await;
    let wf_before = s.workflow(&id).await;

    // Truncated bodies of the right outer shape, so only the syntax is wrong.
    for (path, body) in [
        ("/metadata/taskdefs", "[{\"name\": \"x\", "),
        ("/metadata/workflow", "{\"name\": \"x\", "),
        ("/workflow", "{\"name\": \"wf_err\", "),
        ("/workflow/wf_err", "{\"a\": 1, "),
        ("/tasks", "{\"taskId\": \"x\" \"status\": 1}"),
        ("/tasks/update-v2", "{\"taskId\": "),
        ("/metadata/taskdefs", "[{\"name\": 'single-quoted'}]"),
    ] {
        let resp = s.post_raw(path, body).await;
        let v = expect_error(resp, StatusCode::BAD_REQUEST, &["JSON"]).await;
        assert_eq!(v["instance"], "baton");
        assert_eq!(v["retryable"], false);
    }
    let resp = s
        .client
        .put(s.url("/metadata/taskdefs"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, &["JSON"]).await;

    assert_eq!(snapshot(&s).await, before);
    let wf_after = s.workflow(&id).await;
    assert_eq!(wf_after["tasks"], wf_before["tasks"]);
    assert_eq!(wf_after["tasks"][0]["taskId"], task["taskId"]);
}

#[tokio::test]
async fn wrong_field_types_name_the_field() {
    let s = seeded().await;
    let id = s.start("wf_err", json!({})).await;
    let task = s.poll_one("err_t").await;
    let before = snapshot(&s).await;

    let resp = s
        .post_json(
            "/metadata/taskdefs",
            &json!([{"name": "bad_td", "retryCount": "x"}]),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["retryCount"]).await;

    let resp = s
        .put_json(
            "/metadata/taskdefs",
            &json!({"name": "err_t", "retryCount": "x"}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["retryCount"]).await;

    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "wf_err", "input": {}, "priority": "high"}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["priority"]).await;

    let resp = s
        .post_json("/workflow/wf_err?priority=abc", &json!({}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["priority"]).await;

    let resp = s
        .update(&json!({
            "taskId": task["taskId"], "workflowInstanceId": id, "status": "DONE"
        }))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["status"]).await;

    assert_eq!(snapshot(&s).await, before);
    let t = s
        .get_json(&format!("/tasks/{}", task["taskId"].as_str().unwrap()))
        .await;
    assert_eq!(t["status"], "IN_PROGRESS");
    let td = s.get_json("/metadata/taskdefs/err_t").await;
    assert_eq!(td["retryCount"], 3);
}

#[tokio::test]
async fn invalid_workflow_definitions_are_400_and_not_stored() {
    let s = seeded().await;
    let before = snapshot(&s).await;

    let task = |r: &str| json!({"name": "err_t", "taskReferenceName": r, "type": "SIMPLE"});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        // missing tasks
        (
            json!({"name": "bad1", "version": 1, "schemaVersion": 2}),
            vec!["tasks"],
        ),
        // a task missing taskReferenceName
        (
            json!({"name": "bad2", "version": 1, "schemaVersion": 2,
                   "tasks": [{"name": "err_t", "type": "SIMPLE"}]}),
            vec!["tasks[0]", "taskReferenceName"],
        ),
        // duplicate ref
        (
            json!({"name": "bad3", "version": 1, "schemaVersion": 2,
                   "tasks": [task("dup_ref"), task("dup_ref")]}),
            vec!["dup_ref"],
        ),
        // unsupported task type
        (
            json!({"name": "bad4", "version": 1, "schemaVersion": 2,
                   "tasks": [{"name": "k", "taskReferenceName": "k", "type": "KAFKA_PUBLISH"}]}),
            vec!["KAFKA_PUBLISH"],
        ),
        // unparsable expression
        (
            json!({"name": "bad5", "version": 1, "schemaVersion": 2,
                   "tasks": [{"name": "err_t", "taskReferenceName": "r", "type": "SIMPLE",
                              "inputParameters": {"p": "${workflow.input.x"}}]}),
            vec!["inputParameters"],
        ),
        // reference to an unknown task
        (
            json!({"name": "bad6", "version": 1, "schemaVersion": 2,
                   "tasks": [{"name": "err_t", "taskReferenceName": "r", "type": "SIMPLE",
                              "inputParameters": {"p": "${ghost_ref.output.x}"}}]}),
            vec!["ghost_ref"],
        ),
        // unknown ref in outputParameters
        (
            json!({"name": "bad7", "version": 1, "schemaVersion": 2,
                   "tasks": [task("r")],
                   "outputParameters": {"o": "${phantom.output.y}"}}),
            vec!["phantom", "outputParameters"],
        ),
    ];
    for (def, needles) in &cases {
        let resp = s.post_json("/metadata/workflow", def).await;
        expect_error(resp, StatusCode::BAD_REQUEST, needles).await;
        let resp = s.post_json("/metadata/workflow/validate", def).await;
        expect_error(resp, StatusCode::BAD_REQUEST, needles).await;
        // a dynamic start with the same def is refused too
        let resp = s
            .post_json(
                "/workflow",
                &json!({"name": def["name"], "workflowDef": def, "input": {}}),
            )
            .await;
        expect_error(resp, StatusCode::BAD_REQUEST, needles).await;
    }
    // the unparsable expression is named in the message
    let resp = s.post_json("/metadata/workflow", &cases[4].0).await;
    let v = expect_error(resp, StatusCode::BAD_REQUEST, &[]).await;
    assert!(
        v.to_string().contains("${workflow.input.x"),
        "the bad expression should be quoted: {v}"
    );

    // a valid def passes validation without being stored
    let resp = s
        .post_json(
            "/metadata/workflow/validate",
            &simple_workflow("only_validated", &["err_t"]),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;

    assert_eq!(snapshot(&s).await, before);
}

#[tokio::test]
async fn unknown_workflow_start_changes_nothing() {
    let s = seeded().await;
    let before = snapshot(&s).await;
    let resp = s
        .post_json("/workflow", &json!({"name": "ghost_wf", "input": {}}))
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["ghost_wf"]).await;
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "wf_err", "version": 5, "input": {}}),
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["wf_err"]).await;
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "wf_err", "input": {}, "priority": 100}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["priority"]).await;
    let resp = s
        .post_json("/workflow/wf_err?priority=-1", &json!({}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["priority"]).await;
    let resp = s.post_json("/workflow", &json!({"input": {}})).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["name"]).await;
    assert_eq!(snapshot(&s).await, before);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let s = TestServer::with_config(baton_server::ServerConfig {
        max_body_bytes: 1024,
        ..Default::default()
    })
    .await;
    s.register_task_def(json!({"name": "small"})).await;
    s.register_workflow(simple_workflow("wf_small", &["small"]))
        .await;
    let before = snapshot(&s).await;
    let big = "x".repeat(4096);

    let resp = s
        .post_json(
            "/metadata/taskdefs",
            &json!([{"name": "huge", "description": big}]),
        )
        .await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, &[]).await;
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "wf_small", "input": {"b": big}}),
        )
        .await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, &[]).await;
    let resp = s.post_json("/workflow/wf_small", &json!({"b": big})).await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, &[]).await;

    assert_eq!(snapshot(&s).await, before);
    let resp = s.get("/metadata/taskdefs/huge").await;
    expect_error(resp, StatusCode::NOT_FOUND, &[]).await;
}

#[tokio::test]
async fn bad_poll_parameters_are_400() {
    let s = seeded().await;
    s.start("wf_err", json!({})).await;
    let before = snapshot(&s).await;
    let resp = s.get("/tasks/poll/batch/err_t?count=1&timeout=6000").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["timeout"]).await;
    let resp = s.get("/tasks/poll/batch/err_t?count=abc").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["count"]).await;
    let resp = s.get("/tasks/poll/batch/err_t?count=0").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["count"]).await;
    // nothing was handed out
    assert_eq!(snapshot(&s).await, before);
    assert_eq!(
        s.get_json("/tasks/queue/size?taskType=err_t").await,
        json!(1)
    );
}
