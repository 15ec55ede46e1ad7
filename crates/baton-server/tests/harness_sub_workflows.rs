//! Conductor's `InlineSubWorkflowFromExpressionSpec` and the sub-workflow parameters its
//! specs give as expressions (`subWorkflowParam.name`, `version`, `workflowDefinition`),
//! written for Baton over HTTP with its own definitions and the spec's expectations.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn child(version: i64) -> Value {
    json!({
        "name": "hsw_child", "version": version, "schemaVersion": 2,
        "tasks": [{"name": "hsw_child_task", "taskReferenceName": "work", "type": "SIMPLE",
                   "inputParameters": {"v": version}}],
        "outputParameters": {"ranVersion": version}
    })
}

#[tokio::test]
async fn sub_workflow_name_and_version_may_be_expressions() {
    let s = TestServer::spawn().await;
    s.register_workflow(child(1)).await;
    s.register_workflow(child(2)).await;
    s.register_workflow(json!({
        "name": "hsw_parent", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
                   "subWorkflowParam": {"name": "${workflow.input.subwf}",
                                        "version": "${workflow.input.subwfVersion}"}}],
        "outputParameters": {"ran": "${sub.output.ranVersion}"}
    }))
    .await;
    // The version arrives as a string, as the Conductor UI sends numbers.
    let id = s
        .start(
            "hsw_parent",
            json!({"subwf": "hsw_child", "subwfVersion": "1"}),
        )
        .await;
    let t = s.poll_one("hsw_child_task").await;
    assert_eq!(t["inputData"]["v"], 1, "{t}");
    let child_id = t["workflowInstanceId"].as_str().unwrap().to_string();
    let child = s.workflow(&child_id).await;
    assert_eq!(child["workflowName"], "hsw_child");
    assert_eq!(child["workflowVersion"], 1);
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["output"]["ran"], 1, "{w}");
    // The definition keeps the expressions as written.
    let def = s.get_json("/metadata/workflow/hsw_parent").await;
    assert_eq!(
        def["tasks"][0]["subWorkflowParam"]["version"],
        "${workflow.input.subwfVersion}"
    );

    // Without a version the latest runs.
    let id = s.start("hsw_parent", json!({"subwf": "hsw_child"})).await;
    let t = s.poll_one("hsw_child_task").await;
    assert_eq!(t["inputData"]["v"], 2, "{t}");
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["output"]["ran"], 2, "{w}");
}

/// The sub-workflow definition the spec's builder task returns: a DO_WHILE of an INLINE and
/// a JavaScript SWITCH whose "true" branch needs a worker, then an INLINE summary.
fn built_definition() -> Value {
    let compute = json!({
        "name": "compute", "taskReferenceName": "compute", "type": "INLINE",
        "inputParameters": {
            "evaluatorType": "javascript",
            "expression": "function f() { return $.iteration * $.threshold; } f();",
            "iteration": "${do_loop.output.iteration}",
            "threshold": "${workflow.input.threshold}"}});
    let high = json!({
        "name": "hsw_task_1", "taskReferenceName": "high_task", "type": "SIMPLE",
        "inputParameters": {"product": "${compute.output.result}", "category": "high"}});
    let low = json!({
        "name": "low_result", "taskReferenceName": "low_result", "type": "INLINE",
        "inputParameters": {
            "evaluatorType": "javascript",
            "expression": "function f() { return {label: 'low', product: $.product}; } f();",
            "product": "${compute.output.result}"}});
    let route = json!({
        "name": "route", "taskReferenceName": "route", "type": "SWITCH",
        "evaluatorType": "javascript", "expression": "$.product > $.threshold",
        "inputParameters": {"product": "${compute.output.result}",
                            "threshold": "${workflow.input.threshold}"},
        "decisionCases": {"true": [high]}, "defaultCase": [low]});
    json!({
        "name": "hsw_dynamic_plan", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "do_loop", "taskReferenceName": "do_loop", "type": "DO_WHILE",
             "inputParameters": {"iters": "${workflow.input.iterations}",
                                 "threshold": "${workflow.input.threshold}"},
             "loopCondition": "$.do_loop['iteration'] < $.iters",
             "loopOver": [compute, route]},
            {"name": "final_result", "taskReferenceName": "final_result", "type": "INLINE",
             "inputParameters": {
                "evaluatorType": "javascript",
                "expression": "function f() { return {loopsDone: $.loopsDone, allDone: true}; } f();",
                "loopsDone": "${do_loop.output.iteration}"}}
        ],
        "outputParameters": {"loopsDone": "${final_result.output.result.loopsDone}",
                             "allDone": "${final_result.output.result.allDone}"},
        "timeoutPolicy": "ALERT_ONLY", "timeoutSeconds": 0
    })
}

#[tokio::test]
async fn sub_workflow_definition_from_a_task_output_runs_a_loop_with_switch_and_inline() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "hsw_expr_parent", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "hsw_task_1", "taskReferenceName": "wf_builder", "type": "SIMPLE",
             "inputParameters": {"tp1": "${workflow.input.threshold}"}},
            {"name": "exec_plan", "taskReferenceName": "exec", "type": "SUB_WORKFLOW",
             "inputParameters": {"threshold": "${workflow.input.threshold}",
                                 "iterations": "${workflow.input.iterations}"},
             "subWorkflowParam": {"name": "hsw_dynamic_plan", "version": 1,
                                  "workflowDefinition": "${wf_builder.output.result}"}}
        ],
        "outputParameters": {"loopsDone": "${exec.output.loopsDone}",
                             "allDone": "${exec.output.allDone}"}
    }))
    .await;
    let id = s
        .start("hsw_expr_parent", json!({"iterations": 2, "threshold": 5}))
        .await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["tasks"].as_array().map(Vec::len), Some(1), "{w}");
    assert_eq!(w["tasks"][0]["referenceTaskName"], "wf_builder");
    assert_eq!(w["tasks"][0]["status"], "SCHEDULED");

    let builder = s.poll_one("hsw_task_1").await;
    s.complete(&builder, json!({"result": built_definition()}))
        .await;
    // The sub-workflow is started by a system-task worker, as in Conductor ("eventually").
    let w = s
        // Claimed by the system worker first, then the child's id is recorded: wait for both.
        .wait_for(&id, "the SUB_WORKFLOW task starts its child", WAIT, |w| {
            w["tasks"][1]["status"] == "IN_PROGRESS" && w["tasks"][1]["subWorkflowId"].is_string()
        })
        .await;
    let exec = &w["tasks"][1];
    assert_eq!(exec["taskType"], "SUB_WORKFLOW", "{w}");
    let sub_id = exec["subWorkflowId"].as_str().expect("subWorkflowId");
    assert_eq!(s.workflow(sub_id).await["status"], "RUNNING");

    // Iteration 1: 1 × 5 = 5 is not above 5, the INLINE branch runs by itself; iteration 2:
    // 10 > 5, the worker branch waits for a worker with category "high".
    let high = s.poll_one("hsw_task_1").await;
    assert_eq!(high["workflowInstanceId"], sub_id);
    assert_eq!(high["inputData"]["category"], "high", "{high}");
    assert_eq!(high["inputData"]["product"], 10, "{high}");
    s.complete(&high, json!({"label": "high", "done": true}))
        .await;
    let sub = s.wait_for_status(sub_id, "COMPLETED", WAIT).await;
    assert_eq!(sub["output"]["loopsDone"], 2, "{sub}");
    assert_eq!(sub["output"]["allDone"], true);
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["tasks"][1]["status"], "COMPLETED");
    assert_eq!(w["output"]["loopsDone"], 2, "{w}");
}
