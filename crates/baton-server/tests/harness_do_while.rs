//! DO_WHILE scenarios of Conductor's `DoWhileSpec` not covered elsewhere, with the same
//! expectations (task list, statuses, iterations, `__N` references), written for Baton with
//! its own definitions: five tasks per iteration and a task after the loop, a loop of system
//! tasks only, FORK/JOIN and SUB_WORKFLOW inside a loop, a loop inside a fork, retries inside
//! a loop (automatic and of the failed workflow), the iteration in a script, variables in the
//! loop condition, and a WAIT inside a SWITCH inside a loop.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

fn lambda(reference: &str, script: &str) -> Value {
    json!({"name": reference, "taskReferenceName": reference, "type": "LAMBDA",
           "inputParameters": {"i": "${loop.output.iteration}", "scriptExpression": script}})
}

fn jq(reference: &str) -> Value {
    json!({"name": reference, "taskReferenceName": reference, "type": "JSON_JQ_TRANSFORM",
           "inputParameters": {"queryExpression": ".i", "i": "${loop.output.iteration}"}})
}

/// A DO_WHILE `loop` over `tasks` that runs `${workflow.input.loop}` times.
fn do_while(tasks: Value) -> Value {
    json!({"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
           "inputParameters": {"value": "${workflow.input.loop}"},
           "loopCondition": "if ($.loop['iteration'] < $.value) { true; } else { false; }",
           "loopOver": tasks})
}

fn fork_join(branches: Value, join_on: Value) -> Vec<Value> {
    vec![
        json!({"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
               "forkTasks": branches}),
        json!({"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": join_on}),
    ]
}

/// Polls the task of `task_type` (which must belong to `id`, in `iteration`, with the
/// reference suffix that says so) and completes it.
async fn work(s: &TestServer, id: &str, task_type: &str, iteration: i64) -> Value {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    assert_eq!(t["iteration"], iteration, "{t:#}");
    let reference = t["referenceTaskName"].as_str().unwrap_or_default();
    if iteration > 0 {
        assert!(reference.ends_with(&format!("__{iteration}")), "{t:#}");
    } else {
        assert!(!reference.contains("__"), "{t:#}");
    }
    s.complete(&t, json!({"op": format!("{task_type}.done")}))
        .await;
    t
}

const C: &str = "COMPLETED";
const S: &str = "SCHEDULED";
const IP: &str = "IN_PROGRESS";

#[tokio::test]
async fn two_iterations_of_five_tasks_then_a_task_after_the_loop() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "dw_five", "version": 1, "tasks": [
        do_while(json!([lambda("l1", "return $.i;"), jq("j1"), worker("dw_t1"), jq("j2"),
                        worker("dw_t2")])),
        worker("dw_t3")
    ]}))
    .await;
    let id = s.start("dw_five", json!({"loop": 2})).await;
    let w = s.workflow(&id).await;
    let lj = [("LAMBDA", C, 1), ("JSON_JQ_TRANSFORM", C, 1)];
    expect_steps(&w, &[("DO_WHILE", IP, 1), lj[0], lj[1], ("dw_t1", S, 1)]);
    work(&s, &id, "dw_t1", 1).await;
    work(&s, &id, "dw_t2", 1).await;
    let w = s.workflow(&id).await;
    let got = steps(&w);
    assert_eq!(got.len(), 9, "{w:#}");
    assert_eq!(got[6], ("LAMBDA".into(), C.into(), 2));
    assert_eq!(got[8], ("dw_t1".into(), S.into(), 2));
    work(&s, &id, "dw_t1", 2).await;
    work(&s, &id, "dw_t2", 2).await;
    let w = s.workflow(&id).await;
    let got = steps(&w);
    assert_eq!(got.len(), 12, "{w:#}");
    assert_eq!(got[0], ("DO_WHILE".into(), C.into(), 2));
    assert_eq!(got[11], ("dw_t3".into(), S.into(), 0), "outside the loop");
    work(&s, &id, "dw_t3", 0).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    assert_eq!(steps(&w).len(), 12);
    assert_eq!(w["tasks"][6]["outputData"]["result"], 2, "{w:#}");
    assert_eq!(w["tasks"][7]["outputData"]["result"], 2);
}

#[tokio::test]
async fn a_loop_of_system_tasks_runs_to_its_end_at_once() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "dw_system", "version": 1, "tasks": [
        do_while(json!([lambda("l1", "return $.i;"), jq("j1"), jq("j2")])),
        worker("dw_after")
    ]}))
    .await;
    let id = s.start("dw_system", json!({"loop": 2})).await;
    let w = s.workflow(&id).await;
    expect_steps(
        &w,
        &[
            ("DO_WHILE", C, 2),
            ("LAMBDA", C, 1),
            ("JSON_JQ_TRANSFORM", C, 1),
            ("JSON_JQ_TRANSFORM", C, 1),
            ("LAMBDA", C, 2),
            ("JSON_JQ_TRANSFORM", C, 2),
            ("JSON_JQ_TRANSFORM", C, 2),
            ("dw_after", S, 0),
        ],
    );
    work(&s, &id, "dw_after", 0).await;
    s.wait_for_status(&id, C, WAIT).await;
}

fn loop_with_fork(extra: Option<Value>) -> Value {
    let mut over = vec![worker("dw_0")];
    over.extend(fork_join(
        json!([[worker("dw_1")], [worker("dw_2")]]),
        json!(["dw_1", "dw_2"]),
    ));
    over.extend(extra);
    do_while(Value::Array(over))
}

#[tokio::test]
async fn a_fork_and_join_inside_a_loop() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "dw_fork", "version": 1,
        "tasks": [loop_with_fork(None)]}))
        .await;
    let id = s.start("dw_fork", json!({"loop": 1})).await;
    expect_steps(
        &s.workflow(&id).await,
        &[("DO_WHILE", IP, 1), ("dw_0", S, 1)],
    );
    work(&s, &id, "dw_0", 1).await;
    let w = s.workflow(&id).await;
    expect_steps(
        &w,
        &[
            ("DO_WHILE", IP, 1),
            ("dw_0", C, 1),
            ("FORK", C, 1),
            ("dw_1", S, 1),
            ("dw_2", S, 1),
            ("JOIN", IP, 1),
        ],
    );
    assert_eq!(tasks_by_ref(&w, "join__1").len(), 1);
    work(&s, &id, "dw_1", 1).await;
    work(&s, &id, "dw_2", 1).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    expect_steps(
        &w,
        &[
            ("DO_WHILE", C, 1),
            ("dw_0", C, 1),
            ("FORK", C, 1),
            ("dw_1", C, 1),
            ("dw_2", C, 1),
            ("JOIN", C, 1),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_workflow_inside_a_loop() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "dw_child", "version": 1,
        "tasks": [worker("dw_in_child")]}))
        .await;
    let sub = json!({"name": "st1", "taskReferenceName": "st1", "type": "SUB_WORKFLOW",
                     "subWorkflowParam": {"name": "dw_child"}});
    s.register_workflow(json!({"name": "dw_sub", "version": 1,
        "tasks": [loop_with_fork(Some(sub))]}))
        .await;
    let id = s.start("dw_sub", json!({"loop": 1})).await;
    work(&s, &id, "dw_0", 1).await;
    work(&s, &id, "dw_1", 1).await;
    work(&s, &id, "dw_2", 1).await;
    let w = s
        .wait_for(&id, "the child starts", WAIT, |w| {
            tasks_by_ref(w, "st1__1")
                .first()
                .is_some_and(|t| t["subWorkflowId"].as_str().is_some())
        })
        .await;
    expect_steps(
        &w,
        &[
            ("DO_WHILE", IP, 1),
            ("dw_0", C, 1),
            ("FORK", C, 1),
            ("dw_1", C, 1),
            ("dw_2", C, 1),
            ("JOIN", C, 1),
            ("SUB_WORKFLOW", IP, 1),
        ],
    );
    let child = tasks_by_ref(&w, "st1__1")[0]["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    let t = s.poll_one("dw_in_child").await;
    assert_eq!(t["workflowInstanceId"], child.as_str());
    s.complete(&t, json!({})).await;
    s.wait_for_status(&child, C, WAIT).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    assert_eq!(steps(&w).len(), 7);
    assert_eq!(steps(&w)[6], ("SUB_WORKFLOW".into(), C.into(), 1));
}

/// A loop task that fails for good fails the workflow and cancels the loop; retrying the
/// workflow re-opens the loop and retries the task in the same iteration.
#[tokio::test]
async fn retrying_a_workflow_failed_inside_a_loop_resumes_the_loop() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "dw_0", "retryCount": 0}))
        .await;
    s.register_workflow(json!({"name": "dw_retry", "version": 1,
        "tasks": [loop_with_fork(None)]}))
        .await;
    let id = s.start("dw_retry", json!({"loop": 1})).await;
    let t = s.poll_one("dw_0").await;
    s.fail(&t, "induced..failure").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_steps(&w, &[("DO_WHILE", "CANCELED", 1), ("dw_0", "FAILED", 1)]);

    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    expect_steps(
        &s.workflow(&id).await,
        &[("DO_WHILE", IP, 1), ("dw_0", "FAILED", 1), ("dw_0", S, 1)],
    );
    work(&s, &id, "dw_0", 1).await;
    work(&s, &id, "dw_1", 1).await;
    work(&s, &id, "dw_2", 1).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    expect_steps(
        &w,
        &[
            ("DO_WHILE", C, 1),
            ("dw_0", "FAILED", 1),
            ("dw_0", C, 1),
            ("FORK", C, 1),
            ("dw_1", C, 1),
            ("dw_2", C, 1),
            ("JOIN", C, 1),
        ],
    );
}

#[tokio::test]
async fn a_task_inside_a_loop_is_retried_automatically_in_its_iteration() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "dw_0", "retryCount": 1, "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(json!({"name": "dw_auto", "version": 1,
        "tasks": [loop_with_fork(None)]}))
        .await;
    let id = s.start("dw_auto", json!({"loop": 1})).await;
    let t = s.poll_one("dw_0").await;
    s.fail(&t, "induced..failure").await;
    let w = s.workflow(&id).await;
    expect_steps(
        &w,
        &[("DO_WHILE", IP, 1), ("dw_0", "FAILED", 1), ("dw_0", S, 1)],
    );
    assert_eq!(w["tasks"][1]["retried"], true);
    assert_eq!(w["tasks"][2]["retryCount"], 1);
    assert_eq!(w["tasks"][2]["retriedTaskId"], w["tasks"][1]["taskId"]);
    assert_eq!(w["tasks"][2]["referenceTaskName"], "dw_0__1");
    work(&s, &id, "dw_0", 1).await;
    work(&s, &id, "dw_1", 1).await;
    work(&s, &id, "dw_2", 1).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    assert_eq!(steps(&w).len(), 7, "{w:#}");
}

#[tokio::test]
async fn a_loop_inside_a_fork_branch() {
    let s = TestServer::spawn().await;
    let inner = json!({"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
        "inputParameters": {"value": "${workflow.input.loop}"},
        "loopCondition": "if ($.loop['iteration'] < $.value) { true; } else { false; }",
        "loopOver": [worker("dw_0"), worker("dw_1")]});
    s.register_workflow(json!({"name": "dw_in_fork", "version": 1,
        "tasks": fork_join(json!([[inner], [worker("dw_2")]]), json!(["loop", "dw_2"]))}))
        .await;
    let id = s.start("dw_in_fork", json!({"loop": 1})).await;
    // Baton lists the loop's first task right after the loop (Conductor after the JOIN).
    expect_steps(
        &s.workflow(&id).await,
        &[
            ("FORK", C, 0),
            ("DO_WHILE", IP, 1),
            ("dw_0", S, 1),
            ("dw_2", S, 0),
            ("JOIN", IP, 0),
        ],
    );
    work(&s, &id, "dw_0", 1).await;
    work(&s, &id, "dw_1", 1).await;
    let w = s.workflow(&id).await;
    assert_eq!(steps(&w)[1], ("DO_WHILE".into(), C.into(), 1));
    assert_eq!(steps(&w)[4], ("JOIN".into(), IP.into(), 0), "{w:#}");
    work(&s, &id, "dw_2", 0).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    expect_steps(
        &w,
        &[
            ("FORK", C, 0),
            ("DO_WHILE", C, 1),
            ("dw_0", C, 1),
            ("dw_2", C, 0),
            ("JOIN", C, 0),
            ("dw_1", C, 1),
        ],
    );
}

#[tokio::test]
async fn a_script_in_the_loop_reads_the_iteration() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "dw_iteration", "version": 1, "tasks": [
        {"name": "loopTask", "taskReferenceName": "loopTask", "type": "DO_WHILE",
         "inputParameters": {"value": "${workflow.input.loop}"},
         "loopCondition": "if ($.loopTask['iteration'] < $.value) { true; } else { false; }",
         "loopOver": [{"name": "form_uri", "taskReferenceName": "form_uri", "type": "LAMBDA",
             "inputParameters": {"index": "${loopTask.output.iteration}",
                                 "scriptExpression": "return $.index - 1;"}}]}
    ]}))
    .await;
    let id = s.start("dw_iteration", json!({"loop": 2})).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    expect_steps(
        &w,
        &[("DO_WHILE", C, 2), ("LAMBDA", C, 1), ("LAMBDA", C, 2)],
    );
    assert_eq!(w["tasks"][1]["outputData"]["result"], 0);
    assert_eq!(w["tasks"][2]["outputData"]["result"], 1);
}

/// The loop's input is resolved again for each condition check, so a variable set inside
/// the loop ends it.
#[tokio::test]
async fn a_variable_set_inside_the_loop_ends_it() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "dw_variable", "version": 1, "tasks": [
        {"name": "loopTask", "taskReferenceName": "loopTask", "type": "DO_WHILE",
         "inputParameters": {"value": "${workflow.variables.value}"},
         "loopCondition": "if ($.value == null || $.value < 3) { true; } else { false; }",
         "loopOver": [{"name": "set_variable", "taskReferenceName": "set_variable",
             "type": "SET_VARIABLE",
             "inputParameters": {"value": "${loopTask.output.iteration}"}}]}
    ]}))
    .await;
    let id = s.start("dw_variable", json!({})).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    expect_steps(
        &w,
        &[
            ("DO_WHILE", C, 3),
            ("SET_VARIABLE", C, 1),
            ("SET_VARIABLE", C, 2),
            ("SET_VARIABLE", C, 3),
        ],
    );
    assert_eq!(w["variables"]["value"], 3);
}

/// Per list item: an INLINE picks it, a SWITCH on it waits (WAIT) for positive numbers; each
/// WAIT is completed from outside and the next iteration starts.
#[tokio::test]
async fn a_wait_inside_a_switch_inside_a_loop() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "dw_decision", "version": 1, "tasks": [
        {"name": "LoopTask", "taskReferenceName": "LoopTask", "type": "DO_WHILE",
         "inputParameters": {"list": "${workflow.input.list}"},
         "loopCondition": "$.LoopTask['iteration'] < $.list.length",
         "loopOver": [
            {"name": "GetNumberAtIndex", "taskReferenceName": "GetNumberAtIndex",
             "type": "INLINE", "inputParameters": {"evaluatorType": "javascript",
                "list": "${workflow.input.list}", "iterator": "${LoopTask.output.iteration}",
                "expression": "$.list[$.iterator - 1]"}},
            {"name": "SwitchTask", "taskReferenceName": "SwitchTask", "type": "SWITCH",
             "evaluatorType": "javascript", "expression": "$.param > 0",
             "inputParameters": {"param": "${GetNumberAtIndex.output.result}"},
             "decisionCases": {"true": [
                {"name": "WaitTask", "taskReferenceName": "WaitTask", "type": "WAIT"},
                {"name": "ComputeNumber", "taskReferenceName": "ComputeNumber",
                 "type": "INLINE", "inputParameters": {"evaluatorType": "javascript",
                    "number": "${GetNumberAtIndex.output.result}",
                    "expression": "$.number + 10"}}]}}
         ]}
    ]}))
    .await;
    let id = s.start("dw_decision", json!({"list": [1, 2]})).await;
    expect_steps(
        &s.workflow(&id).await,
        &[
            ("DO_WHILE", IP, 1),
            ("INLINE", C, 1),
            ("SWITCH", C, 1),
            ("WAIT", IP, 1),
        ],
    );
    let resp = s
        .post_json(&format!("/tasks/{id}/WaitTask/COMPLETED"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    expect_steps(
        &s.workflow(&id).await,
        &[
            ("DO_WHILE", IP, 2),
            ("INLINE", C, 1),
            ("SWITCH", C, 1),
            ("WAIT", C, 1),
            ("INLINE", C, 1),
            ("INLINE", C, 2),
            ("SWITCH", C, 2),
            ("WAIT", IP, 2),
        ],
    );
    let resp = s
        .post_json(&format!("/tasks/{id}/WaitTask/COMPLETED"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    expect_steps(
        &w,
        &[
            ("DO_WHILE", C, 2),
            ("INLINE", C, 1),
            ("SWITCH", C, 1),
            ("WAIT", C, 1),
            ("INLINE", C, 1),
            ("INLINE", C, 2),
            ("SWITCH", C, 2),
            ("WAIT", C, 2),
            ("INLINE", C, 2),
        ],
    );
    assert_eq!(w["tasks"][4]["outputData"]["result"], 11);
    assert_eq!(w["tasks"][8]["outputData"]["result"], 12);
}
