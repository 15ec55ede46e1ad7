//! §5.3: the INLINE JavaScript limits (4 s, 32 MiB) and that runaway scripts do not stall the
//! rest of the server.

use super::helpers::*;
use crate::common::*;
use serde_json::json;
use std::sync::Arc;

fn inline_wf(name: &str, expression: &str) -> serde_json::Value {
    json!({
        "name": name, "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "js", "taskReferenceName": "js", "type": "INLINE",
                   "inputParameters": {"evaluatorType": "javascript", "expression": expression}}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_scripts_fail_by_limit_while_others_proceed() {
    let s = Arc::new(TestServer::spawn().await);
    s.register_workflow(inline_wf("op_js_spin", "while (true) {}"))
        .await;
    s.register_workflow(inline_wf(
        "op_js_hog",
        "var a = []; while (true) { a.push(new Array(100000).fill('xxxxxxxx')); }",
    ))
    .await;
    s.register_workflow(simple_workflow("op_js_bystander", &["by_task"]))
        .await;

    // The first decision runs the script inside the start request, so start both in the
    // background and, while they run, drive an ordinary workflow to completion.
    let spin = {
        let s = s.clone();
        tokio::spawn(async move { s.start("op_js_spin", json!({})).await })
    };
    let hog = {
        let s = s.clone();
        tokio::spawn(async move { s.start("op_js_hog", json!({})).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let health = s
        .client
        .get(format!("{}/health", s.root))
        .send()
        .await
        .expect("health");
    assert!(health.status().is_success());
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["healthy"], true);

    let id = s.start("op_js_bystander", json!({})).await;
    work_one(&s, "by_task", json!({"fine": true})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(task(&w, "by_task_ref")["outputData"]["fine"], true);

    let spin_id = spin.await.unwrap();
    let hog_id = hog.await.unwrap();
    let w = s.wait_for_status(&spin_id, "FAILED", WAIT).await;
    let js = task(&w, "js");
    assert_eq!(js["status"], "FAILED_WITH_TERMINAL_ERROR", "{}", pretty(js));
    let reason = js["reasonForIncompletion"].as_str().unwrap_or("");
    assert!(reason.contains("time limit"), "reason: {reason}");

    let w = s.wait_for_status(&hog_id, "FAILED", WAIT).await;
    let js = task(&w, "js");
    assert_eq!(js["status"], "FAILED_WITH_TERMINAL_ERROR", "{}", pretty(js));
    let reason = js["reasonForIncompletion"].as_str().unwrap_or("");
    assert!(reason.contains("memory"), "reason: {reason}");
}
