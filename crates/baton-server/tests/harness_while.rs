//! The cases of Conductor's `WhileSpec`, with the same expectations (task list, statuses,
//! iterations, `__N` references), written for Baton with its own definitions. WHILE is
//! DO_WHILE with its condition also checked before the first pass: a condition false from the
//! start runs no iteration (the loop completes with `iteration` 0), and one that holds runs
//! the body as DO_WHILE does. Covered: no iteration; two iterations of five tasks and a task
//! after the loop; system tasks only; a FORK/JOIN and a SUB_WORKFLOW in the loop; a retry in
//! the loop (by the task's definition, and of the failed workflow); a loop in a fork; two
//! loops in a row; the iteration in a script; a SET_VARIABLE in the loop (and a null list, no
//! iteration); a WAIT in a SWITCH in the loop; a condition that fails at the first check; a
//! definition without a condition refused.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

fn lambda(reference: &str) -> Value {
    json!({"name": reference, "taskReferenceName": reference, "type": "LAMBDA",
           "inputParameters": {"i": "${wl.output.iteration}",
                               "scriptExpression": "return {seen: $.i};"}})
}

fn jq(reference: &str) -> Value {
    json!({"name": reference, "taskReferenceName": reference, "type": "JSON_JQ_TRANSFORM",
           "inputParameters": {"queryExpression": ".i", "i": "${wl.output.iteration}"}})
}

/// A WHILE `reference` over `tasks`, passing while its iteration is below `input[key]`.
fn while_loop(reference: &str, key: &str, tasks: Value) -> Value {
    json!({"name": reference, "taskReferenceName": reference, "type": "WHILE",
           "inputParameters": {"value": format!("${{workflow.input.{key}}}")},
           "loopCondition": format!("$.{reference}['iteration'] < $.value"),
           "loopOver": tasks})
}

async fn server(def: Value) -> TestServer {
    let s = TestServer::spawn().await;
    s.register_workflow(def).await;
    s
}

/// Polls one `task_type` task of workflow `id` and completes it; answers the task.
async fn work(s: &TestServer, id: &str, task_type: &str) -> Value {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, json!({"by": task_type})).await;
    t
}

#[tokio::test]
async fn a_condition_false_from_the_start_runs_no_iteration() {
    let s = server(json!({"name": "wl_zero", "version": 1, "tasks": [
        while_loop("wl", "loop", json!([worker("wl_body")])),
        worker("wl_after"),
    ]}))
    .await;
    let id = s.start("wl_zero", json!({"loop": 0})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_steps(
        &w,
        &[("WHILE", "COMPLETED", 0), ("wl_after", "SCHEDULED", 0)],
    );
    assert_eq!(
        w["tasks"][0]["outputData"],
        json!({"iteration": 0}),
        "{w:#}"
    );
    work(&s, &id, "wl_after").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert!(tasks_by_ref(&w, "wl_body__1").is_empty(), "{w:#}");
    assert!(s.poll_batch("wl_body", 1, 0).await.is_empty());
}

#[tokio::test]
async fn two_iterations_of_five_tasks_then_the_task_after() {
    let s = server(json!({"name": "wl_five", "version": 1, "tasks": [
        while_loop("wl", "loop", json!([
            lambda("wl_lambda"), jq("wl_jq1"), worker("wl_t1"), jq("wl_jq2"), worker("wl_t2"),
        ])),
        worker("wl_t3"),
    ]}))
    .await;
    let id = s.start("wl_five", json!({"loop": 2})).await;
    let w = s.workflow(&id).await;
    expect_steps(
        &w,
        &[
            ("WHILE", "IN_PROGRESS", 1),
            ("LAMBDA", "COMPLETED", 1),
            ("JSON_JQ_TRANSFORM", "COMPLETED", 1),
            ("wl_t1", "SCHEDULED", 1),
        ],
    );
    assert_eq!(w["tasks"][1]["outputData"]["result"]["seen"], 1, "{w:#}");

    let t = work(&s, &id, "wl_t1").await;
    assert_eq!(t["iteration"], 1);
    assert_eq!(t["referenceTaskName"], "wl_t1__1");
    let t = work(&s, &id, "wl_t2").await;
    assert_eq!(t["iteration"], 1);
    let w = s.workflow(&id).await;
    let first_pass = [
        ("WHILE", "IN_PROGRESS", 2),
        ("LAMBDA", "COMPLETED", 1),
        ("JSON_JQ_TRANSFORM", "COMPLETED", 1),
        ("wl_t1", "COMPLETED", 1),
        ("JSON_JQ_TRANSFORM", "COMPLETED", 1),
        ("wl_t2", "COMPLETED", 1),
    ];
    let mut expected = first_pass.to_vec();
    expected.extend([
        ("LAMBDA", "COMPLETED", 2),
        ("JSON_JQ_TRANSFORM", "COMPLETED", 2),
        ("wl_t1", "SCHEDULED", 2),
    ]);
    expect_steps(&w, &expected);
    assert_eq!(w["tasks"][6]["referenceTaskName"], "wl_lambda__2");
    assert_eq!(w["tasks"][6]["outputData"]["result"]["seen"], 2, "{w:#}");

    assert_eq!(work(&s, &id, "wl_t1").await["iteration"], 2);
    assert_eq!(work(&s, &id, "wl_t2").await["iteration"], 2);
    let w = s.workflow(&id).await;
    let mut expected = first_pass.to_vec();
    expected[0] = ("WHILE", "COMPLETED", 2);
    expected.extend([
        ("LAMBDA", "COMPLETED", 2),
        ("JSON_JQ_TRANSFORM", "COMPLETED", 2),
        ("wl_t1", "COMPLETED", 2),
        ("JSON_JQ_TRANSFORM", "COMPLETED", 2),
        ("wl_t2", "COMPLETED", 2),
        ("wl_t3", "SCHEDULED", 0),
    ]);
    expect_steps(&w, &expected);
    let out = &w["tasks"][0]["outputData"];
    assert_eq!(out["iteration"], 2, "{out:#}");
    assert_eq!(out["1"]["wl_t2"]["by"], "wl_t2", "{out:#}");
    assert_eq!(out["2"]["wl_jq1"]["result"], 2, "{out:#}");

    assert_eq!(work(&s, &id, "wl_t3").await["iteration"], 0);
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["tasks"].as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn two_iterations_of_system_tasks_run_before_the_task_after() {
    let s = server(json!({"name": "wl_sys", "version": 1, "tasks": [
        while_loop("wl", "loop", json!([lambda("wl_lambda"), jq("wl_jq1"), jq("wl_jq2")])),
        worker("wl_after"),
    ]}))
    .await;
    let id = s.start("wl_sys", json!({"loop": 2})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_steps(
        &w,
        &[
            ("WHILE", "COMPLETED", 2),
            ("LAMBDA", "COMPLETED", 1),
            ("JSON_JQ_TRANSFORM", "COMPLETED", 1),
            ("JSON_JQ_TRANSFORM", "COMPLETED", 1),
            ("LAMBDA", "COMPLETED", 2),
            ("JSON_JQ_TRANSFORM", "COMPLETED", 2),
            ("JSON_JQ_TRANSFORM", "COMPLETED", 2),
            ("wl_after", "SCHEDULED", 0),
        ],
    );
    work(&s, &id, "wl_after").await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;
}

fn fork_body() -> Value {
    json!([
        worker("wl_t0"),
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [[worker("wl_t1")], [worker("wl_t2")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN",
         "joinOn": ["wl_t1", "wl_t2"]},
    ])
}

#[tokio::test]
async fn a_fork_in_a_single_iteration() {
    let s = server(json!({"name": "wl_fork", "version": 1, "tasks": [
        while_loop("wl", "loop", fork_body()),
    ]}))
    .await;
    let id = s.start("wl_fork", json!({"loop": 1})).await;
    expect_shape(
        &s.workflow(&id).await,
        &[("WHILE", "IN_PROGRESS"), ("wl_t0", "SCHEDULED")],
    );
    assert_eq!(work(&s, &id, "wl_t0").await["iteration"], 1);
    let w = s.workflow(&id).await;
    expect_shape(
        &w,
        &[
            ("WHILE", "IN_PROGRESS"),
            ("wl_t0", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("wl_t1", "SCHEDULED"),
            ("wl_t2", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    assert_eq!(tasks_by_ref(&w, "join__1").len(), 1, "{w:#}");
    work(&s, &id, "wl_t1").await;
    assert_eq!(work(&s, &id, "wl_t2").await["iteration"], 1);
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("WHILE", "COMPLETED"),
            ("wl_t0", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("wl_t1", "COMPLETED"),
            ("wl_t2", "COMPLETED"),
            ("JOIN", "COMPLETED"),
        ],
    );
}

#[tokio::test]
async fn a_failed_task_in_the_loop_is_retried_by_its_definition() {
    let s = server(json!({"name": "wl_retry", "version": 1, "tasks": [
        while_loop("wl", "loop", fork_body()),
    ]}))
    .await;
    s.register_task_def(json!({"name": "wl_t0", "retryCount": 1, "retryDelaySeconds": 0}))
        .await;
    let id = s.start("wl_retry", json!({"loop": 1})).await;
    let t = s.poll_one("wl_t0").await;
    s.fail(&t, "induced failure").await;
    let w = s.workflow(&id).await;
    expect_shape(
        &w,
        &[
            ("WHILE", "IN_PROGRESS"),
            ("wl_t0", "FAILED"),
            ("wl_t0", "SCHEDULED"),
        ],
    );
    assert_eq!(w["tasks"][1]["retried"], true, "{w:#}");
    assert_eq!(w["tasks"][2]["retryCount"], 1);
    assert_eq!(w["tasks"][2]["retriedTaskId"], w["tasks"][1]["taskId"]);
    finish_after_a_failure(&s, &id).await;
}

/// The retried wl_t0 and the fork's branches completed: the loop and the workflow end.
async fn finish_after_a_failure(s: &TestServer, id: &str) {
    assert_eq!(work(s, id, "wl_t0").await["iteration"], 1);
    work(s, id, "wl_t1").await;
    work(s, id, "wl_t2").await;
    let w = s.wait_for_status(id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("WHILE", "COMPLETED"),
            ("wl_t0", "FAILED"),
            ("wl_t0", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("wl_t1", "COMPLETED"),
            ("wl_t2", "COMPLETED"),
            ("JOIN", "COMPLETED"),
        ],
    );
}

#[tokio::test]
async fn retrying_the_failed_workflow_resumes_the_loop() {
    let s = server(json!({"name": "wl_failed", "version": 1, "tasks": [
        while_loop("wl", "loop", fork_body()),
    ]}))
    .await;
    s.register_task_def(json!({"name": "wl_t0", "retryCount": 0}))
        .await;
    let id = s.start("wl_failed", json!({"loop": 1})).await;
    let t = s.poll_one("wl_t0").await;
    s.fail(&t, "induced failure").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(&w, &[("WHILE", "CANCELED"), ("wl_t0", "FAILED")]);
    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("WHILE", "IN_PROGRESS"),
            ("wl_t0", "FAILED"),
            ("wl_t0", "SCHEDULED"),
        ],
    );
    finish_after_a_failure(&s, &id).await;
}

#[tokio::test]
async fn a_while_in_a_fork_branch() {
    let s = server(json!({"name": "wl_in_fork", "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [
             [while_loop("wl", "loop", json!([worker("wl_t0"), worker("wl_t1")]))],
             [worker("wl_t2")],
         ]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["wl", "wl_t2"]},
    ]}))
    .await;
    let id = s.start("wl_in_fork", json!({"loop": 1})).await;
    // As in the spec: the loop's first task after the JOIN (it is scheduled by the first
    // check of the condition, which follows the fork's scheduling).
    expect_shape(
        &s.workflow(&id).await,
        &[
            ("FORK", "COMPLETED"),
            ("WHILE", "IN_PROGRESS"),
            ("wl_t2", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
            ("wl_t0", "SCHEDULED"),
        ],
    );
    assert_eq!(work(&s, &id, "wl_t0").await["iteration"], 1);
    assert_eq!(work(&s, &id, "wl_t1").await["iteration"], 1);
    let w = s.workflow(&id).await;
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("WHILE", "COMPLETED"),
            ("wl_t2", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
            ("wl_t0", "COMPLETED"),
            ("wl_t1", "COMPLETED"),
        ],
    );
    work(&s, &id, "wl_t2").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(tasks_by_ref(&w, "join")[0]["status"], "COMPLETED");
}

#[tokio::test]
async fn two_loops_in_a_row_with_their_own_iterations() {
    let s = server(json!({"name": "wl_two", "version": 1, "tasks": [
        while_loop("wl", "loop", json!([worker("wl_a")])),
        while_loop("wl2", "loop2", json!([worker("wl_b")])),
    ]}))
    .await;
    let id = s.start("wl_two", json!({"loop": 2, "loop2": 1})).await;
    assert_eq!(work(&s, &id, "wl_a").await["referenceTaskName"], "wl_a__1");
    assert_eq!(work(&s, &id, "wl_a").await["referenceTaskName"], "wl_a__2");
    let t = work(&s, &id, "wl_b").await;
    assert_eq!(t["referenceTaskName"], "wl_b__1");
    assert_eq!(t["iteration"], 1);
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_steps(
        &w,
        &[
            ("WHILE", "COMPLETED", 2),
            ("wl_a", "COMPLETED", 1),
            ("wl_a", "COMPLETED", 2),
            ("WHILE", "COMPLETED", 1),
            ("wl_b", "COMPLETED", 1),
        ],
    );
    assert!(s.poll_batch("wl_b", 1, 0).await.is_empty());
}

#[tokio::test]
async fn the_iteration_in_a_script_expression() {
    let s = server(json!({"name": "wl_script", "version": 1, "tasks": [
        while_loop("wl", "loop", json!([lambda("wl_lambda")])),
    ]}))
    .await;
    let id = s.start("wl_script", json!({"loop": 2})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_steps(
        &w,
        &[
            ("WHILE", "COMPLETED", 2),
            ("LAMBDA", "COMPLETED", 1),
            ("LAMBDA", "COMPLETED", 2),
        ],
    );
    assert_eq!(w["tasks"][1]["outputData"]["result"]["seen"], 1);
    assert_eq!(w["tasks"][2]["outputData"]["result"]["seen"], 2);
}

#[tokio::test]
async fn a_condition_that_fails_at_the_first_check_fails_the_workflow() {
    let s = server(json!({"name": "wl_bad", "version": 1, "tasks": [
        {"name": "wl", "taskReferenceName": "wl", "type": "WHILE",
         "loopCondition": "$.missing.field.deeper > 0",
         "loopOver": [worker("wl_body")]},
    ]}))
    .await;
    let id = s.start("wl_bad", json!({})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(&w, &[("WHILE", "FAILED_WITH_TERMINAL_ERROR")]);
    let reason = w["tasks"][0]["reasonForIncompletion"]
        .as_str()
        .unwrap_or("");
    assert!(reason.contains("WHILE loopCondition failed"), "{w:#}");
}

#[tokio::test]
async fn a_while_without_a_condition_is_refused() {
    let s = TestServer::spawn().await;
    let def = json!({"name": "wl_nocond", "version": 1, "tasks": [
        {"name": "wl", "taskReferenceName": "wl", "type": "WHILE",
         "loopOver": [worker("wl_body")]},
    ]});
    let resp = s.post_json("/metadata/workflow", &def).await;
    expect_error(
        resp,
        StatusCode::BAD_REQUEST,
        &["WHILE needs a loopCondition"],
    )
    .await;
}

#[tokio::test]
async fn a_sub_workflow_in_a_single_iteration() {
    let s = server(json!({"name": "wl_sub", "version": 1, "tasks": [
        while_loop("wl", "loop", json!([
            worker("wl_t0"),
            {"name": "wl_child", "taskReferenceName": "st1", "type": "SUB_WORKFLOW",
             "subWorkflowParam": {"name": "wl_child", "version": 1}},
        ])),
    ]}))
    .await;
    s.register_workflow(simple_workflow("wl_child", &["wl_in_child"]))
        .await;
    let id = s.start("wl_sub", json!({"loop": 1})).await;
    work(&s, &id, "wl_t0").await;
    let w = s
        .wait_for(&id, "the child started", WAIT, |w| {
            tasks_by_ref(w, "st1__1")
                .first()
                .is_some_and(|t| t["status"] == "IN_PROGRESS" && t["subWorkflowId"].is_string())
        })
        .await;
    expect_shape(
        &w,
        &[
            ("WHILE", "IN_PROGRESS"),
            ("wl_t0", "COMPLETED"),
            ("SUB_WORKFLOW", "IN_PROGRESS"),
        ],
    );
    let child_id = tasks_by_ref(&w, "st1__1")[0]["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    let child = s.workflow(&child_id).await;
    expect_shape(&child, &[("wl_in_child", "SCHEDULED")]);
    work(&s, &child_id, "wl_in_child").await;
    s.wait_for_status(&child_id, "COMPLETED", WAIT).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("WHILE", "COMPLETED"),
            ("wl_t0", "COMPLETED"),
            ("SUB_WORKFLOW", "COMPLETED"),
        ],
    );
}

/// A WHILE over a SET_VARIABLE, passing once per element of `${workflow.input.list}` (none
/// if the list is null).
fn set_variable_loop() -> Value {
    json!({"name": "wl_setvar", "version": 1, "tasks": [
        {"name": "wl", "taskReferenceName": "wl", "type": "WHILE",
         "inputParameters": {"list": "${workflow.input.list}"},
         "loopCondition": "$.list != null && $.wl['iteration'] < $.list.length",
         "loopOver": [
             {"name": "wl_set", "taskReferenceName": "wl_set", "type": "SET_VARIABLE",
              "inputParameters": {"value": "${workflow.input.value}"}},
         ]},
    ]})
}

#[tokio::test]
async fn a_null_list_in_the_condition_runs_no_iteration() {
    let s = server(set_variable_loop()).await;
    let id = s
        .start("wl_setvar", json!({"value": 2, "list": null}))
        .await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(&w, &[("WHILE", "COMPLETED")]);
    assert_eq!(w["tasks"][0]["outputData"]["iteration"], 0, "{w:#}");
    assert!(w["variables"].get("value").is_none(), "{w:#}");
}

#[tokio::test]
async fn a_set_variable_in_the_loop() {
    let s = server(set_variable_loop()).await;
    let id = s.start("wl_setvar", json!({"value": 2, "list": [1]})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(&w, &[("WHILE", "COMPLETED"), ("SET_VARIABLE", "COMPLETED")]);
    assert_eq!(w["tasks"][1]["inputData"]["value"], 2, "{w:#}");
    assert_eq!(w["variables"]["value"], 2, "{w:#}");
}

#[tokio::test]
async fn a_wait_in_a_switch_in_the_loop() {
    let s = server(json!({"name": "wl_switch", "version": 1, "tasks": [
        {"name": "wl", "taskReferenceName": "wl", "type": "WHILE",
         "inputParameters": {"list": "${workflow.input.list}"},
         "loopCondition": "$.wl['iteration'] < $.list.length",
         "loopOver": [
             {"name": "wl_pick", "taskReferenceName": "wl_pick", "type": "INLINE",
              "inputParameters": {"evaluatorType": "javascript",
                                  "list": "${workflow.input.list}",
                                  "i": "${wl.output.iteration}",
                                  "expression": "$.list[$.i - 1] > 0 ? 'wait' : 'skip'"}},
             {"name": "wl_sw", "taskReferenceName": "wl_sw", "type": "SWITCH",
              "evaluatorType": "value-param", "expression": "pick",
              "inputParameters": {"pick": "${wl_pick.output.result}"},
              "decisionCases": {"wait": [
                  {"name": "wl_wait", "taskReferenceName": "wl_wait", "type": "WAIT"},
                  {"name": "wl_after_wait", "taskReferenceName": "wl_after_wait",
                   "type": "INLINE",
                   "inputParameters": {"evaluatorType": "javascript",
                                       "expression": "'waited'"}},
              ]}},
         ]},
    ]}))
    .await;
    let id = s.start("wl_switch", json!({"list": [1, 2]})).await;
    let w = s.workflow(&id).await;
    expect_shape(
        &w,
        &[
            ("WHILE", "IN_PROGRESS"),
            ("INLINE", "COMPLETED"),
            ("SWITCH", "COMPLETED"),
            ("WAIT", "IN_PROGRESS"),
        ],
    );
    let wait = w["tasks"][3].clone();
    s.complete(&wait, json!({})).await;
    let w = s.workflow(&id).await;
    expect_steps(
        &w,
        &[
            ("WHILE", "IN_PROGRESS", 2),
            ("INLINE", "COMPLETED", 1),
            ("SWITCH", "COMPLETED", 1),
            ("WAIT", "COMPLETED", 1),
            ("INLINE", "COMPLETED", 1),
            ("INLINE", "COMPLETED", 2),
            ("SWITCH", "COMPLETED", 2),
            ("WAIT", "IN_PROGRESS", 2),
        ],
    );
    let wait = w["tasks"][7].clone();
    s.complete(&wait, json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(w["tasks"].as_array().unwrap().len(), 9, "{w:#}");
    assert_eq!(w["tasks"][0]["status"], "COMPLETED", "{w:#}");
    assert_eq!(w["tasks"][0]["iteration"], 2, "{w:#}");
    assert_eq!(w["tasks"][8]["taskType"], "INLINE", "{w:#}");
    assert_eq!(w["tasks"][8]["status"], "COMPLETED", "{w:#}");
    assert_eq!(w["tasks"][8]["iteration"], 2, "{w:#}");
}
