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
    // The chain is followed up to the default workflow depth, then stops: the first
    // workflow and one failure workflow per level.
    let want = baton_runtime::RuntimeConfig::DEFAULT_MAX_WORKFLOW_DEPTH as i64 + 1;
    let mut n = 0;
    for _ in 0..400 {
        let found = s
            .get_json(
                "/workflow/search?query=workflowType%3Dfail_self%20AND%20status%3DFAILED&size=1",
            )
            .await;
        n = found["totalHits"].as_i64().unwrap_or(0);
        if n >= want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(n, want, "chain length");
    // Each failure workflow carries the one before it, not the whole chain nested.
    let page = s
        .get_json("/workflow/search?query=workflowType%3Dfail_self&size=1000")
        .await;
    for w in page["results"].as_array().into_iter().flatten() {
        let id = w["workflowId"].as_str().unwrap_or_default();
        let full = s.workflow(id).await;
        let inner = &full["input"]["failedWorkflow"]["input"];
        assert!(
            inner.get("failedWorkflow").is_none(),
            "nested chain in {id}"
        );
    }
    assert_eq!(s.get("/health").await.status().as_u16(), 200);
}
