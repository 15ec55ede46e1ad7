//! `/api/workflow/bulk/*`: BulkResponse with the successes and each failure's message.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn bulk(s: &TestServer, method: Method, path: &str, ids: &Value) -> Value {
    let resp = s
        .client
        .request(method, s.url(path))
        .json(ids)
        .send()
        .await
        .expect("bulk request");
    expect_json(resp, StatusCode::OK).await
}

fn successes(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["bulkSuccessfulResults"]
        .as_array()
        .unwrap_or_else(|| panic!("no bulkSuccessfulResults: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap_or_default().to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn pause_resume_terminate_retry_restart_search_remove_in_bulk() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("bulk_wf", &["bulk_t"]))
        .await;
    let a = s.start("bulk_wf", json!({})).await;
    let b = s.start("bulk_wf", json!({})).await;
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    let with_ghost = json!([a, b, "ghost-id"]);

    let r = bulk(&s, Method::PUT, "/workflow/bulk/pause", &with_ghost).await;
    assert_eq!(successes(&r), both);
    assert!(
        r["bulkErrorResults"]["ghost-id"]
            .as_str()
            .is_some_and(|m| m.contains("ghost-id")),
        "{r}"
    );
    assert_eq!(s.workflow(&a).await["status"], "PAUSED");

    let r = bulk(&s, Method::PUT, "/workflow/bulk/resume", &json!([a, b])).await;
    assert_eq!(successes(&r), both);
    assert_eq!(s.workflow(&b).await["status"], "RUNNING");

    let r = bulk(
        &s,
        Method::POST,
        "/workflow/bulk/terminate?reason=bulk%20stop",
        &json!([a, b]),
    )
    .await;
    assert_eq!(successes(&r), both);
    let w = s.workflow(&a).await;
    assert_eq!(w["status"], "TERMINATED");
    assert_eq!(w["reasonForIncompletion"], "bulk stop");

    let r = bulk(&s, Method::POST, "/workflow/bulk/retry", &json!([a])).await;
    assert_eq!(successes(&r), vec![a.clone()]);
    assert_eq!(s.workflow(&a).await["status"], "RUNNING");
    // Restart of a running workflow fails for that id only.
    let r = bulk(&s, Method::POST, "/workflow/bulk/restart", &json!([a, b])).await;
    assert_eq!(successes(&r), vec![b.clone()]);
    assert!(r["bulkErrorResults"][a.as_str()].is_string(), "{r}");
    assert_eq!(s.workflow(&b).await["status"], "RUNNING");

    let r = bulk(
        &s,
        Method::POST,
        "/workflow/bulk/search?includeTasks=false",
        &with_ghost,
    )
    .await;
    let found = r["bulkSuccessfulResults"].as_array().unwrap();
    assert_eq!(found.len(), 2, "{r}");
    assert!(found
        .iter()
        .all(|w| w["tasks"] == json!([]) && w["workflowName"] == "bulk_wf"));
    assert!(r["bulkErrorResults"]["ghost-id"].is_string());
    let r = bulk(&s, Method::POST, "/workflow/bulk/search", &json!([a])).await;
    assert!(!r["bulkSuccessfulResults"][0]["tasks"]
        .as_array()
        .unwrap()
        .is_empty());

    let r = bulk(
        &s,
        Method::DELETE,
        "/workflow/bulk/terminate-remove?reason=done",
        &json!([a]),
    )
    .await;
    assert_eq!(successes(&r), vec![a.clone()]);
    expect_error(
        s.get(&format!("/workflow/{a}")).await,
        StatusCode::NOT_FOUND,
        &[],
    )
    .await;
    expect_status(s.delete(&format!("/workflow/{b}")).await, StatusCode::OK).await;
    let r = bulk(
        &s,
        Method::DELETE,
        "/workflow/bulk/remove?archiveWorkflow=false",
        &json!([b, a]),
    )
    .await;
    assert_eq!(successes(&r), vec![b.clone()]);
    assert!(
        r["bulkErrorResults"][a.as_str()].is_string(),
        "already removed: {r}"
    );
    assert!(s.history(&b).await.is_empty());
}

#[tokio::test]
async fn bulk_requests_are_bounded_and_checked() {
    let s = TestServer::spawn().await;
    let many: Vec<String> = (0..1001).map(|i| format!("id-{i}")).collect();
    for (method, path) in [
        (Method::PUT, "/workflow/bulk/pause"),
        (Method::PUT, "/workflow/bulk/resume"),
        (Method::POST, "/workflow/bulk/restart"),
        (Method::POST, "/workflow/bulk/retry"),
        (Method::POST, "/workflow/bulk/terminate"),
        (Method::DELETE, "/workflow/bulk/remove"),
        (Method::DELETE, "/workflow/bulk/terminate-remove"),
        (Method::POST, "/workflow/bulk/search"),
    ] {
        let resp = s
            .client
            .request(method.clone(), s.url(path))
            .json(&many)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::BAD_REQUEST, &["1000"]).await;
        let resp = s
            .client
            .request(method.clone(), s.url(path))
            .json(&json!({"ids": []}))
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::BAD_REQUEST, &["body"]).await;
        // An empty list is a no-op answered with an empty BulkResponse.
        let r = bulk(&s, method, path, &json!([])).await;
        assert_eq!(r["bulkSuccessfulResults"], json!([]), "{path}: {r}");
    }
    let resp = s
        .client
        .post(s.url("/workflow/bulk/restart?useLatestDefinitions=x"))
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, &["useLatestDefinitions"]).await;
}
