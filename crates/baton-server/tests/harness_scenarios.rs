//! The scenarios of Conductor's test-harness specs for the routes added beside the core
//! (`TestWorkflowSpec`, `SignalTaskSpec`), with the same expectations, written for Baton over
//! HTTP with its own definitions. Where the spec needs a sweep to advance the workflow, Baton
//! decides in the same commit, so the expectation holds right away.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

fn simple(name: &str, reference: &str) -> Value {
    json!({"name": name, "taskReferenceName": reference, "type": "SIMPLE"})
}

// ---- TestWorkflowSpec ------------------------------------------------------------------

#[tokio::test]
async fn test_run_with_simple_tasks_stops_at_the_unmocked_one() {
    let s = TestServer::spawn().await;
    // The definition is inline: nothing is registered.
    let resp = s
        .post_json("/workflow/test", &json!({
            "name": "harness_test_wf", "version": 1, "input": {"var": "var_test_value"},
            "workflowDef": {"name": "harness_test_wf", "version": 1,
                "tasks": [simple("h_task1", "task1"), simple("h_task2", "task2")]},
            "taskRefToMockOutput": {"task1": [{"status": "COMPLETED", "output": {"key": "value"}}]}
        }))
        .await;
    let w = expect_json(resp, StatusCode::OK).await;
    let id = w["workflowId"].as_str().expect("workflowId");
    let w = s.workflow(id).await;
    assert_eq!(w["status"], "RUNNING");
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{w}");
    assert_eq!(tasks[0]["taskType"], "h_task1");
    assert_eq!(tasks[0]["status"], "COMPLETED");
    assert_eq!(tasks[0]["outputData"]["key"], "value");
    assert_eq!(tasks[1]["taskType"], "h_task2");
    assert_eq!(tasks[1]["status"], "SCHEDULED");
}

#[tokio::test]
async fn test_run_with_a_switch_takes_the_branch_of_the_input() {
    let s = TestServer::spawn().await;
    let switch = json!({"name": "switch", "taskReferenceName": "switch", "type": "SWITCH",
        "evaluatorType": "value-param", "expression": "switchCaseValue",
        "inputParameters": {"switchCaseValue": "${workflow.input.case}"},
        "decisionCases": {"a": [simple("h_task1", "d1")], "b": [simple("h_task2", "d2")]}});
    let resp = s
        .post_json("/workflow/test", &json!({
            "name": "harness_switch_wf", "version": 1, "input": {"case": "b"},
            "workflowDef": {"name": "harness_switch_wf", "version": 1,
                "tasks": [simple("h_task1", "task1"), switch]},
            "taskRefToMockOutput": {"task1": [{"status": "COMPLETED", "output": {"key": "value"}}]}
        }))
        .await;
    let w = expect_json(resp, StatusCode::OK).await;
    let w = s.workflow(w["workflowId"].as_str().unwrap()).await;
    assert_eq!(w["status"], "RUNNING");
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{w}");
    assert_eq!(tasks[0]["taskType"], "h_task1");
    assert_eq!(tasks[0]["status"], "COMPLETED");
    assert_eq!(tasks[0]["outputData"]["key"], "value");
    assert_eq!(tasks[1]["taskType"], "SWITCH");
    assert_eq!(tasks[1]["status"], "COMPLETED");
    assert_eq!(tasks[2]["taskType"], "h_task2");
    assert_eq!(tasks[2]["referenceTaskName"], "d2");
    assert_eq!(tasks[2]["status"], "SCHEDULED");
}

// ---- SignalTaskSpec --------------------------------------------------------------------

fn wait_workflow() -> Value {
    json!({"name": "harness_wait_wf", "version": 1, "tasks": [
        {"name": "wait", "taskReferenceName": "wait", "type": "WAIT"},
        simple("h_integration_task_1", "t1")]})
}

#[tokio::test]
async fn signal_completes_a_blocked_wait_and_advances_the_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(wait_workflow()).await;
    let id = s.start("harness_wait_wf", json!({})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(w["tasks"][0]["taskType"], "WAIT");
    assert_eq!(w["tasks"][0]["status"], "IN_PROGRESS");

    let resp = s
        .post_json(
            &format!("/tasks/{id}/COMPLETED/signal"),
            &json!({"result": "done"}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{w}");
    assert_eq!(tasks[0]["status"], "COMPLETED");
    assert_eq!(tasks[0]["outputData"]["result"], "done");
    assert_eq!(tasks[1]["taskType"], "h_integration_task_1");
    assert_eq!(tasks[1]["status"], "SCHEDULED");
}

#[tokio::test]
async fn signal_without_a_blocked_task_changes_nothing() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "harness_wait_only", "version": 1, "tasks": [
        {"name": "wait", "taskReferenceName": "wait", "type": "WAIT"},
        {"name": "wait2", "taskReferenceName": "wait2", "type": "WAIT"}]}))
        .await;
    let id = s.start("harness_wait_only", json!({})).await;
    for _ in 0..2 {
        let resp = s
            .post_json(&format!("/tasks/{id}/wait/COMPLETED"), &json!({}))
            .await;
        expect_status(resp, StatusCode::OK).await;
        let resp = s
            .post_json(&format!("/tasks/{id}/wait2/COMPLETED"), &json!({}))
            .await;
        expect_status(resp, StatusCode::OK).await;
    }
    let before = s
        .wait_for_status(&id, "COMPLETED", Duration::from_secs(10))
        .await;
    let resp = s
        .post_json(&format!("/tasks/{id}/FAILED/signal"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let after = s.workflow(&id).await;
    assert_eq!(before["tasks"], after["tasks"], "nothing changed");
    assert_eq!(after["status"], "COMPLETED");
}

#[tokio::test]
async fn signal_descends_into_a_sub_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(
        json!({"name": "harness_signal_child", "version": 1, "tasks": [
        {"name": "wait", "taskReferenceName": "wait", "type": "WAIT"}]}),
    )
    .await;
    s.register_workflow(
        json!({"name": "harness_signal_parent", "version": 1, "tasks": [
        {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
         "subWorkflowParam": {"name": "harness_signal_child", "version": 1}}]}),
    )
    .await;
    let parent = s.start("harness_signal_parent", json!({})).await;
    let w = s
        .wait_for(&parent, "the child started", Duration::from_secs(10), |w| {
            w["tasks"][0]["status"] == "IN_PROGRESS" && w["tasks"][0]["subWorkflowId"].is_string()
        })
        .await;
    assert_eq!(w["tasks"][0]["taskType"], "SUB_WORKFLOW");
    let child = w["tasks"][0]["subWorkflowId"].as_str().unwrap().to_string();
    let c = s
        .wait_for(&child, "the child waits", Duration::from_secs(10), |w| {
            w["tasks"][0]["status"] == "IN_PROGRESS"
        })
        .await;
    assert_eq!(c["tasks"][0]["taskType"], "WAIT");

    let resp = s
        .post_json(
            &format!("/tasks/{parent}/COMPLETED/signal"),
            &json!({"result": "sub-done"}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let c = s
        .wait_for_status(&child, "COMPLETED", Duration::from_secs(10))
        .await;
    assert_eq!(c["tasks"][0]["status"], "COMPLETED");
    assert_eq!(c["tasks"][0]["outputData"]["result"], "sub-done");
    s.wait_for_status(&parent, "COMPLETED", Duration::from_secs(30))
        .await;
}

// ---- LambdaAndTerminateTaskSpec --------------------------------------------------------

/// A LAMBDA whose script sits in `inputParameters.scriptExpression`, as Conductor's
/// definitions write it.
fn lambda(reference: &str) -> Value {
    json!({"name": reference, "taskReferenceName": reference, "type": "LAMBDA",
        "inputParameters": {"a": "${workflow.input.a}",
            "scriptExpression": "if ($.a == 1) { return {testvalue: true} } else { return {testvalue: false} }"}})
}

fn terminate(reference: &str, status: &str, reason: Option<&str>, output: Value) -> Value {
    let mut input = json!({"terminationStatus": status, "workflowOutput": output});
    if let Some(r) = reason {
        input["terminationReason"] = json!(r);
    }
    json!({"name": reference, "taskReferenceName": reference, "type": "TERMINATE",
        "inputParameters": input})
}

#[tokio::test]
async fn lambda_takes_its_script_from_the_input_parameters() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "harness_lambda_wf", "version": 1,
        "tasks": [lambda("lambda0")]}))
        .await;
    let id = s.start("harness_lambda_wf", json!({"a": 1})).await;
    let w = s
        .wait_for_status(&id, "COMPLETED", Duration::from_secs(10))
        .await;
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["taskType"], "LAMBDA");
    assert_eq!(tasks[0]["status"], "COMPLETED");
    assert_eq!(
        tasks[0]["outputData"],
        json!({"result": {"testvalue": true}})
    );
    assert_eq!(tasks[0]["seq"], 1);
}

#[tokio::test]
async fn terminate_completed_sets_the_reason_and_the_output() {
    let s = TestServer::spawn().await;
    s.register_workflow(
        json!({"name": "harness_terminate_wf", "version": 1, "tasks": [
        lambda("lambda0"),
        terminate("terminate0", "COMPLETED", None, json!({"result": "${lambda0.output.result}"})),
        simple("h_never", "never")]}),
    )
    .await;
    let id = s.start("harness_terminate_wf", json!({"a": 1})).await;
    let w = s
        .wait_for_status(&id, "COMPLETED", Duration::from_secs(10))
        .await;
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{w}");
    assert!(
        w["reasonForIncompletion"]
            .as_str()
            .is_some_and(|r| r.contains("Workflow is COMPLETED by TERMINATE task")),
        "{w}"
    );
    assert_eq!(
        (tasks[0]["taskType"].as_str(), tasks[0]["seq"].as_i64()),
        (Some("LAMBDA"), Some(1))
    );
    assert_eq!(
        (tasks[1]["taskType"].as_str(), tasks[1]["seq"].as_i64()),
        (Some("TERMINATE"), Some(2))
    );
    assert_eq!(tasks[1]["status"], "COMPLETED");
    assert_eq!(w["output"], json!({"result": {"testvalue": true}}));
}

#[tokio::test]
async fn terminate_failed_uses_its_reason_and_starts_the_failure_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "harness_terminate_failure", "version": 1,
        "tasks": [lambda("lambda0")]}))
        .await;
    s.register_workflow(json!({"name": "harness_terminate_failed_wf", "version": 1,
        "failureWorkflow": "harness_terminate_failure",
        "tasks": [lambda("lambda0"),
            terminate("terminate0", "FAILED", Some("Early exit in terminate"), json!({"x": 1}))]}))
        .await;
    let id = s
        .start("harness_terminate_failed_wf", json!({"a": 1}))
        .await;
    let w = s
        .wait_for_status(&id, "FAILED", Duration::from_secs(10))
        .await;
    assert_eq!(w["reasonForIncompletion"], "Early exit in terminate");
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[1]["taskType"], "TERMINATE");
    assert_eq!(tasks[1]["status"], "COMPLETED");
    let w = s
        .wait_for(
            &id,
            "the failure workflow is named",
            Duration::from_secs(10),
            |w| w["output"]["conductor.failure_workflow"].is_string(),
        )
        .await;
    let failure = w["output"]["conductor.failure_workflow"]
        .as_str()
        .unwrap()
        .to_string();
    let f = s
        .wait_for_status(&failure, "COMPLETED", Duration::from_secs(10))
        .await;
    assert_eq!(f["input"]["workflowId"], id.as_str());
    assert_eq!(f["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(f["tasks"][0]["taskType"], "LAMBDA");
}

#[tokio::test]
async fn terminate_inside_a_decision_branch_fails_the_workflow() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "harness_decision_terminate", "version": 1, "tasks": [
        simple("h_integration_task_1", "t1"),
        {"name": "decide", "taskReferenceName": "decide", "type": "DECISION",
         "caseValueParam": "case", "inputParameters": {"case": "${workflow.input.case}"},
         "decisionCases": {
            "one": [simple("h_integration_task_2", "t2")],
            "two": [terminate("terminate0", "FAILED", None, json!({"output": "${t1.output.op}"}))]}},
        simple("h_integration_task_3", "t3")]}))
    .await;
    let id = s
        .start(
            "harness_decision_terminate",
            json!({"param1": "p1", "param2": "p2", "case": "two"}),
        )
        .await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(w["tasks"][0]["taskType"], "h_integration_task_1");
    assert_eq!(w["tasks"][0]["status"], "SCHEDULED");
    let t = s.poll_one("h_integration_task_1").await;
    s.complete(&t, json!({"op": "task1 completed"})).await;
    let w = s
        .wait_for_status(&id, "FAILED", Duration::from_secs(10))
        .await;
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{w}");
    assert_eq!(w["output"], json!({"output": "task1 completed"}));
    assert!(w["reasonForIncompletion"]
        .as_str()
        .is_some_and(|r| r.contains("Workflow is FAILED by TERMINATE task")));
    let kinds: Vec<(&str, &str, i64)> = tasks
        .iter()
        .map(|t| {
            (
                t["taskType"].as_str().unwrap(),
                t["status"].as_str().unwrap(),
                t["seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("h_integration_task_1", "COMPLETED", 1),
            ("DECISION", "COMPLETED", 2),
            ("TERMINATE", "COMPLETED", 3)
        ]
    );
}

/// Conductor 3.32 (its `Terminate.validateInputStatus`, and `WorkflowExecutorOps` since its
/// PR #764) ends the workflow TERMINATED when the TERMINATE asks for it.
#[tokio::test]
async fn terminate_terminated_ends_the_workflow_terminated() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "harness_terminate_terminated", "version": 1,
        "tasks": [lambda("lambda0"),
            terminate("terminate0", "TERMINATED", None, json!({"r": "${lambda0.output.result}"})),
            simple("h_never", "never")]}))
        .await;
    let id = s
        .start("harness_terminate_terminated", json!({"a": 1}))
        .await;
    let w = s
        .wait_for_status(&id, "TERMINATED", Duration::from_secs(10))
        .await;
    let tasks = w["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{w}");
    assert_eq!(tasks[1]["taskType"], "TERMINATE");
    assert_eq!(tasks[1]["status"], "COMPLETED");
    assert_eq!(
        w["reasonForIncompletion"],
        format!(
            "Workflow is TERMINATED by TERMINATE task: {}",
            tasks[1]["taskId"].as_str().unwrap()
        )
    );
    assert_eq!(w["output"], json!({"r": {"testvalue": true}}));
}

/// Conductor's `WorkflowTaskTypeConstraint` checks a TERMINATE when its definition is
/// registered: `terminationStatus` must be COMPLETED, FAILED or TERMINATED written out (an
/// expression or another spelling is refused), with its own wording (which names only
/// COMPLETED and FAILED), and the task may not be optional.
#[tokio::test]
async fn terminate_definitions_are_checked_with_conductors_rule_and_wording() {
    let s = TestServer::spawn().await;
    let status_message = "terminate task must have an terminationStatus parameter and must be \
                          set to COMPLETED or FAILED, taskName: stop";
    let def = |input: Value, optional: bool| {
        json!({"name": "harness_terminate_checked", "version": 1, "tasks": [
            {"name": "stop", "taskReferenceName": "stop0", "type": "TERMINATE",
             "optional": optional, "inputParameters": input}]})
    };
    let messages = |v: &Value| -> Vec<String> {
        v["validationErrors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["message"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    for input in [
        json!({"terminationStatus": "${workflow.input.status}"}),
        json!({"terminationStatus": "completed"}),
        json!({"terminationStatus": "CANCELED"}),
        json!({"terminationStatus": 1}),
        json!({"workflowOutput": {"x": 1}}),
    ] {
        let resp = s
            .post_json("/metadata/workflow", &def(input.clone(), false))
            .await;
        let v = expect_error(resp, StatusCode::BAD_REQUEST, &[status_message]).await;
        assert_eq!(messages(&v), [status_message], "{input}: {v}");
    }
    let resp = s
        .post_json(
            "/metadata/workflow",
            &def(json!({"terminationStatus": "COMPLETED"}), true),
        )
        .await;
    let v = expect_error(resp, StatusCode::BAD_REQUEST, &[]).await;
    assert_eq!(
        messages(&v),
        ["terminate task cannot be optional, taskName: stop"],
        "{v}"
    );
    for status in ["COMPLETED", "FAILED", "TERMINATED"] {
        let resp = s
            .post_json(
                "/metadata/workflow?overwrite=true",
                &def(json!({"terminationStatus": status}), false),
            )
            .await;
        expect_status(resp, StatusCode::OK).await;
    }
}

/// A TERMINATE the definition check never saw (forked dynamically) asking for another
/// status fails with the wording of Conductor's `Terminate.execute`.
#[tokio::test]
async fn a_dynamic_terminate_asking_for_another_status_fails_with_conductors_reason() {
    let s = TestServer::spawn().await;
    s.register_workflow(
        json!({"name": "harness_dyn_terminate", "version": 1, "tasks": [
        {"name": "dyn", "taskReferenceName": "dyn", "type": "FORK_JOIN_DYNAMIC",
         "inputParameters": {"dynamicTasks": "${workflow.input.tasks}",
                             "dynamicTasksInput": "${workflow.input.inputs}"},
         "dynamicForkTasksParam": "dynamicTasks",
         "dynamicForkTasksInputParamName": "dynamicTasksInput"},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN"}]}),
    )
    .await;
    let id = s
        .start(
            "harness_dyn_terminate",
            json!({"tasks": [{"name": "stop", "taskReferenceName": "stop", "type": "TERMINATE"}],
                   "inputs": {"stop": {"terminationStatus": "completed"}}}),
        )
        .await;
    let w = s
        .wait_for(&id, "the TERMINATE failed", Duration::from_secs(10), |w| {
            tasks_by_ref(w, "stop")
                .first()
                .is_some_and(|t| t["status"] == "FAILED")
        })
        .await;
    let stop = tasks_by_ref(&w, "stop")[0];
    assert_eq!(
        stop["reasonForIncompletion"], "given termination status is not valid",
        "{w:#}"
    );
    assert_ne!(w["status"], "COMPLETED", "{w:#}");
}
