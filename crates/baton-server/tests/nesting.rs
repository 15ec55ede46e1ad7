//! One JSON nesting limit for everything that enters (issue 9, defect 3): the deepest
//! allowed value goes in through each entry point (a start's input, a worker's output, an
//! INLINE result) and reads back, also after a restart; one level more gets a clear 400 or
//! task failure, and changes nothing.

mod common;

use baton_model::limits::DEFAULT_MAX_JSON_DEPTH as LIMIT;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// `{"a": {"a": ... 1}}` with `depth` objects.
fn nested(depth: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..depth {
        v = json!({ "a": v });
    }
    v
}

/// `value` inside `levels` objects.
fn wrapped(levels: usize, mut value: Value) -> Value {
    for _ in 0..levels {
        value = json!({ "w": value });
    }
    value
}

/// GET of a JSON document that may nest deeper than serde_json's default limit of 128.
async fn get_deep(s: &TestServer, path: &str) -> Value {
    let resp = s.get(path).await;
    assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
    let text = resp.text().await.expect("body");
    let mut de = serde_json::Deserializer::from_str(&text);
    de.disable_recursion_limit();
    serde::Deserialize::deserialize(&mut de).expect("JSON")
}

/// An INLINE script whose result nests `depth` objects deep.
fn deep_script(depth: usize) -> String {
    format!("(function() {{ var o = 1; for (var i = 0; i < {depth}; i++) {{ o = {{a: o}}; }} return o; }})()")
}

fn definition() -> Value {
    json!({
        "name": "deep", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "compose", "taskReferenceName": "compose", "type": "SET_VARIABLE",
             "inputParameters": {"composed": wrapped(30, json!("${workflow.input}"))}},
            {"name": "deep_work", "taskReferenceName": "work", "type": "SIMPLE", "retryCount": 0},
            {"name": "deep_inline", "taskReferenceName": "inline", "type": "INLINE",
             "inputParameters": {"evaluatorType": "javascript",
                                 "expression": "${workflow.input.script}"}},
            {"name": "deep_last", "taskReferenceName": "last", "type": "SIMPLE", "retryCount": 0}
        ]
    })
}

async fn count(s: &TestServer) -> i64 {
    s.get_json("/workflow/search?query=workflowType%3Ddeep&size=1")
        .await["totalHits"]
        .as_i64()
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deepest_allowed_values_read_back_also_after_a_restart() {
    let s = TestServer::spawn().await;
    s.register_workflow(definition()).await;

    // A start whose body (the input itself) nests exactly LIMIT levels deep.
    let mut input = nested(LIMIT - 1);
    input["script"] = json!(deep_script(LIMIT));
    let id = s.start("deep", input.clone()).await;
    // References compose values deeper than any single input: stored documents nest
    // deeper than serde_json's default limit (the variable sits 132 levels deep).
    let w = get_deep(&s, &format!("/workflow/{id}")).await;
    assert_eq!(w["input"], input);
    assert_eq!(w["variables"]["composed"], wrapped(30, input.clone()));

    // A worker result whose body nests LIMIT levels deep (outputData is one level in).
    let task = s.poll_one("deep_work").await;
    let output = nested(LIMIT - 1);
    s.complete(&task, output.clone()).await;

    // The INLINE result nests LIMIT levels deep, and the workflow waits on the last task.
    let mut w = Value::Null;
    for _ in 0..600 {
        w = get_deep(&s, &format!("/workflow/{id}")).await;
        if !tasks_by_ref(&w, "last").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tasks_by_ref(&w, "work")[0]["outputData"], output);
    let inline = tasks_by_ref(&w, "inline")[0];
    assert_eq!(inline["status"], "COMPLETED", "{inline}");
    assert_eq!(inline["outputData"]["result"], nested(LIMIT));

    // After a restart everything reads back: the workflow, a search page holding it, and
    // the pending task's update goes through.
    let s = TestServer::open(s.stop(), Default::default(), Default::default()).await;
    let w = get_deep(&s, &format!("/workflow/{id}")).await;
    assert_eq!(w["input"], input);
    assert_eq!(w["variables"]["composed"], wrapped(30, input.clone()));
    let page = s
        .get_json("/workflow/search?query=workflowType%3Ddeep&size=10")
        .await;
    assert_eq!(page["totalHits"], 1);
    let last = s.poll_one("deep_last").await;
    s.complete(&last, json!({})).await;
    for _ in 0..600 {
        if get_deep(&s, &format!("/workflow/{id}")).await["status"] == "COMPLETED" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("workflow {id} did not complete after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_level_more_is_refused_and_changes_nothing() {
    let s = TestServer::spawn().await;
    s.register_workflow(definition()).await;

    // A start body one level too deep.
    let before = count(&s).await;
    let resp = s.post_json("/workflow/deep", &nested(LIMIT + 1)).await;
    expect_error(
        resp,
        StatusCode::BAD_REQUEST,
        &["nests 101 levels deep", "limit is 100"],
    )
    .await;
    assert_eq!(count(&s).await, before);

    // A worker result one level too deep: refused, the task still IN_PROGRESS.
    let id = s
        .start("deep", json!({"script": deep_script(LIMIT + 1)}))
        .await;
    let task = s.poll_one("deep_work").await;
    let body = json!({
        "workflowInstanceId": id, "taskId": task["taskId"], "status": "COMPLETED",
        "outputData": nested(LIMIT)
    });
    expect_error(
        s.update(&body).await,
        StatusCode::BAD_REQUEST,
        &["nests 101 levels deep"],
    )
    .await;
    let w = s.workflow(&id).await;
    assert_eq!(tasks_by_ref(&w, "work")[0]["status"], "IN_PROGRESS");

    // An INLINE result one level too deep fails its task, naming the limit.
    s.complete(&task, json!({})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let inline = tasks_by_ref(&w, "inline")[0];
    assert_eq!(inline["status"], "FAILED_WITH_TERMINAL_ERROR");
    let reason = inline["reasonForIncompletion"].as_str().unwrap_or_default();
    assert!(
        reason.contains("nests 101 levels deep") && reason.contains("--max-json-depth"),
        "{reason}"
    );
}
