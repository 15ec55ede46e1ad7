//! The cases of Conductor's `JsonJQTransformTaskSpec` (the older copy, under
//! `com/netflix/counductor/integration/test/`), with the same expectations, written for Baton
//! with its own definition: a JSON_JQ_TRANSFORM that joins two input arrays completes with
//! `result` and `resultList`; given strings where the query indexes objects, the task fails
//! with jq's own message (Conductor's jackson-jq words it as jq does) and fails the workflow.

mod common;

use common::*;
use serde_json::json;

/// One JSON_JQ_TRANSFORM joining `in1.array` and `in2.array` into `out`.
async fn server() -> TestServer {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "jq_join_wf", "version": 1, "tasks": [
        {"name": "jq_join", "taskReferenceName": "jq_join", "type": "JSON_JQ_TRANSFORM",
         "inputParameters": {
            "in1": "${workflow.input.in1}",
            "in2": "${workflow.input.in2}",
            "queryExpression": "{ out: (.in1.array + .in2.array) }"
         }}
    ]}))
    .await;
    s
}

#[tokio::test]
async fn a_jq_transform_joins_two_arrays() {
    let s = server().await;
    let id = s
        .start(
            "jq_join_wf",
            json!({"in1": {"array": ["a", "b"]}, "in2": {"array": ["c", "d"]}}),
        )
        .await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "COMPLETED", "{w:#}");
    let t = only_task(&w);
    assert_eq!(t["taskType"], "JSON_JQ_TRANSFORM");
    assert_eq!(t["status"], "COMPLETED");
    assert_eq!(
        t["outputData"],
        json!({"result": {"out": ["a", "b", "c", "d"]},
               "resultList": [{"out": ["a", "b", "c", "d"]}]}),
        "{w:#}"
    );
}

#[tokio::test]
async fn a_jq_transform_that_indexes_a_string_fails_with_jqs_message() {
    let s = server().await;
    let id = s.start("jq_join_wf", json!({"in1": "a", "in2": "b"})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "FAILED", "{w:#}");
    let t = only_task(&w);
    assert_eq!(t["taskType"], "JSON_JQ_TRANSFORM");
    assert_eq!(t["status"], "FAILED");
    let message = "Cannot index string with string \"array\"";
    assert_eq!(t["reasonForIncompletion"], message, "{w:#}");
    assert_eq!(t["outputData"]["error"], message, "{w:#}");
}
