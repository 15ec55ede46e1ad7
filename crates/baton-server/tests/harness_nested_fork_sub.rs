//! The cases of Conductor's `NestedForkJoinSubWorkflowSpec`, with the same expectations,
//! written for Baton with its own definitions. A fork in a fork: the inner one runs a
//! SUB_WORKFLOW and a worker task, the outer one the inner fork and another worker task. The
//! child's second task fails for good, so the child, the SUB_WORKFLOW task and the parent fail
//! and both JOINs are canceled. Then:
//!
//! - restart on the child: same child id, run from the start; the parent's SUB_WORKFLOW task
//!   and both JOINs re-open;
//! - restart on the parent: everything scheduled again, with a new child;
//! - retry on the parent: a new SUB_WORKFLOW attempt (and a new child), the JOINs re-opened;
//! - retry with `resumeSubworkflowTasks` on the parent, and retry on the child: the child's
//!   failed task retried in place, the SUB_WORKFLOW task and the JOINs re-opened.
//!
//! Conductor shows the JOINs CANCELED right after the operation on the child until a sweep;
//! Baton re-opens them in the same commit (as recorded in HARNESS.md for the hierarchy specs).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const SUB: usize = 2;

fn worker(name: &str, reference: &str) -> Value {
    json!({"name": name, "taskReferenceName": reference, "type": "SIMPLE"})
}

struct Failed {
    s: TestServer,
    parent: String,
    child: String,
}

/// Runs the tree until all of it has FAILED (the spec's shared setup).
async fn failed_tree() -> Failed {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "nf_t2", "retryCount": 0}))
        .await;
    s.register_workflow(json!({"name": "nf_child", "version": 1,
                               "tasks": [worker("nf_t1", "c1"), worker("nf_t2", "c2")]}))
        .await;
    s.register_workflow(json!({"name": "nf_parent", "version": 1, "tasks": [
        {"name": "outer_fork", "taskReferenceName": "outer_fork", "type": "FORK_JOIN",
         "forkTasks": [
            [{"name": "inner_fork", "taskReferenceName": "inner_fork", "type": "FORK_JOIN",
              "forkTasks": [
                 [{"name": "nf_sub", "taskReferenceName": "st1", "type": "SUB_WORKFLOW",
                   "subWorkflowParam": {"name": "${workflow.input.subwf}", "version": 1}}],
                 [worker("nf_t2", "t2")]]},
             {"name": "inner_join", "taskReferenceName": "inner_join", "type": "JOIN",
              "joinOn": ["st1", "t2"]}],
            [worker("nf_t2", "t3")]]},
        {"name": "outer_join", "taskReferenceName": "outer_join", "type": "JOIN",
         "joinOn": ["inner_join", "t3"]},
    ]}))
    .await;
    let parent = s.start("nf_parent", json!({"subwf": "nf_child"})).await;
    let w = s
        .wait_for(&parent, "the child started", WAIT, |w| started(w, SUB))
        .await;
    expect_shape(&w, &parent_shape("IN_PROGRESS", "SCHEDULED", "IN_PROGRESS"));
    assert_eq!(w["tasks"][4]["referenceTaskName"], "inner_join");
    assert_eq!(w["tasks"][6]["referenceTaskName"], "outer_join");

    for _ in 0..2 {
        work(&s, &parent, "nf_t2").await;
    }
    let w = s.workflow(&parent).await;
    expect_shape(&w, &parent_shape("IN_PROGRESS", "COMPLETED", "IN_PROGRESS"));
    let child = w["tasks"][SUB]["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    let c = s.workflow(&child).await;
    assert_eq!(c["status"], "RUNNING");
    expect_shape(&c, &[("nf_t1", "SCHEDULED")]);

    work(&s, &child, "nf_t1").await;
    let t = s.poll_one("nf_t2").await;
    assert_eq!(t["workflowInstanceId"], child.as_str());
    s.fail(&t, "task2 failed").await;
    let c = s.wait_for_status(&child, "FAILED", WAIT).await;
    expect_shape(&c, &[("nf_t1", "COMPLETED"), ("nf_t2", "FAILED")]);
    let w = s.wait_for_status(&parent, "FAILED", WAIT).await;
    expect_shape(&w, &parent_shape("FAILED", "COMPLETED", "CANCELED"));
    Failed { s, parent, child }
}

/// FORK, FORK, SUB_WORKFLOW, worker, inner JOIN, worker, outer JOIN.
fn parent_shape(
    sub: &'static str,
    workers: &'static str,
    joins: &'static str,
) -> [(&'static str, &'static str); 7] {
    [
        ("FORK", "COMPLETED"),
        ("FORK", "COMPLETED"),
        ("SUB_WORKFLOW", sub),
        ("nf_t2", workers),
        ("JOIN", joins),
        ("nf_t2", workers),
        ("JOIN", joins),
    ]
}

fn started(w: &Value, index: usize) -> bool {
    let t = &w["tasks"][index];
    t["status"] == "IN_PROGRESS" && t["subWorkflowId"].is_string()
}

async fn work(s: &TestServer, id: &str, task_type: &str) {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, json!({"op": "done"})).await;
}

async fn post_no_content(s: &TestServer, path: &str) {
    let resp = s.post_json(path, &json!({})).await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
}

/// The parent ends COMPLETED once its child has; `expected` is its final shape.
async fn parent_completes(f: &Failed, expected: &[(&str, &str)]) {
    let w = f.s.wait_for_status(&f.parent, "COMPLETED", WAIT).await;
    expect_shape(&w, expected);
}

/// The child's failed task retried in place: the parent re-opened, the child run to its end.
async fn child_retried_in_place(f: &Failed) {
    let c = f.s.workflow(&f.child).await;
    assert_eq!(c["status"], "RUNNING");
    expect_shape(
        &c,
        &[
            ("nf_t1", "COMPLETED"),
            ("nf_t2", "FAILED"),
            ("nf_t2", "SCHEDULED"),
        ],
    );
    assert_eq!(c["tasks"][2]["retriedTaskId"], c["tasks"][1]["taskId"]);
    assert_eq!(c["tasks"][1]["retried"], true);
    let w = f.s.workflow(&f.parent).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &parent_shape("IN_PROGRESS", "COMPLETED", "IN_PROGRESS"));
    assert_eq!(w["tasks"][SUB]["subWorkflowId"], f.child.as_str());

    work(&f.s, &f.child, "nf_t2").await;
    let c = f.s.wait_for_status(&f.child, "COMPLETED", WAIT).await;
    expect_shape(
        &c,
        &[
            ("nf_t1", "COMPLETED"),
            ("nf_t2", "FAILED"),
            ("nf_t2", "COMPLETED"),
        ],
    );
    parent_completes(f, &parent_shape("COMPLETED", "COMPLETED", "COMPLETED")).await;
}

#[tokio::test]
async fn restart_on_the_child_reopens_the_parent_and_its_joins() {
    let f = failed_tree().await;
    post_no_content(&f.s, &format!("/workflow/{}/restart", f.child)).await;
    let c = f.s.workflow(&f.child).await;
    assert_eq!(c["status"], "RUNNING");
    expect_shape(&c, &[("nf_t1", "SCHEDULED")]);
    let w = f.s.workflow(&f.parent).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &parent_shape("IN_PROGRESS", "COMPLETED", "IN_PROGRESS"));
    assert_eq!(w["tasks"][SUB]["subWorkflowId"], f.child.as_str());

    work(&f.s, &f.child, "nf_t1").await;
    work(&f.s, &f.child, "nf_t2").await;
    let c = f.s.wait_for_status(&f.child, "COMPLETED", WAIT).await;
    expect_shape(&c, &[("nf_t1", "COMPLETED"), ("nf_t2", "COMPLETED")]);
    parent_completes(&f, &parent_shape("COMPLETED", "COMPLETED", "COMPLETED")).await;
}

#[tokio::test]
async fn restart_on_the_parent_runs_everything_again_with_a_new_child() {
    let f = failed_tree().await;
    post_no_content(&f.s, &format!("/workflow/{}/restart", f.parent)).await;
    let w =
        f.s.wait_for(&f.parent, "a new child started", WAIT, |w| started(w, SUB))
            .await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &parent_shape("IN_PROGRESS", "SCHEDULED", "IN_PROGRESS"));
    for _ in 0..2 {
        work(&f.s, &f.parent, "nf_t2").await;
    }
    let w = f.s.workflow(&f.parent).await;
    expect_shape(&w, &parent_shape("IN_PROGRESS", "COMPLETED", "IN_PROGRESS"));
    let new_child = w["tasks"][SUB]["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_child, f.child);
    let c = f.s.workflow(&new_child).await;
    assert_eq!(c["status"], "RUNNING");
    expect_shape(&c, &[("nf_t1", "SCHEDULED")]);

    work(&f.s, &new_child, "nf_t1").await;
    work(&f.s, &new_child, "nf_t2").await;
    f.s.wait_for_status(&new_child, "COMPLETED", WAIT).await;
    parent_completes(&f, &parent_shape("COMPLETED", "COMPLETED", "COMPLETED")).await;
}

#[tokio::test]
async fn retry_on_the_parent_starts_a_new_sub_workflow_attempt() {
    let f = failed_tree().await;
    post_no_content(&f.s, &format!("/workflow/{}/retry", f.parent)).await;
    let w =
        f.s.wait_for(&f.parent, "the new attempt's child started", WAIT, |w| {
            started(w, 7)
        })
        .await;
    assert_eq!(w["status"], "RUNNING");
    let mut expected = parent_shape("FAILED", "COMPLETED", "IN_PROGRESS").to_vec();
    expected.push(("SUB_WORKFLOW", "IN_PROGRESS"));
    expect_shape(&w, &expected);
    assert_eq!(w["tasks"][SUB]["retried"], true);
    assert_eq!(w["tasks"][7]["retriedTaskId"], w["tasks"][SUB]["taskId"]);
    let new_child = w["tasks"][7]["subWorkflowId"].as_str().unwrap().to_string();
    assert_ne!(new_child, f.child);
    expect_shape(&f.s.workflow(&new_child).await, &[("nf_t1", "SCHEDULED")]);

    work(&f.s, &new_child, "nf_t1").await;
    work(&f.s, &new_child, "nf_t2").await;
    f.s.wait_for_status(&new_child, "COMPLETED", WAIT).await;
    let mut done = parent_shape("FAILED", "COMPLETED", "COMPLETED").to_vec();
    done.push(("SUB_WORKFLOW", "COMPLETED"));
    parent_completes(&f, &done).await;
}

#[tokio::test]
async fn retry_with_resume_on_the_parent_retries_the_childs_task_in_place() {
    let f = failed_tree().await;
    let path = format!("/workflow/{}/retry?resumeSubworkflowTasks=true", f.parent);
    post_no_content(&f.s, &path).await;
    child_retried_in_place(&f).await;
}

#[tokio::test]
async fn retry_on_the_child_reopens_the_parent_and_its_joins() {
    let f = failed_tree().await;
    post_no_content(&f.s, &format!("/workflow/{}/retry", f.child)).await;
    child_retried_in_place(&f).await;
}
