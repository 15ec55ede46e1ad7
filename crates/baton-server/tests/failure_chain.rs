//! A failure workflow that fails at once and names itself must not loop forever.

mod common;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn a_self_naming_failure_workflow_chain_is_bounded() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "fail_self", "version": 1, "failureWorkflow": "fail_self",
        "tasks": [{"name": "stop", "taskReferenceName": "stop", "type": "TERMINATE",
                   "inputParameters": {"terminationStatus": "FAILED"}}]
    }))
    .await;
    let first = s.start("fail_self", json!({})).await;
    let w = s.workflow(&first).await;
    assert_eq!(w["status"], "FAILED");
    assert!(w["output"]["conductor.failure_workflow"].is_string());
    let found = s
        .get_json("/workflow/search?query=workflowType%3Dfail_self&size=1000")
        .await;
    let n = found["totalHits"].as_i64().unwrap_or(0);
    // More than one (the chain was followed), but bounded.
    assert!(n > 1 && n <= 100, "chain length {n}");
    assert_eq!(s.get("/health").await.status().as_u16(), 200);
}
