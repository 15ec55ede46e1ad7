//! An endless DO_WHILE is stopped (issue 9, defect 8): by the configured iteration limit,
//! with a reason that names it, and by a terminate, which gets its turn while the loop runs.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A loop whose condition is always true over a body of synchronous tasks.
fn endless(name: &str) -> Value {
    json!({
        "name": name, "version": 1, "schemaVersion": 2,
        "tasks": [{
            "name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
            "loopCondition": "true",
            "loopOver": [
                {"name": "tick", "taskReferenceName": "tick", "type": "INLINE",
                 "inputParameters": {"evaluatorType": "javascript", "expression": "1 + 1"}},
                {"name": "note", "taskReferenceName": "note", "type": "SET_VARIABLE",
                 "inputParameters": {"seen": "${tick.output.result}"}}
            ]
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_fails_at_the_iteration_limit() {
    let s = TestServer::with_runtime_config(baton_runtime::RuntimeConfig {
        max_loop_iterations: 40,
        ..Default::default()
    })
    .await;
    s.register_workflow(endless("loop_capped")).await;
    let id = s.start("loop_capped", json!({})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let lp = tasks_by_ref(&w, "loop")[0];
    assert_eq!(lp["status"], "FAILED_WITH_TERMINAL_ERROR");
    assert_eq!(lp["iteration"], 40);
    let reason = lp["reasonForIncompletion"].as_str().unwrap_or_default();
    assert!(
        reason.contains("iteration limit of 40") && reason.contains("--max-loop-iterations"),
        "{reason}"
    );
    // Exactly 40 iterations of the body ran.
    let ticks = w["tasks"]
        .as_array()
        .map(|t| t.iter().filter(|t| t["taskType"] == "INLINE").count())
        .unwrap_or(0);
    assert_eq!(ticks, 40);
    assert!(w["reasonForIncompletion"]
        .as_str()
        .unwrap_or_default()
        .contains("iteration limit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminate_stops_an_endless_loop_while_it_runs() {
    let s = TestServer::with_runtime_config(baton_runtime::RuntimeConfig {
        max_loop_iterations: u32::MAX,
        decision_time_budget: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    s.register_workflow(endless("loop_endless")).await;
    let id = s.start("loop_endless", json!({})).await;
    // Let it run through a few decisions.
    s.wait_for(&id, "the loop is past iteration 20", WAIT, |w| {
        tasks_by_ref(w, "loop")
            .first()
            .and_then(|t| t["iteration"].as_i64())
            .is_some_and(|n| n > 20)
    })
    .await;
    // The terminate gets its turn between two decisions (the client gives up after 20 s).
    let resp = s.delete(&format!("/workflow/{id}?reason=enough")).await;
    expect_status(resp, reqwest::StatusCode::OK).await;
    let w = s.wait_for_status(&id, "TERMINATED", WAIT).await;
    assert_eq!(tasks_by_ref(&w, "loop")[0]["status"], "CANCELED");
    // Nothing runs after the terminate: the task list is final.
    let after = s.workflow(&id).await;
    assert_eq!(after["tasks"], w["tasks"]);
    assert_eq!(s.get("/health").await.status().as_u16(), 200);
}
