//! A source database written through a real server: definitions, a schedule, an event
//! handler, finished workflows, running ones with a task queued and one claimed.

use super::api::{post, start, wait_ended};
use super::server::ServerProcess;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

pub const WF: &str = "migrate_chain";

/// Polls one task of `task_type` (waiting up to 5 s).
pub async fn poll(base: &str, task_type: &str) -> Option<Value> {
    let client = reqwest::Client::new();
    let resp = client
        .get(format!(
            "{base}/api/tasks/poll/{task_type}?workerid=t&timeout=5000"
        ))
        .send()
        .await
        .expect("poll");
    if resp.status() == reqwest::StatusCode::NO_CONTENT {
        return None;
    }
    let text = resp.text().await.unwrap_or_default();
    serde_json::from_str(&text)
        .ok()
        .filter(|v: &Value| v.is_object())
}

pub async fn complete(base: &str, task: &Value) {
    post(
        base,
        "/api/tasks",
        json!({
            "workflowInstanceId": task["workflowInstanceId"],
            "taskId": task["taskId"],
            "status": "COMPLETED",
            "outputData": {"by": "test"},
        }),
    )
    .await;
}

/// Works the `step_*` queues until `ids` have all ended.
pub async fn drive(base: &str, ids: &[String]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut worked = false;
        for t in ["step_a", "step_b"] {
            while let Some(task) = poll(base, t).await {
                complete(base, &task).await;
                worked = true;
            }
        }
        let mut open = 0;
        for id in ids {
            let wf = super::api::get(base, &format!("/api/workflow/{id}")).await;
            if wf["status"] == "RUNNING" {
                open += 1;
            }
        }
        if open == 0 {
            return wait_ended(base, ids, Duration::from_secs(5)).await;
        }
        assert!(Instant::now() < deadline, "{open} still running");
        if !worked {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub struct Source {
    pub finished: Vec<String>,
    pub running: Vec<String>,
    /// A task claimed on SQLite and not yet completed: its worker completes it after the move.
    pub claimed: Value,
}

/// Writes the source store through a real server on `dir/baton.db`, then stops it.
pub async fn fill_sqlite(dir: &Path) -> Source {
    let server = ServerProcess::start(dir).await;
    let base = server.base();
    post(
        &base,
        "/api/metadata/taskdefs",
        json!([{"name": "step_a", "retryCount": 0, "responseTimeoutSeconds": 3600},
               {"name": "step_b", "retryCount": 0, "responseTimeoutSeconds": 3600}]),
    )
    .await;
    post(
        &base,
        "/api/metadata/workflow",
        json!({"name": WF, "version": 1, "schemaVersion": 2, "tasks": [
            {"name": "step_a", "taskReferenceName": "a", "type": "SIMPLE"},
            {"name": "step_b", "taskReferenceName": "b", "type": "SIMPLE"}
        ]}),
    )
    .await;
    post(
        &base,
        "/api/scheduler/schedules",
        json!({"name": "nightly", "cronExpression": "0 0 3 * * ?", "paused": true,
               "startWorkflowRequest": {"name": WF, "version": 1}}),
    )
    .await;
    post(
        &base,
        "/api/event",
        json!({"name": "on_ping", "event": "conductor:ping", "active": true,
               "actions": [{"action": "start_workflow", "start_workflow": {"name": WF}}]}),
    )
    .await;
    let mut finished = Vec::new();
    for n in 0..3 {
        finished.push(start(&base, json!({"name": WF, "input": {"n": n}})).await);
    }
    drive(&base, &finished).await;
    let mut running = Vec::new();
    for n in 0..3 {
        running.push(start(&base, json!({"name": WF, "input": {"n": 10 + n}})).await);
    }
    let claimed = poll(&base, "step_a").await.expect("a task to claim");
    drop(server);
    Source {
        finished,
        running,
        claimed,
    }
}
