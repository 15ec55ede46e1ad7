//! Task search (`/api/tasks/search`, `search-v2`) and poll data.

mod common;

use common::{simple_workflow, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn task_search_filters_by_type_status_and_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("ts_wf", &["ts_a", "ts_b"]))
        .await;
    let first = s.start("ts_wf", json!({"tag": "alpha"})).await;
    let _second = s.start("ts_wf", json!({"tag": "beta"})).await;
    let task = s.poll_one("ts_a").await;
    s.complete(&task, json!({"marker": "found-me"})).await;

    let all = s.get_json("/tasks/search-v2?query=taskType%3Dts_a").await;
    assert_eq!(all["totalHits"], 2);
    let done = s
        .get_json("/tasks/search-v2?query=taskType%3Dts_a%20AND%20status%3DCOMPLETED")
        .await;
    assert_eq!(done["totalHits"], 1);
    assert_eq!(done["results"][0]["taskId"], task["taskId"]);
    let by_wf = s
        .get_json(&format!("/tasks/search?query=workflowId%3D{first}"))
        .await;
    // ts_a completed and ts_b scheduled for the first workflow.
    assert_eq!(by_wf["totalHits"], 2);
    assert!(
        by_wf["results"][0]["input"].is_string(),
        "summaries carry input as a string"
    );
    let text = s.get_json("/tasks/search?freeText=found-me").await;
    assert_eq!(text["totalHits"], 1);
    let page = s.get_json("/tasks/search-v2?size=1&start=1").await;
    assert_eq!(page["results"].as_array().map(Vec::len), Some(1));

    let bad = s.get("/tasks/search?query=nonsense%3D1").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("nonsense"));

    let poll_data = s.get_json("/tasks/queue/polldata?taskType=ts_a").await;
    assert_eq!(poll_data.as_array().map(Vec::len), Some(1), "{poll_data}");
}
