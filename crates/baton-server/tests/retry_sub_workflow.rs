//! Retry into a sub-workflow (`POST /api/workflow/{id}/retry?resumeSubworkflowTasks=true`).

mod common;

use common::TestServer;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_resumes_the_failed_child_in_place() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "rs_child_task", "retryCount": 0}))
        .await;
    s.register_workflow(json!({
        "name": "rs_child", "version": 1,
        "tasks": [{"name": "rs_child_task", "taskReferenceName": "work"}],
        "outputParameters": {"v": "${work.output.v}"}
    }))
    .await;
    s.register_workflow(json!({
        "name": "rs_parent", "version": 1,
        "tasks": [{"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
                   "subWorkflowParam": {"name": "rs_child", "version": 1}}],
        "outputParameters": {"v": "${sub.output.v}"}
    }))
    .await;
    let parent = s.start("rs_parent", json!({})).await;
    let task = s.poll_one("rs_child_task").await;
    let child = task["workflowInstanceId"].as_str().unwrap().to_string();
    s.fail(&task, "first try breaks").await;
    s.wait_for_status(&child, "FAILED", WAIT).await;
    s.wait_for_status(&parent, "FAILED", WAIT).await;

    let resp = s
        .client
        .post(s.url(&format!(
            "/workflow/{parent}/retry?resumeSubworkflowTasks=true"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let w = s.workflow(&parent).await;
    assert_eq!(w["status"], "RUNNING");
    let sub_tasks: Vec<&serde_json::Value> = w["tasks"].as_array().unwrap().iter().collect();
    assert_eq!(
        sub_tasks.len(),
        1,
        "the SUB_WORKFLOW task is re-opened, not replaced"
    );
    assert_eq!(sub_tasks[0]["status"], "IN_PROGRESS");
    assert_eq!(s.workflow(&child).await["status"], "RUNNING");

    let again = s.poll_one("rs_child_task").await;
    assert_eq!(
        again["workflowInstanceId"],
        child.as_str(),
        "the same child runs on"
    );
    s.complete(&again, json!({"v": 7})).await;
    let done = s.wait_for_status(&parent, "COMPLETED", WAIT).await;
    assert_eq!(done["output"]["v"], 7);
}
