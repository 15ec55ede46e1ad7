//! Names and keys the store indexes are bounded (`baton_model::limits::MAX_KEY_BYTES`): an
//! over-long one is a 400 that names the field, nothing is stored, and the same holds on
//! PostgreSQL, whose indexes would otherwise refuse it with a database error.

mod common;

use common::{expect_error, simple_workflow, TestServer};
use reqwest::StatusCode;
use serde_json::json;

const TOO_LONG: usize = baton_model::limits::MAX_KEY_BYTES + 1;

#[tokio::test]
async fn over_long_correlation_id_and_idempotency_key_are_refused() {
    let server = TestServer::spawn().await;
    server
        .register_workflow(simple_workflow("keys_flow", &["keys_task"]))
        .await;
    for field in ["correlationId", "idempotencyKey"] {
        let body = json!({"name": "keys_flow", field: "k".repeat(TOO_LONG)});
        let resp = server.post_json("/workflow", &body).await;
        expect_error(resp, StatusCode::BAD_REQUEST, &[field, "1024"]).await;
    }
    let body = json!({"name": "keys_flow", "taskToDomain": {"keys_task": "d".repeat(TOO_LONG)}});
    let resp = server.post_json("/workflow", &body).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["taskToDomain"]).await;
    // Nothing was started.
    let found = server
        .get_json("/workflow/search?query=workflowType%3Dkeys_flow")
        .await;
    assert_eq!(found["totalHits"], 0, "{found}");
    // At the limit is fine.
    let body = json!({"name": "keys_flow", "correlationId": "k".repeat(TOO_LONG - 1)});
    let resp = server.post_json("/workflow", &body).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn over_long_definition_names_are_refused_naming_the_path() {
    let server = TestServer::spawn().await;
    let long = "n".repeat(TOO_LONG);
    let resp = server
        .post_json(
            "/metadata/taskdefs",
            &json!([{"name": long, "responseTimeoutSeconds": 10}]),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["name", "1024"]).await;

    let mut def = simple_workflow("long_refs", &["short_task"]);
    def["tasks"][0]["taskReferenceName"] = json!(long);
    let resp = server.post_json("/metadata/workflow", &def).await;
    expect_error(
        resp,
        StatusCode::BAD_REQUEST,
        &["tasks[0].taskReferenceName", "1024"],
    )
    .await;
    let def = simple_workflow(&long, &["short_task"]);
    let resp = server.post_json("/metadata/workflow", &def).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["name", "1024"]).await;
    let resp = server.get("/metadata/workflow/long_refs").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
