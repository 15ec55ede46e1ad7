//! Event handlers over HTTP (§2.11, §3.9, §5.16): handler CRUD and its errors, and EVENT tasks
//! whose published message drives handlers that start workflows, complete or fail tasks,
//! terminate workflows and update variables. Every wait is bounded.

mod common;

use common::{as_array, expect_error, expect_json, expect_status, tasks_by_ref, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// A workflow whose only task is an EVENT task `ref` on the default sink, with `input`.
fn event_workflow(name: &str, reference: &str, input: Value) -> Value {
    json!({
        "name": name, "version": 1, "schemaVersion": 2,
        "tasks": [{"name": reference, "taskReferenceName": reference, "type": "EVENT",
                   "sink": "conductor", "inputParameters": input}]
    })
}

/// A workflow that waits on a WAIT task `hold` (completed from outside), then a NOOP.
fn waiting_workflow(name: &str) -> Value {
    json!({
        "name": name, "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "hold", "taskReferenceName": "hold", "type": "WAIT"},
            {"name": "after", "taskReferenceName": "after", "type": "NOOP"}
        ]
    })
}

async fn create_handler(s: &TestServer, handler: Value) {
    let resp = s.post_json("/event", &handler).await;
    expect_status(resp, StatusCode::OK).await;
}

/// Polls `path` (bounded) until it answers a non-empty JSON array.
async fn wait_for_list(s: &TestServer, path: &str) -> Vec<Value> {
    for _ in 0..300 {
        let list = as_array(s.get_json(path).await);
        if !list.is_empty() {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("GET {path} stayed empty for ~15 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_crud_and_errors() {
    let s = TestServer::spawn().await;
    let handler = json!({
        "name": "h_crud", "event": "conductor:wf:ev", "condition": "$.x > 1",
        "actions": [{"action": "start_workflow", "start_workflow": {"name": "target"}}]
    });
    create_handler(&s, handler.clone()).await;

    // Duplicate name: 409.
    let resp = s.post_json("/event", &handler).await;
    expect_error(resp, StatusCode::CONFLICT, &["h_crud"]).await;
    // Update of a missing handler: 404.
    let mut other = handler.clone();
    other["name"] = json!("h_missing");
    let resp = s.put_json("/event", &other).await;
    expect_error(resp, StatusCode::NOT_FOUND, &["h_missing"]).await;

    // Listing: without `active` a handler is inactive, as in Conductor, so the active-only
    // view by event leaves it out until it is switched on.
    let all = as_array(s.get_json("/event").await);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["name"], "h_crud");
    assert_eq!(all[0]["active"], false, "active defaults to false: {all:?}");
    assert!(as_array(s.get_json("/event/conductor:wf:ev").await).is_empty());
    let mut active = handler.clone();
    active["active"] = json!(true);
    let resp = s.put_json("/event", &active).await;
    expect_status(resp, StatusCode::OK).await;
    assert_eq!(all[0]["condition"], "$.x > 1");
    assert_eq!(all[0]["actions"][0]["start_workflow"]["name"], "target");
    let on_event = as_array(s.get_json("/event/conductor:wf:ev").await);
    assert_eq!(on_event.len(), 1);
    assert!(as_array(s.get_json("/event/conductor:wf:other").await).is_empty());

    // Deactivate: gone from the active-only view, still there with activeOnly=false.
    let mut inactive = handler.clone();
    inactive["active"] = json!(false);
    let resp = s.put_json("/event", &inactive).await;
    expect_status(resp, StatusCode::OK).await;
    assert!(as_array(s.get_json("/event/conductor:wf:ev").await).is_empty());
    let with_inactive = as_array(s.get_json("/event/conductor:wf:ev?activeOnly=false").await);
    assert_eq!(with_inactive.len(), 1);
    assert_eq!(with_inactive[0]["active"], false);

    // Validation: 400 naming the field.
    let resp = s
        .post_json(
            "/event",
            &json!({"name": "", "event": "e", "actions": [{"action": "start_workflow",
                    "start_workflow": {"name": "t"}}]}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["name"]).await;
    let resp = s
        .post_json(
            "/event",
            &json!({"name": "n", "event": " ", "actions": [{"action": "start_workflow",
                    "start_workflow": {"name": "t"}}]}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["event"]).await;
    let resp = s
        .post_json(
            "/event",
            &json!({"name": "n", "event": "e", "actions": [{"action": "complete_task"}]}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["actions[0].complete_task"]).await;
    let resp = s
        .post_json(
            "/event",
            &json!({"name": "n", "event": "e", "actions": [{"action": "start_agent"}]}),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["action"]).await;
    let resp = s
        .post_json("/event", &json!({"name": "n", "event": "e", "actions": []}))
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["actions"]).await;

    // Delete, then 404.
    let resp = s.delete("/event/h_crud").await;
    expect_status(resp, StatusCode::OK).await;
    assert!(as_array(s.get_json("/event").await).is_empty());
    let resp = s.delete("/event/h_crud").await;
    expect_error(resp, StatusCode::NOT_FOUND, &["h_crud"]).await;

    // The published-events view bounds its limit.
    let resp = s.get("/event/published?limit=0").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["limit"]).await;
    let resp = s.get("/event/published?limit=5000").await;
    expect_error(resp, StatusCode::BAD_REQUEST, &["limit"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_starts_a_workflow_with_input_from_the_payload() {
    let s = TestServer::spawn().await;
    s.register_workflow(event_workflow(
        "ev_source",
        "ev",
        json!({"orderId": "${workflow.input.orderId}", "items": [1, 2]}),
    ))
    .await;
    s.register_workflow(waiting_workflow("ev_target")).await;
    create_handler(
        &s,
        json!({
            "name": "h_start", "active": true, "event": "conductor:ev_source:ev",
            "condition": "$.orderId.length > 0",
            "actions": [{"action": "start_workflow", "start_workflow": {
                "name": "ev_target", "version": 1,
                "correlationId": "${workflowInstanceId}",
                "input": {"orderId": "${orderId}", "count": "${items.length()}",
                          "from": "${workflowType}", "fixed": 7}
            }}]
        }),
    )
    .await;

    let source = s.start("ev_source", json!({"orderId": "o-42"})).await;
    let w = s.wait_for_status(&source, "COMPLETED", WAIT).await;
    let ev = tasks_by_ref(&w, "ev")[0].clone();
    assert_eq!(ev["outputData"]["event_produced"], "conductor:ev_source:ev");

    let started = wait_for_list(&s, "/workflow/running/ev_target").await;
    assert_eq!(
        started.len(),
        1,
        "exactly one workflow started: {started:?}"
    );
    let target = s.workflow(started[0].as_str().unwrap()).await;
    let input = &target["input"];
    assert_eq!(input["orderId"], "o-42", "{target}");
    assert_eq!(input["count"], 2, "{target}");
    assert_eq!(input["from"], "ev_source", "{target}");
    assert_eq!(input["fixed"], 7, "{target}");
    assert_eq!(input["conductor.event.name"], "conductor:ev_source:ev");
    assert_eq!(input["conductor.event.messageId"], ev["taskId"]);
    assert_eq!(target["correlationId"], source.as_str());

    // The message is in Baton's own event log.
    let published = as_array(
        s.get_json("/event/published?event=conductor:ev_source:ev")
            .await,
    );
    assert_eq!(published.len(), 1, "{published:?}");
    let msg = &published[0];
    assert_eq!(msg["event"], "conductor:ev_source:ev");
    assert_eq!(msg["messageId"], ev["taskId"]);
    assert_eq!(msg["message"]["orderId"], "o-42");
    assert_eq!(msg["message"]["workflowInstanceId"], source.as_str());
    assert!(msg["time"].as_i64().unwrap() > 0);
    assert!(msg["id"].as_i64().unwrap() > 0);
    let all = as_array(s.get_json("/event/published?limit=10").await);
    assert_eq!(all.len(), 1);
    assert!(as_array(s.get_json("/event/published?event=conductor:nothing").await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_completes_a_wait_task_of_another_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(waiting_workflow("ev_waiter")).await;
    s.register_workflow(event_workflow(
        "ev_notify",
        "notify",
        json!({"target": "${workflow.input.target}", "result": "${workflow.input.result}"}),
    ))
    .await;
    create_handler(
        &s,
        json!({
            "name": "h_complete", "active": true, "event": "conductor:ev_notify:notify",
            "actions": [{"action": "complete_task", "complete_task": {
                "workflowId": "${target}", "taskRefName": "hold",
                "output": {"result": "${result}"}
            }}]
        }),
    )
    .await;

    let waiter = s.start("ev_waiter", json!({})).await;
    s.wait_for(&waiter, "hold scheduled", WAIT, |w| {
        !tasks_by_ref(w, "hold").is_empty()
    })
    .await;
    let source = s
        .start("ev_notify", json!({"target": waiter, "result": "approved"}))
        .await;
    s.wait_for_status(&source, "COMPLETED", WAIT).await;
    let w = s.wait_for_status(&waiter, "COMPLETED", WAIT).await;
    let hold = tasks_by_ref(&w, "hold")[0];
    assert_eq!(hold["status"], "COMPLETED");
    assert_eq!(hold["outputData"]["result"], "approved", "{hold}");
    assert_eq!(
        hold["outputData"]["conductor.event.name"],
        "conductor:ev_notify:notify"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn false_conditions_and_inactive_handlers_do_nothing() {
    let s = TestServer::spawn().await;
    s.register_workflow(waiting_workflow("ev_quiet_waiter"))
        .await;
    s.register_workflow(event_workflow(
        "ev_quiet",
        "ping",
        json!({"target": "${workflow.input.target}", "go": false}),
    ))
    .await;
    let event = "conductor:ev_quiet:ping";
    // Would fail the waiter, but its condition is false.
    create_handler(
        &s,
        json!({
            "name": "a_false", "active": true, "event": event, "condition": "$.go === true",
            "actions": [{"action": "fail_task", "fail_task": {
                "workflowId": "${target}", "taskRefName": "hold",
                "reasonForIncompletion": "should not happen"}}]
        }),
    )
    .await;
    // Would terminate the waiter, but it is inactive.
    create_handler(
        &s,
        json!({
            "name": "b_inactive", "event": event, "active": false,
            "actions": [{"action": "terminate_workflow", "terminate_workflow": {
                "workflowId": "${target}", "terminationReason": "should not happen"}}]
        }),
    )
    .await;
    // Would terminate it too, but says nothing of `active`: inactive, as in Conductor.
    create_handler(
        &s,
        json!({
            "name": "b_unset", "event": event,
            "actions": [{"action": "terminate_workflow", "terminate_workflow": {
                "workflowId": "${target}", "terminationReason": "should not happen either"}}]
        }),
    )
    .await;
    // A condition that throws is skipped too.
    create_handler(
        &s,
        json!({
            "name": "c_throws", "active": true, "event": event, "condition": "$.nope.deeper === 1",
            "actions": [{"action": "complete_task", "complete_task": {
                "workflowId": "${target}", "taskRefName": "hold"}}]
        }),
    )
    .await;
    // Runs (last, by name), which shows the message was processed: appends to a variable.
    create_handler(
        &s,
        json!({
            "name": "d_marker", "active": true, "event": event, "condition": "$.go === false",
            "actions": [{"action": "update_workflow_variables", "update_workflow_variables": {
                "workflowId": "${target}", "variables": {"seen": ["${go}"]}, "appendArray": true}}]
        }),
    )
    .await;

    let waiter = s.start("ev_quiet_waiter", json!({})).await;
    s.wait_for(&waiter, "hold scheduled", WAIT, |w| {
        !tasks_by_ref(w, "hold").is_empty()
    })
    .await;
    for _ in 0..2 {
        let source = s.start("ev_quiet", json!({"target": waiter})).await;
        s.wait_for_status(&source, "COMPLETED", WAIT).await;
    }
    let w = s
        .wait_for(&waiter, "the marker handler ran twice", WAIT, |w| {
            w["variables"]["seen"] == json!([false, false])
        })
        .await;
    assert_eq!(w["status"], "RUNNING", "{w}");
    let hold = tasks_by_ref(&w, "hold")[0];
    assert!(
        hold["status"] == "IN_PROGRESS" || hold["status"] == "SCHEDULED",
        "{hold}"
    );
    let published = as_array(s.get_json(&format!("/event/published?event={event}")).await);
    assert_eq!(published.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_action_reads_expanded_inline_json() {
    let s = TestServer::spawn().await;
    s.register_workflow(waiting_workflow("ev_victim")).await;
    s.register_workflow(event_workflow(
        "ev_kill",
        "kill",
        json!({"data": "${workflow.input.data}"}),
    ))
    .await;
    create_handler(
        &s,
        json!({
            "name": "h_kill", "active": true, "event": "conductor:ev_kill:kill",
            "actions": [{"action": "terminate_workflow", "expandInlineJSON": true,
                "terminate_workflow": {"workflowId": "${data.victim}",
                                       "terminationReason": "stopped by ${data.who}"}}]
        }),
    )
    .await;
    let victim = s.start("ev_victim", json!({})).await;
    let data = json!({"victim": victim, "who": "ops"}).to_string();
    let source = s.start("ev_kill", json!({"data": data})).await;
    s.wait_for_status(&source, "COMPLETED", WAIT).await;
    let w = s.wait_for_status(&victim, "TERMINATED", WAIT).await;
    assert_eq!(w["reasonForIncompletion"], "stopped by ops", "{w}");
    // The published message keeps the string as sent.
    let published = as_array(
        s.get_json("/event/published?event=conductor:ev_kill:kill")
            .await,
    );
    assert!(published[0]["message"]["data"].is_string());
    let resp = s
        .get("/event/published?event=conductor:ev_kill:kill&limit=1")
        .await;
    assert_eq!(as_array(expect_json(resp, StatusCode::OK).await).len(), 1);
}
