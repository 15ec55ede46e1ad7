//! Domain selection from a `taskToDomain` list (CONDUCTOR-API §4.11).

mod common;

use common::{simple_workflow, TestServer};
use serde_json::json;
use std::time::Duration;

async fn start_with_domains(s: &TestServer, list: &str) -> String {
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "dom_wf", "version": 1, "taskToDomain": {"dom_task": list}}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.unwrap()
}

#[tokio::test]
async fn the_first_domain_with_a_live_worker_wins_else_the_last() {
    let s = TestServer::with_manual_clock(Default::default()).await;
    s.register_workflow(simple_workflow("dom_wf", &["dom_task"]))
        .await;

    // Nobody polls any of the domains: the last entry, NO_DOMAIN, means no domain.
    let id = start_with_domains(&s, "alpha,beta,NO_DOMAIN").await;
    let w = s.workflow(&id).await;
    assert!(w["tasks"][0].get("domain").is_none(), "{w}");
    assert_eq!(s.poll_batch("dom_task", 1, 0).await.len(), 1);

    // A worker polls domain beta: the next start picks beta, and only beta's pollers see it.
    let empty = s
        .get_json("/tasks/poll/batch/dom_task?domain=beta&count=1&timeout=0")
        .await;
    assert_eq!(empty, json!([]));
    // Poll data is read at most once a second.
    s.advance(Duration::from_millis(1100)).await;
    let id = start_with_domains(&s, "alpha,beta,NO_DOMAIN").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["tasks"][0]["domain"], "beta", "{w}");
    assert!(s.poll_batch("dom_task", 1, 0).await.is_empty());
    let got = s
        .get_json("/tasks/poll/batch/dom_task?domain=beta&count=1&timeout=0")
        .await;
    assert_eq!(got[0]["workflowInstanceId"], id.as_str());
}
