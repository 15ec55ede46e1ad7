//! `permissive` tasks, as Conductor 3.32 runs them (its `ForkJoinTest` permissive cases, the
//! decider's end-of-workflow check, JOIN, EXCLUSIVE_JOIN and DO_WHILE), written for Baton:
//! a permissive task that fails for good does not fail the workflow at once; what follows
//! it runs, a JOIN waits for its other branches and then fails, and a workflow that would
//! otherwise end successfully fails naming the permissive task. `optional` wins.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

fn permissive(name: &str) -> Value {
    let mut t = worker(name);
    t["permissive"] = json!(true);
    t
}

/// Registers each task definition with `retryCount` retries and no delay.
async fn defs(s: &TestServer, names: &[&str], retries: i32) {
    for n in names {
        s.register_task_def(json!({"name": n, "retryCount": retries, "retryDelaySeconds": 0}))
            .await;
    }
}

async fn work(s: &TestServer, id: &str, task_type: &str) -> Value {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, json!({"by": task_type})).await;
    t
}

async fn fail(s: &TestServer, id: &str, task_type: &str, reason: &str) -> Value {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.fail(&t, reason).await;
    t
}

/// Fails the next `task_type` task the way a worker does that gives no reason.
async fn fail_without_reason(s: &TestServer, id: &str, task_type: &str) -> Value {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    let resp = s
        .update(&json!({"taskId": t["taskId"], "workflowInstanceId": id,
                        "workerId": "test-worker", "status": "FAILED"}))
        .await;
    expect_status(resp, reqwest::StatusCode::OK).await;
    let after = s.workflow(id).await;
    let failed = after["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|x| x["taskId"] == t["taskId"]))
        .expect("the failed task");
    assert!(failed["reasonForIncompletion"].is_null(), "{failed:#}");
    t
}

fn reason(w: &Value) -> &str {
    w["reasonForIncompletion"].as_str().unwrap_or_default()
}

fn task_reason(task: &Value) -> String {
    format!(
        "Task {} failed with status: FAILED and reason: '{}'",
        task["taskId"].as_str().unwrap(),
        task["reasonForIncompletion"].as_str().unwrap_or_default()
    )
}

#[tokio::test]
async fn a_failed_permissive_task_lets_the_sequence_run_and_fails_the_workflow_at_its_end() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_a", "pm_b", "pm_c"], 0).await;
    s.register_workflow(json!({"name": "pm_seq", "version": 1, "tasks": [
        permissive("pm_a"), worker("pm_b"), worker("pm_c")
    ]}))
    .await;
    let id = s.start("pm_seq", json!({})).await;
    let a = fail(&s, &id, "pm_a", "a broke").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(&w, &[("pm_a", "FAILED"), ("pm_b", "SCHEDULED")]);
    work(&s, &id, "pm_b").await;
    work(&s, &id, "pm_c").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("pm_a", "FAILED"),
            ("pm_b", "COMPLETED"),
            ("pm_c", "COMPLETED"),
        ],
    );
    assert_eq!(
        reason(&w),
        format!(
            "Task {} failed with status: FAILED and reason: 'a broke'",
            a["taskId"].as_str().unwrap()
        )
    );
    assert_eq!(w["failedReferenceTaskNames"], json!(["pm_a"]), "{w:#}");
    // The output is the last task's, as for any other ending.
    assert_eq!(w["output"]["by"], "pm_c", "{w:#}");
}

#[tokio::test]
async fn every_failed_permissive_task_is_named_with_its_own_status() {
    let s = TestServer::spawn().await;
    // Retries left do not matter to FAILED_WITH_TERMINAL_ERROR.
    defs(&s, &["pm_d", "pm_e"], 0).await;
    defs(&s, &["pm_f"], 3).await;
    s.register_workflow(json!({"name": "pm_two", "version": 1, "tasks": [
        permissive("pm_d"), permissive("pm_f"), worker("pm_e")
    ]}))
    .await;
    let id = s.start("pm_two", json!({})).await;
    let d = fail(&s, &id, "pm_d", "d broke").await;
    let f = s.poll_one("pm_f").await;
    s.fail_with(&f, "FAILED_WITH_TERMINAL_ERROR", "f broke for good")
        .await;
    work(&s, &id, "pm_e").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(
        reason(&w),
        format!(
            "Task {} failed with status: FAILED and reason: 'd broke'. Task {} failed with \
             status: FAILED_WITH_TERMINAL_ERROR and reason: 'f broke for good'",
            d["taskId"].as_str().unwrap(),
            f["taskId"].as_str().unwrap()
        )
    );
}

#[tokio::test]
async fn a_permissive_task_with_retries_left_is_retried_first_and_judged_by_its_last_attempt() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_r", "pm_after"], 0).await;
    defs(&s, &["pm_r"], 1).await;
    s.register_workflow(json!({"name": "pm_retry", "version": 1, "tasks": [
        permissive("pm_r"), worker("pm_after")
    ]}))
    .await;

    // Failing twice: retried once, then tolerated; the workflow fails at its end naming the
    // second attempt.
    let id = s.start("pm_retry", json!({})).await;
    fail(&s, &id, "pm_r", "first").await;
    let w = s.workflow(&id).await;
    expect_shape(&w, &[("pm_r", "FAILED"), ("pm_r", "SCHEDULED")]);
    let second = fail(&s, &id, "pm_r", "second").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(
        &w,
        &[
            ("pm_r", "FAILED"),
            ("pm_r", "FAILED"),
            ("pm_after", "SCHEDULED"),
        ],
    );
    work(&s, &id, "pm_after").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(
        reason(&w),
        format!(
            "Task {} failed with status: FAILED and reason: 'second'",
            second["taskId"].as_str().unwrap()
        )
    );

    // Failing once, then succeeding: only the latest attempt counts.
    let id = s.start("pm_retry", json!({})).await;
    fail(&s, &id, "pm_r", "first").await;
    work(&s, &id, "pm_r").await;
    work(&s, &id, "pm_after").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("pm_r", "FAILED"),
            ("pm_r", "COMPLETED"),
            ("pm_after", "COMPLETED"),
        ],
    );
}

#[tokio::test]
async fn optional_wins_over_permissive() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_o", "pm_o2"], 0).await;
    let mut both = permissive("pm_o");
    both["optional"] = json!(true);
    s.register_workflow(json!({"name": "pm_opt", "version": 1, "tasks": [
        both, worker("pm_o2")
    ]}))
    .await;
    let id = s.start("pm_opt", json!({})).await;
    fail(&s, &id, "pm_o", "tolerated").await;
    work(&s, &id, "pm_o2").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[("pm_o", "COMPLETED_WITH_ERRORS"), ("pm_o2", "COMPLETED")],
    );
}

/// fork [[pm_f1], [pm_f2]] (both permissive), join on both, then pm_f3.
fn permissive_fork(name: &str) -> Value {
    json!({"name": name, "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [[permissive("pm_f1")], [permissive("pm_f2")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN",
         "joinOn": ["pm_f1", "pm_f2"]},
        worker("pm_f3")
    ]})
}

#[tokio::test]
async fn the_join_waits_for_the_other_branches_then_fails_the_workflow() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_f1", "pm_f2", "pm_f3"], 0).await;
    s.register_workflow(permissive_fork("pm_fork")).await;
    let id = s.start("pm_fork", json!({})).await;
    fail(&s, &id, "pm_f1", "Failed...").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("pm_f1", "FAILED"),
            ("pm_f2", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    work(&s, &id, "pm_f2").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("pm_f1", "FAILED"),
            ("pm_f2", "COMPLETED"),
            ("JOIN", "FAILED"),
        ],
    );
    let join = tasks_by_ref(&w, "join")[0];
    assert_eq!(join["reasonForIncompletion"], "Failed...", "{join:#}");
    // Conductor's JOIN stops at the first failed branch (pm_f1, which output nothing):
    // pm_f2, after it in joinOn, adds nothing either.
    assert_eq!(join["outputData"], json!({}), "{join:#}");
    assert_eq!(reason(&w), task_reason(join));
}

/// Conductor's `Join.java` (3.32) goes through `joinOn` in order and, at the first failed
/// branch task, stops: the failing JOIN holds the outputs of the branches before it and its
/// own, not those after it, and its reason joins every failed branch's reason.
#[tokio::test]
async fn a_failed_join_keeps_the_outputs_up_to_its_first_failed_branch() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_o1", "pm_o2", "pm_o3"], 0).await;
    s.register_workflow(json!({"name": "pm_outputs", "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [[worker("pm_o1")], [permissive("pm_o2")], [worker("pm_o3")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN",
         "joinOn": ["pm_o1", "pm_o2", "pm_o3"]}
    ]}))
    .await;
    let id = s.start("pm_outputs", json!({})).await;
    work(&s, &id, "pm_o1").await;
    let t = s.poll_one("pm_o2").await;
    let resp = s
        .update(&json!({"taskId": t["taskId"], "workflowInstanceId": id,
                        "workerId": "test-worker", "status": "FAILED",
                        "reasonForIncompletion": "two broke",
                        "outputData": {"partial": 2}}))
        .await;
    expect_status(resp, reqwest::StatusCode::OK).await;
    assert_eq!(s.workflow(&id).await["status"], "RUNNING");
    work(&s, &id, "pm_o3").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let join = tasks_by_ref(&w, "join")[0];
    assert_eq!(join["status"], "FAILED", "{join:#}");
    assert_eq!(join["reasonForIncompletion"], "two broke", "{join:#}");
    assert_eq!(
        join["outputData"],
        json!({"pm_o1": {"by": "pm_o1"}, "pm_o2": {"partial": 2}}),
        "{join:#}"
    );
}

#[tokio::test]
async fn a_join_over_two_failed_permissive_branches_names_both_reasons() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_f1", "pm_f2", "pm_f3"], 0).await;
    s.register_workflow(permissive_fork("pm_fork2")).await;
    let id = s.start("pm_fork2", json!({})).await;
    fail(&s, &id, "pm_f2", "two broke").await;
    assert_eq!(s.workflow(&id).await["status"], "RUNNING");
    fail(&s, &id, "pm_f1", "one broke").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let join = tasks_by_ref(&w, "join")[0];
    // In joinOn order, whatever order they failed in.
    assert_eq!(
        join["reasonForIncompletion"], "one broke two broke",
        "{join:#}"
    );

    // Retrying the workflow re-opens the JOIN and runs both failed branches again.
    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, reqwest::StatusCode::NO_CONTENT).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    work(&s, &id, "pm_f1").await;
    work(&s, &id, "pm_f2").await;
    work(&s, &id, "pm_f3").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(tasks_by_ref(&w, "join")[0]["status"], "COMPLETED", "{w:#}");
}

#[tokio::test]
async fn a_join_writes_null_for_a_branch_that_failed_without_a_reason() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_f1", "pm_f2", "pm_f3"], 0).await;
    s.register_workflow(permissive_fork("pm_fork_null")).await;
    let id = s.start("pm_fork_null", json!({})).await;
    fail_without_reason(&s, &id, "pm_f1").await;
    fail(&s, &id, "pm_f2", "two broke").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let join = tasks_by_ref(&w, "join")[0];
    assert_eq!(join["reasonForIncompletion"], "null two broke", "{join:#}");
    assert_eq!(reason(&w), task_reason(join));
}

#[tokio::test]
async fn a_branch_goes_on_after_its_permissive_task_and_the_end_of_the_workflow_fails() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_b1", "pm_b2", "pm_c1", "pm_end"], 0).await;
    s.register_workflow(json!({"name": "pm_branch", "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [[permissive("pm_b1"), worker("pm_b2")], [worker("pm_c1")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN",
         "joinOn": ["pm_b2", "pm_c1"]},
        worker("pm_end")
    ]}))
    .await;
    let id = s.start("pm_branch", json!({})).await;
    let b1 = fail(&s, &id, "pm_b1", "b1 broke").await;
    work(&s, &id, "pm_b2").await;
    work(&s, &id, "pm_c1").await;
    // The JOIN joins on tasks that succeeded: it completes and the workflow goes on.
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    assert_eq!(tasks_by_ref(&w, "join")[0]["status"], "COMPLETED", "{w:#}");
    work(&s, &id, "pm_end").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(
        reason(&w),
        format!(
            "Task {} failed with status: FAILED and reason: 'b1 broke'",
            b1["taskId"].as_str().unwrap()
        )
    );
}

#[tokio::test]
async fn an_exclusive_join_on_a_failed_permissive_task_fails() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_x1", "pm_x2", "pm_after"], 0).await;
    s.register_workflow(json!({"name": "pm_xj", "version": 1, "tasks": [
        {"name": "decide", "taskReferenceName": "decide", "type": "SWITCH",
         "evaluatorType": "value-param", "expression": "which",
         "inputParameters": {"which": "${workflow.input.which}"},
         "decisionCases": {"one": [permissive("pm_x1")], "two": [worker("pm_x2")]}},
        {"name": "xj", "taskReferenceName": "xj", "type": "EXCLUSIVE_JOIN",
         "joinOn": ["pm_x1", "pm_x2"]},
        worker("pm_after")
    ]}))
    .await;
    let id = s.start("pm_xj", json!({"which": "one"})).await;
    fail(&s, &id, "pm_x1", "x1 broke").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("SWITCH", "COMPLETED"),
            ("pm_x1", "FAILED"),
            ("EXCLUSIVE_JOIN", "FAILED"),
        ],
    );
    let xj = tasks_by_ref(&w, "xj")[0];
    // Conductor's EXCLUSIVE_JOIN appends a space to the reason it takes.
    assert_eq!(xj["reasonForIncompletion"], "x1 broke ", "{xj:#}");
    assert_eq!(reason(&w), task_reason(xj));

    // A task that failed without a reason: Java writes `null`.
    let id = s.start("pm_xj", json!({"which": "one"})).await;
    fail_without_reason(&s, &id, "pm_x1").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    let xj = tasks_by_ref(&w, "xj")[0];
    assert_eq!(xj["reasonForIncompletion"], "null ", "{xj:#}");
    assert_eq!(reason(&w), task_reason(xj));
}

#[tokio::test]
async fn a_failed_permissive_task_in_a_loop_fails_the_loop() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_l1", "pm_l2"], 0).await;
    s.register_workflow(json!({"name": "pm_loop", "version": 1, "tasks": [
        {"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
         "loopCondition": "$.loop['iteration'] < 3",
         "loopOver": [permissive("pm_l1"), worker("pm_l2")]}
    ]}))
    .await;
    let id = s.start("pm_loop", json!({})).await;
    work(&s, &id, "pm_l1").await;
    work(&s, &id, "pm_l2").await;
    fail(&s, &id, "pm_l1", "second pass broke").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_steps(
        &w,
        &[
            ("DO_WHILE", "FAILED", 2),
            ("pm_l1", "COMPLETED", 1),
            ("pm_l2", "COMPLETED", 1),
            ("pm_l1", "FAILED", 2),
            ("pm_l2", "CANCELED", 2),
        ],
    );
    let lp = tasks_by_ref(&w, "loop")[0];
    // Conductor's DO_WHILE appends a space to the reason it takes.
    assert_eq!(lp["reasonForIncompletion"], "second pass broke ", "{lp:#}");
    assert_eq!(reason(&w), task_reason(lp));
}

#[tokio::test]
async fn a_terminate_after_a_failed_permissive_task_fails_the_workflow() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_t"], 0).await;
    s.register_workflow(json!({"name": "pm_term", "version": 1, "tasks": [
        permissive("pm_t"),
        {"name": "end", "taskReferenceName": "end", "type": "TERMINATE",
         "inputParameters": {"terminationStatus": "COMPLETED", "workflowOutput": {"done": true}}}
    ]}))
    .await;
    let id = s.start("pm_term", json!({})).await;
    let t = fail(&s, &id, "pm_t", "t broke").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(&w, &[("pm_t", "FAILED"), ("TERMINATE", "COMPLETED")]);
    assert_eq!(
        reason(&w),
        format!(
            "Task {} failed with status: FAILED and reason: 't broke'",
            t["taskId"].as_str().unwrap()
        )
    );
    assert_eq!(w["output"], json!({"done": true}), "{w:#}");
}

#[tokio::test]
async fn retrying_a_workflow_failed_at_its_end_runs_the_permissive_task_again() {
    let s = TestServer::spawn().await;
    defs(&s, &["pm_p", "pm_q"], 0).await;
    s.register_workflow(json!({"name": "pm_again", "version": 1, "tasks": [
        permissive("pm_p"), worker("pm_q")
    ]}))
    .await;
    let id = s.start("pm_again", json!({})).await;
    fail(&s, &id, "pm_p", "p broke").await;
    work(&s, &id, "pm_q").await;
    s.wait_for_status(&id, "FAILED", WAIT).await;
    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, reqwest::StatusCode::NO_CONTENT).await;
    work(&s, &id, "pm_p").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    // What already ran after it does not run again.
    expect_shape(
        &w,
        &[
            ("pm_p", "FAILED"),
            ("pm_q", "COMPLETED"),
            ("pm_p", "COMPLETED"),
        ],
    );
}
