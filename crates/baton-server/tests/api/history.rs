//! `GET /api/workflow/{id}/history`: Baton's audit trail.

use crate::common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn history_of_a_completed_three_task_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("wf_hist", &["h1", "h2", "h3"]))
        .await;
    let id = s.start("wf_hist", json!({})).await;
    let mut task_ids = Vec::new();
    for name in ["h1", "h2", "h3"] {
        let t = s.poll_one(name).await;
        task_ids.push(t["taskId"].as_str().unwrap().to_string());
        s.complete(&t, json!({"from": name})).await;
    }
    s.wait_for_status(&id, "COMPLETED", Duration::from_secs(5))
        .await;

    let events = s.history(&id).await;
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["workflowId"] == id.as_str()));
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids must increase: {ids:?}"
    );
    let times: Vec<i64> = events.iter().map(|e| e["time"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    let wf_events: Vec<&str> = events
        .iter()
        .filter(|e| e["entity"] == "WORKFLOW")
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(wf_events.first(), Some(&"RUNNING"), "{events:?}");
    assert_eq!(wf_events.last(), Some(&"COMPLETED"), "{events:?}");
    assert_eq!(events.first().unwrap()["entity"], "WORKFLOW");
    assert_eq!(events.first().unwrap()["status"], "RUNNING");
    assert_eq!(events.last().unwrap()["entity"], "WORKFLOW");
    assert_eq!(events.last().unwrap()["status"], "COMPLETED");

    for (i, tid) in task_ids.iter().enumerate() {
        let mine: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["entity"] == "TASK" && e["taskId"] == tid.as_str())
            .collect();
        let statuses: Vec<&str> = mine.iter().map(|e| e["status"].as_str().unwrap()).collect();
        assert_eq!(
            statuses,
            vec!["SCHEDULED", "IN_PROGRESS", "COMPLETED"],
            "task {tid}: {mine:?}"
        );
        let name = format!("h{}", i + 1);
        assert!(mine
            .iter()
            .all(|e| e["referenceTaskName"] == format!("{name}_ref")));
        assert_eq!(mine[1]["workerId"], "test-worker", "{mine:?}");
    }
    // tasks ran one after another
    let pos = |tid: &str, status: &str| {
        events
            .iter()
            .position(|e| e["taskId"] == tid && e["status"] == status)
            .unwrap()
    };
    assert!(pos(&task_ids[0], "COMPLETED") < pos(&task_ids[1], "SCHEDULED"));
    assert!(pos(&task_ids[1], "COMPLETED") < pos(&task_ids[2], "SCHEDULED"));
}
