//! Every route of Conductor OSS's REST controllers (core and scheduler) reaches a Baton
//! handler: none falls through to the JSON 404 for unknown paths, none answers 405, and none
//! is caught by another route that reads one of its fixed segments as an id, a name or a
//! status. Unknown paths get a JSON 404 naming them.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// (method, path, body). Ids and names are made up: a 404 from the right handler is fine.
fn conductor_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    use Method as M;
    let ids = Some(json!(["nope-1"]));
    let map = Some(json!({}));
    vec![
        // WorkflowResource
        (M::POST, "/workflow", Some(json!({"name": "nope"}))),
        (M::POST, "/workflow/nope", map.clone()),
        (M::POST, "/workflow/execute/nope/1", Some(json!({}))),
        (M::GET, "/workflow/nope/correlated/c1", None),
        (M::POST, "/workflow/nope/correlated", Some(json!(["c1"]))),
        (M::GET, "/workflow/nope-1", None),
        (M::GET, "/workflow/nope-1/status", None),
        (M::GET, "/workflow/nope-1/tasks", None),
        (M::DELETE, "/workflow/nope-1/remove", None),
        (M::DELETE, "/workflow/nope-1/terminate-remove", None),
        (M::GET, "/workflow/running/nope", None),
        (M::PUT, "/workflow/decide/nope-1", None),
        (M::PUT, "/workflow/nope-1/pause", None),
        (M::PUT, "/workflow/nope-1/resume", None),
        (M::PUT, "/workflow/nope-1/skiptask/r1", None),
        (M::POST, "/workflow/nope-1/rerun", Some(json!({}))),
        (M::POST, "/workflow/nope-1/restart", None),
        (M::POST, "/workflow/nope-1/retry", None),
        (M::POST, "/workflow/nope-1/resetcallbacks", None),
        (M::DELETE, "/workflow/nope-1", None),
        (M::GET, "/workflow/search", None),
        (M::GET, "/workflow/search-v2", None),
        (M::GET, "/workflow/search-by-tasks", None),
        (M::GET, "/workflow/search-by-tasks-v2", None),
        (
            M::GET,
            "/workflow/externalstoragelocation?path=p&operation=WRITE&payloadType=WORKFLOW_INPUT",
            None,
        ),
        (
            M::GET,
            "/workflow/external-storage-location?path=p&operation=WRITE&payloadType=WORKFLOW_INPUT",
            None,
        ),
        (M::POST, "/workflow/test", Some(json!({"name": "nope"}))),
        // WorkflowBulkResource
        (M::PUT, "/workflow/bulk/pause", ids.clone()),
        (M::PUT, "/workflow/bulk/resume", ids.clone()),
        (M::POST, "/workflow/bulk/restart", ids.clone()),
        (M::POST, "/workflow/bulk/retry", ids.clone()),
        (M::POST, "/workflow/bulk/terminate", ids.clone()),
        (M::DELETE, "/workflow/bulk/remove", ids.clone()),
        (M::DELETE, "/workflow/bulk/terminate-remove", ids.clone()),
        (M::POST, "/workflow/bulk/search", ids.clone()),
        // TaskResource
        (M::GET, "/tasks/poll/nope_type", None),
        (M::GET, "/tasks/poll/batch/nope_type?timeout=0", None),
        (
            M::POST,
            "/tasks",
            Some(json!({"taskId": "t-1", "workflowInstanceId": "nope-1", "status": "COMPLETED"})),
        ),
        (
            M::POST,
            "/tasks/update-v2",
            Some(json!({"taskId": "t-1", "workflowInstanceId": "nope-1", "status": "COMPLETED"})),
        ),
        (M::POST, "/tasks/nope-1/r1/COMPLETED", map.clone()),
        (M::POST, "/tasks/nope-1/r1/COMPLETED/sync", map.clone()),
        (M::POST, "/tasks/nope-1/COMPLETED/signal", map.clone()),
        (M::POST, "/tasks/nope-1/COMPLETED/signal/sync", map.clone()),
        (M::POST, "/tasks/t-1/log", Some(json!("a line"))),
        (M::GET, "/tasks/t-1/log", None),
        (M::GET, "/tasks/t-1", None),
        (M::GET, "/tasks/queue/sizes?taskType=nope_type", None),
        (M::GET, "/tasks/queue/size?taskType=nope_type", None),
        (M::GET, "/tasks/queue/all/verbose", None),
        (M::GET, "/tasks/queue/all", None),
        (M::GET, "/tasks/queue/polldata?taskType=nope_type", None),
        (M::GET, "/tasks/queue/polldata/all", None),
        (M::POST, "/tasks/queue/requeue/nope_type", None),
        (M::GET, "/tasks/search", None),
        (M::GET, "/tasks/search-v2", None),
        (
            M::GET,
            "/tasks/externalstoragelocation?path=p&operation=READ&payloadType=TASK_OUTPUT",
            None,
        ),
        (
            M::GET,
            "/tasks/external-storage-location?path=p&operation=READ&payloadType=TASK_OUTPUT",
            None,
        ),
        // MetadataResource
        (M::POST, "/metadata/workflow", Some(json!({"name": ""}))),
        (
            M::POST,
            "/metadata/workflow/validate",
            Some(json!({"name": ""})),
        ),
        (M::PUT, "/metadata/workflow", Some(json!([]))),
        (M::GET, "/metadata/workflow/nope", None),
        (M::GET, "/metadata/workflow", None),
        (M::GET, "/metadata/workflow/names-and-versions", None),
        (M::GET, "/metadata/workflow/names", None),
        (M::GET, "/metadata/workflow/nope/versions", None),
        (M::GET, "/metadata/workflow/latest-versions", None),
        (M::DELETE, "/metadata/workflow/nope/1", None),
        (M::POST, "/metadata/taskdefs", Some(json!([]))),
        (
            M::PUT,
            "/metadata/taskdefs",
            Some(json!({"name": "nope_type"})),
        ),
        (M::GET, "/metadata/taskdefs", None),
        (M::GET, "/metadata/taskdefs/nope_type", None),
        (M::DELETE, "/metadata/taskdefs/nope_type", None),
        // EventResource
        (
            M::POST,
            "/event",
            Some(json!({"name": "h", "event": "e", "actions": []})),
        ),
        (
            M::PUT,
            "/event",
            Some(json!({"name": "nope", "event": "e", "actions": []})),
        ),
        (M::GET, "/event", None),
        (M::GET, "/event/e", None),
        (M::DELETE, "/event/nope", None),
        // AdminResource
        (M::GET, "/admin/config", None),
        (M::GET, "/admin/task/nope_type", None),
        (M::POST, "/admin/sweep/requeue/nope-1", None),
        (M::POST, "/admin/consistency/verifyAndRepair/nope-1", None),
        (M::GET, "/admin/queues", None),
        // QueueAdminResource
        (M::GET, "/queue/size", None),
        (M::GET, "/queue/", None),
        (M::POST, "/queue/update/nope-1/r1/COMPLETED", map.clone()),
        (
            M::POST,
            "/queue/update/nope-1/task/t-1/COMPLETED",
            map.clone(),
        ),
        // Environment, secrets, health, version
        (M::GET, "/environment", None),
        (M::GET, "/environment/KEY", None),
        (M::GET, "/secrets", None),
        (M::GET, "/health", None),
        (M::GET, "/version", None),
        // Scheduler
        (M::POST, "/scheduler/schedules", Some(json!({"name": ""}))),
        (M::GET, "/scheduler/schedules", None),
        (M::GET, "/scheduler/schedules/search", None),
        (M::GET, "/scheduler/schedules/nope", None),
        (M::DELETE, "/scheduler/schedules/nope", None),
        (M::PUT, "/scheduler/schedules/nope/pause", None),
        (M::GET, "/scheduler/schedules/nope/pause", None),
        (M::PUT, "/scheduler/schedules/nope/resume", None),
        (M::GET, "/scheduler/schedules/nope/resume", None),
        (
            M::GET,
            "/scheduler/nextFewSchedules?cronExpression=0%200%20*%20*%20*%20*",
            None,
        ),
        (M::GET, "/scheduler/search/executions", None),
        (M::PUT, "/scheduler/bulk/pause", Some(json!(["nope"]))),
        (M::PUT, "/scheduler/bulk/resume", Some(json!(["nope"]))),
    ]
}

#[tokio::test]
async fn every_conductor_route_reaches_its_handler() {
    let s = TestServer::spawn().await;
    let mut failures = Vec::new();
    for (method, path, body) in conductor_routes() {
        let mut req = s.client.request(method.clone(), s.url(path));
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        if status == StatusCode::METHOD_NOT_ALLOWED || message.starts_with("No endpoint") {
            failures.push(format!("{method} {path}: {status} {text}"));
            continue;
        }
        // A fixed segment of the route read as an id, a name or a status by another route.
        let route = path.split('?').next().unwrap_or(path);
        for segment in route.split('/').filter(|seg| {
            !seg.is_empty()
                && !seg.starts_with("nope")
                && !["t-1", "r1", "c1", "1", "e", "KEY", "COMPLETED"].contains(seg)
        }) {
            for tell in [format!("id: {segment}"), format!("'{segment}'")] {
                if message.contains(&tell) {
                    failures.push(format!(
                        "{method} {path}: misrouted, '{segment}' read as a value: {status} {text}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "routes that do not reach their handler:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn unknown_paths_get_a_json_404_naming_them() {
    let s = TestServer::spawn().await;
    for path in [
        "/nothing/here",
        "/workflow/a/b/c/d/e",
        "/tasks/queue/nope/more/deeper",
    ] {
        let resp = s.get(path).await;
        let v = expect_error(resp, StatusCode::NOT_FOUND, &["No endpoint", "GET"]).await;
        assert!(
            v["message"].as_str().unwrap_or_default().contains(path),
            "the 404 names the path {path}: {v}"
        );
    }
    let resp = s
        .client
        .patch(s.url("/workflow/search"))
        .send()
        .await
        .expect("PATCH");
    expect_error(resp, StatusCode::METHOD_NOT_ALLOWED, &["PATCH"]).await;
}

#[tokio::test]
async fn workflow_test_route_never_starts_a_workflow_named_test() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("test", &["rt_task"]))
        .await;
    // A by-name start body (an input map) is not a test request: no execution starts.
    let resp = s.post_json("/workflow/test", &json!({"x": 1})).await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["name"]).await;
    let found = s
        .get_json("/workflow/search?query=workflowType%3Dtest")
        .await;
    assert_eq!(
        found["totalHits"], 0,
        "no workflow named 'test' was started: {found}"
    );
}
