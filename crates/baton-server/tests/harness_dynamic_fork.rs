//! The cases of Conductor's `DynamicForkJoinSpec`, with the same expectations, written for
//! Baton with its own definitions: a worker's output names the branches (`dynamicTasks`) and
//! their inputs (`dynamicTasksInput`) of a FORK_JOIN_DYNAMIC;
//!
//! - the branches get their inputs, the JOIN's output holds each branch's output;
//! - a failed branch fails the workflow, cancels the other branch and the JOIN;
//! - retrying it re-opens the JOIN in place and runs the failed and the canceled branch again;
//! - a SUB_WORKFLOW branch whose child fails; retried with `resumeSubworkflowTasks`, the child
//!   is retried in place and the parent goes on to its end;
//! - branches that output nothing leave the JOIN's output empty;
//! - branch inputs that are not objects fail the workflow (at once, and when the fork is the
//!   first task of a workflow started with them).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const JOIN: &str = "dynamicfanouttask_join";

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

fn dynamic_fork(from: &str) -> Value {
    json!({"name": "dynamicfanouttask", "taskReferenceName": "dynamicfanouttask",
           "type": "FORK_JOIN_DYNAMIC",
           "inputParameters": {"dynamicTasks": format!("${{{from}.dynamicTasks}}"),
                               "dynamicTasksInput": format!("${{{from}.dynamicTasksInput}}")},
           "dynamicForkTasksParam": "dynamicTasks",
           "dynamicForkTasksInputParamName": "dynamicTasksInput"})
}

/// dyn_first → dynamic fork over its output → JOIN → dyn_last.
async fn server() -> (TestServer, String) {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "dyn_a", "retryCount": 0}))
        .await;
    s.register_task_def(json!({"name": "child_b", "retryCount": 0}))
        .await;
    s.register_workflow(json!({"name": "dyn_fan", "version": 1, "tasks": [
        worker("dyn_first"),
        dynamic_fork("dyn_first.output"),
        {"name": JOIN, "taskReferenceName": JOIN, "type": "JOIN"},
        worker("dyn_last"),
    ]}))
    .await;
    let id = s.start("dyn_fan", json!({})).await;
    expect_shape(&s.workflow(&id).await, &[("dyn_first", "SCHEDULED")]);
    (s, id)
}

/// The SUB_WORKFLOW task at `index` is IN_PROGRESS with its child started.
fn started(w: &Value, index: usize) -> bool {
    let t = &w["tasks"][index];
    t["status"] == "IN_PROGRESS" && t["subWorkflowId"].is_string()
}

async fn work(s: &TestServer, id: &str, task_type: &str, output: Value) -> Value {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, output).await;
    t
}

/// Completes dyn_first naming two worker branches, x1 (dyn_a) and x2 (dyn_b).
async fn fork_two(s: &TestServer, id: &str, inputs: Value) {
    let branches = json!([
        {"name": "dyn_a", "taskReferenceName": "x1", "type": "SIMPLE"},
        {"name": "dyn_b", "taskReferenceName": "x2", "type": "SIMPLE"},
    ]);
    let output = json!({"dynamicTasks": branches, "dynamicTasksInput": inputs});
    work(s, id, "dyn_first", output).await;
}

fn forked() -> [(&'static str, &'static str); 5] {
    [
        ("dyn_first", "COMPLETED"),
        ("FORK", "COMPLETED"),
        ("dyn_a", "SCHEDULED"),
        ("dyn_b", "SCHEDULED"),
        ("JOIN", "IN_PROGRESS"),
    ]
}

fn inputs() -> Value {
    json!({"x1": {"k1": "v1"}, "x2": {"k2": "v2"}})
}

#[tokio::test]
async fn dynamic_branches_get_their_inputs_and_the_join_their_outputs() {
    let (s, id) = server().await;
    fork_two(&s, &id, inputs()).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &forked());
    assert_eq!(w["tasks"][4]["referenceTaskName"], JOIN);

    let a = work(&s, &id, "dyn_a", json!({"ok1": "ov1"})).await;
    assert_eq!(a["inputData"]["k1"], "v1", "{a:#}");
    let b = work(&s, &id, "dyn_b", json!({"ok1": "ov1"})).await;
    assert_eq!(b["inputData"]["k2"], "v2", "{b:#}");
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    let join = &w["tasks"][4];
    assert_eq!(join["status"], "COMPLETED", "{w:#}");
    assert_eq!(join["inputData"]["joinOn"], json!(["x1", "x2"]));
    assert_eq!(join["outputData"]["x1"]["ok1"], "ov1");
    assert_eq!(join["outputData"]["x2"]["ok1"], "ov1");
    assert_eq!(shape(&w)[5], ("dyn_last".into(), "SCHEDULED".into()));

    work(&s, &id, "dyn_last", json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(shape(&w).len(), 6, "{w:#}");
}

async fn fail_a_branch(s: &TestServer, id: &str) {
    fork_two(s, id, inputs()).await;
    let t = s.poll_one("dyn_a").await;
    assert_eq!(t["inputData"]["k1"], "v1");
    s.fail(&t, "it is a failure..").await;
    let w = s.wait_for_status(id, "FAILED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("dyn_first", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("dyn_a", "FAILED"),
            ("dyn_b", "CANCELED"),
            ("JOIN", "CANCELED"),
        ],
    );
    assert_eq!(w["tasks"][4]["inputData"]["joinOn"], json!(["x1", "x2"]));
}

#[tokio::test]
async fn a_failed_dynamic_branch_fails_the_workflow_and_cancels_the_rest() {
    let (s, id) = server().await;
    fail_a_branch(&s, &id).await;
}

#[tokio::test]
async fn retrying_a_failed_dynamic_fork_runs_the_failed_and_canceled_branches_again() {
    let (s, id) = server().await;
    fail_a_branch(&s, &id).await;
    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("dyn_first", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("dyn_a", "FAILED"),
            ("dyn_b", "CANCELED"),
            ("JOIN", "IN_PROGRESS"),
            ("dyn_a", "SCHEDULED"),
            ("dyn_b", "SCHEDULED"),
        ],
    );
    assert_eq!(w["tasks"][4]["inputData"]["joinOn"], json!(["x1", "x2"]));

    let a = work(&s, &id, "dyn_a", json!({"ok1": "ov1"})).await;
    assert_eq!(a["inputData"]["k1"], "v1");
    let b = work(&s, &id, "dyn_b", json!({"ok1": "ov1"})).await;
    assert_eq!(b["inputData"]["k2"], "v2");
    let w = s.workflow(&id).await;
    let join = &w["tasks"][4];
    assert_eq!(join["status"], "COMPLETED", "{w:#}");
    assert_eq!(join["outputData"]["x1"]["ok1"], "ov1");
    assert_eq!(join["outputData"]["x2"]["ok1"], "ov1");
    assert_eq!(shape(&w)[7], ("dyn_last".into(), "SCHEDULED".into()));
    work(&s, &id, "dyn_last", json!({})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(shape(&w).len(), 8, "{w:#}");
}

#[tokio::test]
async fn a_failed_dynamic_sub_workflow_branch_is_resumed_in_place_on_retry() {
    let (s, id) = server().await;
    s.register_workflow(json!({"name": "dyn_child", "version": 1,
                               "tasks": [worker("child_a"), worker("child_b"), worker("child_c")]}))
        .await;
    let branches = json!([
        {"name": "dyn_sub", "taskReferenceName": "x1", "type": "SUB_WORKFLOW",
         "subWorkflowParam": {"name": "dyn_child", "version": 1}},
        {"name": "dyn_b", "taskReferenceName": "x10", "type": "SIMPLE"},
    ]);
    let output = json!({"dynamicTasks": branches,
                        "dynamicTasksInput": {"x1": {"p1": "q1"}, "x10": {"k2": "v2"}}});
    work(&s, &id, "dyn_first", output).await;
    let w = s
        .wait_for(&id, "the child started", WAIT, |w| started(w, 2))
        .await;
    expect_shape(
        &w,
        &[
            ("dyn_first", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "IN_PROGRESS"),
            ("dyn_b", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    let child = w["tasks"][2]["subWorkflowId"].as_str().unwrap().to_string();
    expect_shape(&s.workflow(&child).await, &[("child_a", "SCHEDULED")]);

    work(&s, &id, "dyn_b", json!({})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["tasks"][3]["status"], "COMPLETED");
    assert_eq!(w["tasks"][4]["status"], "IN_PROGRESS");
    work(&s, &child, "child_a", json!({})).await;
    let t = s.poll_one("child_b").await;
    s.fail(&t, "failure").await;
    let c = s.wait_for_status(&child, "FAILED", WAIT).await;
    expect_shape(&c, &[("child_a", "COMPLETED"), ("child_b", "FAILED")]);
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("dyn_first", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "FAILED"),
            ("dyn_b", "COMPLETED"),
            ("JOIN", "CANCELED"),
        ],
    );

    let resp = s
        .post_json(
            &format!("/workflow/{id}/retry?resumeSubworkflowTasks=true"),
            &json!({}),
        )
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    // Conductor shows the JOIN CANCELED until the next sweep; Baton re-opens it at once.
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("dyn_first", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "IN_PROGRESS"),
            ("dyn_b", "COMPLETED"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    assert_eq!(w["tasks"][2]["subWorkflowId"], child.as_str());
    let c = s.workflow(&child).await;
    assert_eq!(c["status"], "RUNNING");
    expect_shape(
        &c,
        &[
            ("child_a", "COMPLETED"),
            ("child_b", "FAILED"),
            ("child_b", "SCHEDULED"),
        ],
    );

    work(&s, &child, "child_b", json!({})).await;
    work(&s, &child, "child_c", json!({})).await;
    s.wait_for_status(&child, "COMPLETED", WAIT).await;
    let w = s
        .wait_for(&id, "dyn_last scheduled", WAIT, |w| {
            w["tasks"][5]["status"] == "SCHEDULED"
        })
        .await;
    expect_shape(
        &w,
        &[
            ("dyn_first", "COMPLETED"),
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "COMPLETED"),
            ("dyn_b", "COMPLETED"),
            ("JOIN", "COMPLETED"),
            ("dyn_last", "SCHEDULED"),
        ],
    );
    work(&s, &id, "dyn_last", json!({})).await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;
}

#[tokio::test]
async fn branches_without_output_leave_the_join_output_empty() {
    let (s, id) = server().await;
    fork_two(&s, &id, inputs()).await;
    work(&s, &id, "dyn_a", json!({})).await;
    work(&s, &id, "dyn_b", json!({})).await;
    let w = s.workflow(&id).await;
    let join = &w["tasks"][4];
    assert_eq!(join["status"], "COMPLETED", "{w:#}");
    assert_eq!(join["inputData"]["joinOn"], json!(["x1", "x2"]));
    assert_eq!(join["outputData"], json!({}), "{join:#}");
    work(&s, &id, "dyn_last", json!({})).await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;
}

#[tokio::test]
async fn branch_inputs_that_are_not_objects_fail_the_workflow() {
    let (s, id) = server().await;
    fork_two(&s, &id, json!({"x1": "v1", "x2": "v2"})).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    assert_eq!(w["tasks"][0]["status"], "COMPLETED", "{w:#}");
    // Conductor lists no FORK (its mapper throws); Baton lists the FORK, FAILED, naming why.
    expect_shape(&w, &[("dyn_first", "COMPLETED"), ("FORK", "FAILED")]);
    let reason = w["tasks"][1]["reasonForIncompletion"]
        .as_str()
        .unwrap_or("");
    assert!(reason.contains("'x1'"), "{w:#}");
    assert!(
        tasks_by_ref(&w, "x1").is_empty() && tasks_by_ref(&w, "x2").is_empty(),
        "no branch is scheduled: {w:#}"
    );
    assert!(tasks_by_ref(&w, JOIN).is_empty(), "{w:#}");
}

#[tokio::test]
async fn a_workflow_started_with_invalid_branch_inputs_fails() {
    let s = TestServer::spawn().await;
    let def = json!({"name": "dyn_start", "version": 1,
                     "tasks": [dynamic_fork("workflow.input"),
                               {"name": JOIN, "taskReferenceName": JOIN, "type": "JOIN"}]});
    let input = json!({
        "dynamicTasks": [
            {"name": "dyn_a", "taskReferenceName": "x1", "type": "SIMPLE"},
            {"name": "dyn_b", "taskReferenceName": "x2", "type": "SIMPLE"},
        ],
        "dynamicTasksInput": {"x1": "v1", "x2": "v2"},
    });
    let resp = s
        .post_json(
            "/workflow",
            &json!({"name": "dyn_start", "workflowDef": def, "input": input}),
        )
        .await;
    let id = expect_status(resp, StatusCode::OK).await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(&w, &[("FORK", "FAILED")]);
    assert!(
        tasks_by_ref(&w, "x1").is_empty() && tasks_by_ref(&w, JOIN).is_empty(),
        "{w:#}"
    );
}
