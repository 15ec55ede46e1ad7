//! §5.2–5.3, §5.9–5.18: the computing and waiting system tasks.

use super::helpers::*;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

fn child_def() -> serde_json::Value {
    json!({
        "name": "op_child", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "child_task", "taskReferenceName": "child_task", "type": "SIMPLE",
                   "retryCount": 0, "inputParameters": {"x": "${workflow.input.x}"}}],
        "outputParameters": {"childOut": "${child_task.output.v}"}
    })
}

fn parent_def(name: &str, child: &str) -> serde_json::Value {
    json!({
        "name": name, "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
                   "subWorkflowParam": {"name": child, "version": 1},
                   "inputParameters": {"x": "${workflow.input.x}"}}],
        "outputParameters": {"fromChild": "${sub.output.childOut}"}
    })
}

#[tokio::test]
async fn sub_workflow_by_name_runs_child_and_returns_its_output() {
    let s = TestServer::spawn().await;
    s.register_workflow(child_def()).await;
    s.register_workflow(parent_def("op_parent", "op_child"))
        .await;
    let id = start_req(
        &s,
        json!({"name": "op_parent", "input": {"x": 7}, "correlationId": "corr-sub"}),
    )
    .await;
    let t = s.poll_one("child_task").await;
    let child_id = t["workflowInstanceId"].as_str().unwrap().to_string();
    assert_ne!(child_id, id);
    assert_eq!(t["inputData"]["x"], 7);
    let child = s.workflow(&child_id).await;
    assert_eq!(child["parentWorkflowId"], id.as_str(), "{}", pretty(&child));
    assert_eq!(child["correlationId"], "corr-sub");
    // The child starts, then the parent's task records its id (two commits): wait for both.
    let w = s
        .wait_for(&id, "the sub task records the child", WAIT, |w| {
            task(w, "sub")["subWorkflowId"] == child_id.as_str()
        })
        .await;
    assert_eq!(child["parentWorkflowTaskId"], task(&w, "sub")["taskId"]);

    s.complete(&t, json!({"v": "child-value"})).await;
    s.wait_for_status(&child_id, "COMPLETED", WAIT).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let sub = task(&w, "sub");
    assert_eq!(sub["status"], "COMPLETED");
    assert_eq!(
        sub["outputData"]["childOut"],
        "child-value",
        "{}",
        pretty(sub)
    );
    assert_eq!(sub["outputData"]["subWorkflowId"], child_id.as_str());
    assert_eq!(w["output"]["fromChild"], "child-value");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_workflow_inline_definition() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_parent_inline", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
                   "inputParameters": {"n": "${workflow.input.n}"},
                   "subWorkflowParam": {"name": "inline_child", "version": 1,
                       "workflowDefinition": {
                           "name": "inline_child", "version": 1, "schemaVersion": 2,
                           "tasks": [{"name": "double", "taskReferenceName": "double",
                                      "type": "JSON_JQ_TRANSFORM",
                                      "inputParameters": {"n": "$${workflow.input.n}",
                                                          "queryExpression": ".n * 2"}}],
                           "outputParameters": {"doubled": "$${double.output.result}"}}}}],
        "outputParameters": {"doubled": "${sub.output.doubled}"}
    }))
    .await;
    let id = s.start("op_parent_inline", json!({"n": 21})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["output"]["doubled"], 42, "{}", pretty(&w));
    let child_id = task(&w, "sub")["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    let child = s.workflow(&child_id).await;
    assert_eq!(child["status"], "COMPLETED");
    assert_eq!(child["workflowName"], "inline_child");
}

#[tokio::test]
async fn sub_workflow_that_times_out_fails_the_parent() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_child_slow", "version": 1, "schemaVersion": 2,
        "timeoutSeconds": 1, "timeoutPolicy": "TIME_OUT_WF",
        "tasks": [{"name": "nobody_polls", "taskReferenceName": "nobody_polls", "type": "SIMPLE"}]
    }))
    .await;
    s.register_workflow(parent_def("op_parent_slow", "op_child_slow"))
        .await;
    let id = s.start("op_parent_slow", json!({"x": 1})).await;
    let w = wait_terminal(&s, &id).await;
    let sub = task(&w, "sub");
    let child_id = sub["subWorkflowId"].as_str().expect("child id").to_string();
    let child = s.workflow(&child_id).await;
    assert_eq!(child["status"], "TIMED_OUT", "{}", pretty(&child));
    assert_eq!(status_of(&child, "nobody_polls"), "CANCELED");
    let sub_status = sub["status"].as_str().unwrap();
    assert!(
        matches!(sub_status, "TIMED_OUT" | "FAILED"),
        "parent's SUB_WORKFLOW task: {}",
        pretty(sub)
    );
    let status = w["status"].as_str().unwrap();
    assert!(
        matches!(status, "TIMED_OUT" | "FAILED"),
        "parent must fail or time out, got {status}: {}",
        pretty(&w)
    );
}

#[tokio::test]
async fn terminating_parent_terminates_running_child() {
    let s = TestServer::spawn().await;
    s.register_workflow(child_def()).await;
    s.register_workflow(parent_def("op_parent_term", "op_child"))
        .await;
    let id = s.start("op_parent_term", json!({"x": 1})).await;
    let w = s
        .wait_for(&id, "child started", WAIT, |w| {
            tasks_by_ref(w, "sub")
                .first()
                .is_some_and(|t| t["subWorkflowId"].is_string())
        })
        .await;
    let child_id = task(&w, "sub")["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    s.wait_for_status(&child_id, "RUNNING", WAIT).await;
    let resp = s.delete(&format!("/workflow/{id}?reason=stop%20all")).await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.wait_for_status(&id, "TERMINATED", WAIT).await;
    assert_eq!(status_of(&w, "sub"), "CANCELED", "{}", pretty(&w));
    let child = s.wait_for_status(&child_id, "TERMINATED", WAIT).await;
    assert_eq!(status_of(&child, "child_task"), "CANCELED");
    assert!(s.poll_batch("child_task", 1, 200).await.is_empty());
}

#[tokio::test]
async fn wait_with_duration_completes_by_itself() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_wait_dur", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "w", "taskReferenceName": "w", "type": "WAIT",
             "inputParameters": {"duration": "1s"}},
            {"name": "after", "taskReferenceName": "after", "type": "NOOP"}
        ]
    }))
    .await;
    let id = s.start("op_wait_dur", json!({})).await;
    let w = s.workflow(&id).await;
    assert_eq!(status_of(&w, "w"), "IN_PROGRESS");
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let t = task(&w, "w");
    assert_eq!(t["status"], "COMPLETED");
    let waited = t["endTime"].as_i64().unwrap() - t["scheduledTime"].as_i64().unwrap();
    assert!(
        waited >= 1000,
        "WAIT ended after {waited} ms: {}",
        pretty(t)
    );
    assert_eq!(status_of(&w, "after"), "COMPLETED");
}

async fn completed_by_ref(task_type: &str) {
    let s = TestServer::with_manual_clock(Default::default()).await;
    let name = format!("op_ext_{}", task_type.to_lowercase());
    s.register_workflow(json!({
        "name": name, "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "gate", "taskReferenceName": "gate", "type": task_type},
            {"name": "after", "taskReferenceName": "after", "type": "SET_VARIABLE",
             "inputParameters": {"approved": "${gate.output.approved}"}}
        ],
        "outputParameters": {"approved": "${workflow.variables.approved}"}
    }))
    .await;
    let id = s.start(&name, json!({})).await;
    s.wait_for(&id, "the gate to open", Duration::from_secs(10), |w| {
        status_of(w, "gate") == "IN_PROGRESS"
    })
    .await;
    // Nothing but an outside party ends the gate: not a day's worth of timers.
    s.advance(Duration::from_secs(86_400)).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(status_of(&w, "gate"), "IN_PROGRESS", "{}", pretty(&w));
    let gate_id = task(&w, "gate")["taskId"].as_str().unwrap().to_string();
    let resp = s
        .post_json(
            &format!("/tasks/{id}/gate/COMPLETED?workerid=reviewer"),
            &json!({"approved": "yes"}),
        )
        .await;
    assert_eq!(expect_status(resp, StatusCode::OK).await, gate_id);
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(task(&w, "gate")["outputData"]["approved"], "yes");
    assert_eq!(w["output"]["approved"], "yes", "{}", pretty(&w));
}

#[tokio::test]
async fn wait_without_duration_is_completed_through_the_ref_api() {
    completed_by_ref("WAIT").await;
}

#[tokio::test]
async fn human_is_completed_through_the_ref_api() {
    completed_by_ref("HUMAN").await;
}

#[tokio::test]
async fn terminate_completed_ends_with_workflow_output() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_term_ok", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "term", "taskReferenceName": "term", "type": "TERMINATE",
             "inputParameters": {"terminationStatus": "COMPLETED",
                                 "workflowOutput": {"x": "${workflow.input.x}", "why": "done early"}}},
            {"name": "never", "taskReferenceName": "never", "type": "SIMPLE"}
        ]
    }))
    .await;
    let id = s.start("op_term_ok", json!({"x": 5})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(
        w["output"],
        json!({"x": 5, "why": "done early"}),
        "{}",
        pretty(&w)
    );
    assert_eq!(status_of(&w, "term"), "COMPLETED");
    assert!(!has_task(&w, "never"));
}

#[tokio::test]
async fn terminate_failed_cancels_other_branch() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_term_fail", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
             "forkTasks": [
                 [{"name": "tf_pending", "taskReferenceName": "tf_pending", "type": "SIMPLE"}],
                 [{"name": "term", "taskReferenceName": "term", "type": "TERMINATE",
                   "inputParameters": {"terminationStatus": "FAILED",
                                       "terminationReason": "stop here",
                                       "workflowOutput": {"code": 42}}}]
             ]},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN",
             "joinOn": ["tf_pending", "term"]}
        ]
    }))
    .await;
    let id = s.start("op_term_fail", json!({})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(w["output"]["code"], 42, "{}", pretty(&w));
    assert!(
        w["reasonForIncompletion"]
            .as_str()
            .unwrap_or("")
            .contains("stop here"),
        "{}",
        w["reasonForIncompletion"]
    );
    assert_eq!(status_of(&w, "tf_pending"), "CANCELED");
    assert_ne!(status_of(&w, "join"), "COMPLETED");
}

#[tokio::test]
async fn set_variable_then_read_it_back() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_setvar", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "set1", "taskReferenceName": "set1", "type": "SET_VARIABLE",
             "inputParameters": {"x": "${workflow.input.v}", "keep": "kept"}},
            {"name": "sv_w", "taskReferenceName": "sv_w", "type": "SIMPLE",
             "inputParameters": {"x": "${workflow.variables.x}"}},
            {"name": "set2", "taskReferenceName": "set2", "type": "SET_VARIABLE",
             "inputParameters": {"x": "overwritten"}}
        ],
        "outputParameters": {"x": "${workflow.variables.x}", "keep": "${workflow.variables.keep}"}
    }))
    .await;
    let id = s.start("op_setvar", json!({"v": "from-input"})).await;
    let t = s.poll_one("sv_w").await;
    assert_eq!(t["inputData"]["x"], "from-input", "{t}");
    let w = s.workflow(&id).await;
    assert_eq!(w["variables"]["x"], "from-input");
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["variables"]["x"], "overwritten");
    assert_eq!(w["output"], json!({"x": "overwritten", "keep": "kept"}));
}

#[tokio::test]
async fn noop_completes_without_output() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_noop", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "n", "taskReferenceName": "n", "type": "NOOP"},
            {"name": "noop_after", "taskReferenceName": "noop_after", "type": "SIMPLE"}
        ]
    }))
    .await;
    let id = s.start("op_noop", json!({})).await;
    let w = s.workflow(&id).await;
    let n = task(&w, "n");
    assert_eq!(n["status"], "COMPLETED");
    assert_eq!(n["taskType"], "NOOP");
    assert!(n["outputData"].as_object().is_none_or(|m| m.is_empty()));
    work_one(&s, "noop_after", json!({})).await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;
}

#[tokio::test]
async fn dynamic_runs_the_named_task() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_dynamic", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "dyn", "taskReferenceName": "dyn", "type": "DYNAMIC",
                   "dynamicTaskNameParam": "taskToExecute",
                   "inputParameters": {"taskToExecute": "${workflow.input.which}", "p": 1}}],
        "outputParameters": {"r": "${dyn.output.r}"}
    }))
    .await;
    let id = s.start("op_dynamic", json!({"which": "dyn_target"})).await;
    let t = s.poll_one("dyn_target").await;
    assert_eq!(t["taskType"], "dyn_target");
    assert_eq!(t["taskDefName"], "dyn_target");
    assert_eq!(t["referenceTaskName"], "dyn");
    assert_eq!(t["inputData"]["p"], 1);
    s.complete(&t, json!({"r": "ran"})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["output"]["r"], "ran");
}

#[tokio::test]
async fn start_workflow_starts_an_independent_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_started", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "set", "taskReferenceName": "set", "type": "SET_VARIABLE",
                   "inputParameters": {"from": "${workflow.input.from}"}}],
        "outputParameters": {"from": "${workflow.variables.from}"}
    }))
    .await;
    s.register_workflow(json!({
        "name": "op_starter", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "sw", "taskReferenceName": "sw", "type": "START_WORKFLOW",
                   "inputParameters": {"startWorkflow": {
                       "name": "op_started", "version": 1,
                       "input": {"from": "${workflow.input.tag}"}}}}],
        "outputParameters": {"started": "${sw.output.workflowId}"}
    }))
    .await;
    let id = start_req(
        &s,
        json!({"name": "op_starter", "input": {"tag": "T1"}, "correlationId": "corr-sw"}),
    )
    .await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let started = w["output"]["started"]
        .as_str()
        .expect("workflowId")
        .to_string();
    assert_ne!(started, id);
    assert_eq!(task(&w, "sw")["outputData"]["workflowId"], started.as_str());
    let other = s.wait_for_status(&started, "COMPLETED", WAIT).await;
    assert_eq!(other["workflowName"], "op_started");
    assert_eq!(other["output"]["from"], "T1");
    assert_eq!(
        other["correlationId"], "corr-sw",
        "defaults to the parent's"
    );
    assert!(other["parentWorkflowId"].is_null(), "no parent linkage");
}

#[tokio::test]
async fn event_publishes_to_expanded_sink() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_event", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "ev", "taskReferenceName": "ev", "type": "EVENT", "sink": "conductor",
             "inputParameters": {"payload": "${workflow.input.p}"}},
            {"name": "ev2", "taskReferenceName": "ev2", "type": "EVENT", "sink": "conductor:myqueue",
             "inputParameters": {"n": 2}}
        ]
    }))
    .await;
    let id = start_req(
        &s,
        json!({"name": "op_event", "input": {"p": {"k": "v"}}, "correlationId": "corr-ev"}),
    )
    .await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let ev = task(&w, "ev");
    assert_eq!(ev["status"], "COMPLETED");
    let out = &ev["outputData"];
    assert_eq!(
        out["event_produced"],
        "conductor:op_event:ev",
        "{}",
        pretty(out)
    );
    assert_eq!(out["payload"], json!({"k": "v"}));
    assert_eq!(out["workflowInstanceId"], id.as_str());
    assert_eq!(out["workflowType"], "op_event");
    assert_eq!(out["correlationId"], "corr-ev");
    assert_eq!(
        task(&w, "ev2")["outputData"]["event_produced"],
        "conductor:op_event:myqueue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_javascript_and_value_param() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_inline", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "js", "taskReferenceName": "js", "type": "INLINE",
             "inputParameters": {"evaluatorType": "javascript",
                 "expression": "(function () { return {sum: $.a + $.b, list: [$.a, 1.5], s: 'x' + $.a}; })()",
                 "a": "${workflow.input.a}", "b": 3}},
            {"name": "vp", "taskReferenceName": "vp", "type": "INLINE",
             "inputParameters": {"evaluatorType": "value-param", "expression": "pick",
                                 "pick": "${js.output.result.sum}"}}
        ],
        "outputParameters": {"js": "${js.output.result}", "vp": "${vp.output.result}"}
    }))
    .await;
    let id = s.start("op_inline", json!({"a": 2})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(
        w["output"]["js"],
        json!({"sum": 5, "list": [2, 1.5], "s": "x2"}),
        "{}",
        pretty(&w)
    );
    assert_eq!(w["output"]["vp"], 5);

    // a script error fails the task with FAILED_WITH_TERMINAL_ERROR
    s.register_workflow(json!({
        "name": "op_inline_err", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "js", "taskReferenceName": "js", "type": "INLINE",
                   "inputParameters": {"evaluatorType": "javascript",
                                       "expression": "(function () { throw new Error('nope'); })()"}}]
    }))
    .await;
    let id = s.start("op_inline_err", json!({})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let js = task(&w, "js");
    assert_eq!(js["status"], "FAILED_WITH_TERMINAL_ERROR");
    assert!(js["reasonForIncompletion"]
        .as_str()
        .unwrap()
        .contains("nope"));
    assert!(js["outputData"]["error"].as_str().unwrap().contains("nope"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_jq_transform_result_and_result_list() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "op_jq", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "jq1", "taskReferenceName": "jq1", "type": "JSON_JQ_TRANSFORM",
             "inputParameters": {"queryExpression": "{total: (.items | add), first: .items[0]}",
                                 "items": "${workflow.input.items}"}},
            {"name": "jq2", "taskReferenceName": "jq2", "type": "JSON_JQ_TRANSFORM",
             "inputParameters": {"queryExpression": ".items[] | . * 10",
                                 "items": "${workflow.input.items}"}}
        ]
    }))
    .await;
    let id = s.start("op_jq", json!({"items": [1, 2, 3]})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let jq1 = &task(&w, "jq1")["outputData"];
    assert_eq!(
        jq1["result"],
        json!({"total": 6, "first": 1}),
        "{}",
        pretty(jq1)
    );
    assert_eq!(jq1["resultList"], json!([{"total": 6, "first": 1}]));
    let jq2 = &task(&w, "jq2")["outputData"];
    assert_eq!(jq2["result"], 10);
    assert_eq!(jq2["resultList"], json!([10, 20, 30]));
}

#[tokio::test]
async fn http_500_then_200_is_retried_per_task_def() {
    let stub = http_stub().await;
    let s = TestServer::spawn().await;
    s.register_task_def(json!({
        "name": "http_flaky", "retryCount": 1, "retryDelaySeconds": 0,
        "retryLogic": "FIXED", "timeoutSeconds": 0, "responseTimeoutSeconds": 10
    }))
    .await;
    s.register_workflow(json!({
        "name": "op_http", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "http_flaky", "taskReferenceName": "http", "type": "HTTP",
             "inputParameters": {"http_request": {
                 "uri": format!("{}/flaky", stub.base), "method": "GET",
                 "connectionTimeOut": 2000, "readTimeOut": 2000}}},
            {"name": "http_post", "taskReferenceName": "http_post", "type": "HTTP",
             "inputParameters": {"http_request": {
                 "uri": format!("{}/ok", stub.base), "method": "POST",
                 "headers": {"X-Test": "1"}, "body": {"hello": "${workflow.input.who}"}}}}
        ]
    }))
    .await;
    let id = s.start("op_http", json!({"who": "world"})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let attempts = tasks_by_ref(&w, "http");
    assert_eq!(attempts.len(), 2, "{}", pretty(&w));
    assert_eq!(attempts[0]["status"], "FAILED", "{}", pretty(attempts[0]));
    assert!(
        attempts[0]["reasonForIncompletion"]
            .as_str()
            .unwrap_or("")
            .contains("500"),
        "{}",
        pretty(attempts[0])
    );
    assert_eq!(attempts[1]["status"], "COMPLETED");
    assert_eq!(attempts[1]["retryCount"], 1);
    let resp = &attempts[1]["outputData"]["response"];
    assert_eq!(resp["statusCode"], 200, "{}", pretty(resp));
    assert_eq!(resp["body"], json!({"message": "hello", "hit": 2}));
    assert_eq!(resp["reasonPhrase"], "OK");
    assert!(resp["headers"].is_object());
    assert_eq!(stub.hits.load(std::sync::atomic::Ordering::SeqCst), 2);
    let post = &task(&w, "http_post")["outputData"]["response"];
    assert_eq!(
        post["body"],
        json!({"echo": {"hello": "world"}, "from": "stub"})
    );
}
