//! The cases of Conductor's `HierarchicalForkJoinSubworkflowRetrySpec`, with the same
//! expectations, written for Baton with its own definitions: a three-level tree where the
//! root and the mid level each fork a SUB_WORKFLOW and a worker task. The leaf's second task
//! fails for good, so all three fail, each parent with its worker branch COMPLETED and its
//! JOIN CANCELED. Then a retry:
//!
//! - on the root: a new SUB_WORKFLOW attempt after the JOIN (re-opened), a new mid level and
//!   a new leaf; with `resumeSubworkflowTasks`, the leaf's task retried in place instead;
//! - on the mid level: the same there, and the root re-opened for the same mid level;
//! - on the leaf: its task retried in place, both parents re-opened.
//!
//! Conductor shows a re-opened parent's JOIN CANCELED until a sweep; Baton re-opens it in the
//! same commit (see HARNESS.md).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

struct Tree {
    s: TestServer,
    root: String,
    mid: String,
    leaf: String,
}

const ROOT_SIDE: &str = "hr_root_side";
const MID_SIDE: &str = "hr_mid_side";

async fn failed_tree() -> Tree {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "hr_leaf_2", "retryCount": 0}))
        .await;
    s.register_workflow(json!({"name": "hr_leaf", "version": 1,
                               "tasks": [worker("hr_leaf_1"), worker("hr_leaf_2")]}))
        .await;
    for (name, child, side) in [
        ("hr_mid", "hr_leaf", MID_SIDE),
        ("hr_root", "hr_mid", ROOT_SIDE),
    ] {
        s.register_workflow(json!({"name": name, "version": 1, "tasks": [
            {"name": "fan", "taskReferenceName": "fan", "type": "FORK_JOIN", "forkTasks": [
                [{"name": "down", "taskReferenceName": "down", "type": "SUB_WORKFLOW",
                  "subWorkflowParam": {"name": child, "version": 1}}],
                [worker(side)]]},
            {"name": "fan_join", "taskReferenceName": "fan_join", "type": "JOIN",
             "joinOn": ["down", side]},
        ]}))
        .await;
    }
    let root = s.start("hr_root", json!({})).await;
    work(&s, &root, ROOT_SIDE).await;
    let mid = child_of(&s, &root, 1).await;
    work(&s, &mid, MID_SIDE).await;
    let leaf = child_of(&s, &mid, 1).await;
    work(&s, &leaf, "hr_leaf_1").await;
    let t = s.poll_one("hr_leaf_2").await;
    s.fail(&t, "failed").await;
    let w = s.wait_for_status(&leaf, "FAILED", WAIT).await;
    expect_shape(&w, &[("hr_leaf_1", "COMPLETED"), ("hr_leaf_2", "FAILED")]);
    for (id, side) in [(&mid, MID_SIDE), (&root, ROOT_SIDE)] {
        let w = s.wait_for_status(id, "FAILED", WAIT).await;
        expect_shape(&w, &fork(side, "FAILED", "COMPLETED", "CANCELED"));
    }
    Tree { s, root, mid, leaf }
}

fn fork(
    side: &'static str,
    sub: &'static str,
    side_status: &'static str,
    join: &'static str,
) -> [(&'static str, &'static str); 4] {
    [
        ("FORK", "COMPLETED"),
        ("SUB_WORKFLOW", sub),
        (side, side_status),
        ("JOIN", join),
    ]
}

/// The child of the SUB_WORKFLOW task at `index`, once it is IN_PROGRESS with one.
async fn child_of(s: &TestServer, id: &str, index: usize) -> String {
    let w = s
        .wait_for(id, "the child started", WAIT, |w| {
            let t = &w["tasks"][index];
            t["status"] == "IN_PROGRESS" && t["subWorkflowId"].is_string()
        })
        .await;
    w["tasks"][index]["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn work(s: &TestServer, id: &str, task_type: &str) {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, json!({"op": "done"})).await;
}

async fn retry(s: &TestServer, id: &str, resume: bool) {
    let resp = s
        .post_json(
            &format!("/workflow/{id}/retry?resumeSubworkflowTasks={resume}"),
            &json!({}),
        )
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
}

/// A parent waiting again, in place, for the same child.
async fn expect_reopened(s: &TestServer, id: &str, side: &'static str, child: &str) {
    let w = s.workflow(id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(&w, &fork(side, "IN_PROGRESS", "COMPLETED", "IN_PROGRESS"));
    assert_eq!(w["tasks"][1]["subWorkflowId"], child);
    assert_eq!(w["tasks"][1]["subworkflowChanged"], true);
}

/// A workflow whose SUB_WORKFLOW task was retried: the failed attempt, its other branch, the
/// re-opened JOIN, and the new attempt (started, with a new child); answers that child.
async fn expect_new_attempt(s: &TestServer, id: &str, side: &'static str, old: &str) -> String {
    let child = child_of(s, id, 4).await;
    assert_ne!(child, old, "a new child");
    let w = s.workflow(id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    let mut expected = fork(side, "FAILED", "COMPLETED", "IN_PROGRESS").to_vec();
    expected.push(("SUB_WORKFLOW", "IN_PROGRESS"));
    expect_shape(&w, &expected);
    assert_eq!(w["tasks"][1]["retried"], true);
    assert_eq!(w["tasks"][4]["retriedTaskId"], w["tasks"][1]["taskId"]);
    child
}

/// The leaf's failed task retried in place.
async fn expect_leaf_retried(s: &TestServer, leaf: &str) {
    let w = s.workflow(leaf).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(
        &w,
        &[
            ("hr_leaf_1", "COMPLETED"),
            ("hr_leaf_2", "FAILED"),
            ("hr_leaf_2", "SCHEDULED"),
        ],
    );
    assert_eq!(w["tasks"][1]["retried"], true);
    assert_eq!(w["tasks"][2]["retriedTaskId"], w["tasks"][1]["taskId"]);
}

async fn finish_new_leaf(s: &TestServer, leaf: &str) {
    let w = s.workflow(leaf).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("hr_leaf_1", "SCHEDULED")]);
    work(s, leaf, "hr_leaf_1").await;
    work(s, leaf, "hr_leaf_2").await;
    let w = s.wait_for_status(leaf, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[("hr_leaf_1", "COMPLETED"), ("hr_leaf_2", "COMPLETED")],
    );
}

async fn expect_completed(s: &TestServer, id: &str, side: &'static str) {
    let w = s.wait_for_status(id, "COMPLETED", WAIT).await;
    expect_shape(&w, &fork(side, "COMPLETED", "COMPLETED", "COMPLETED"));
    assert_eq!(w["tasks"][1]["subworkflowChanged"], false);
}

async fn expect_completed_after_retry(s: &TestServer, id: &str, side: &'static str) {
    let w = s.wait_for_status(id, "COMPLETED", WAIT).await;
    let mut expected = fork(side, "FAILED", "COMPLETED", "COMPLETED").to_vec();
    expected.push(("SUB_WORKFLOW", "COMPLETED"));
    expect_shape(&w, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_the_root_starts_a_new_mid_level_and_leaf() {
    let t = failed_tree().await;
    retry(&t.s, &t.root, false).await;
    let mid = expect_new_attempt(&t.s, &t.root, ROOT_SIDE, &t.mid).await;
    let w = t.s.workflow(&mid).await;
    let got = shape(&w);
    assert_eq!(got.len(), 4, "{w:#}");
    assert_eq!(got[2], (MID_SIDE.to_string(), "SCHEDULED".to_string()));
    work(&t.s, &mid, MID_SIDE).await;
    let leaf = child_of(&t.s, &mid, 1).await;
    assert_ne!(leaf, t.leaf, "a new leaf");
    finish_new_leaf(&t.s, &leaf).await;
    expect_completed(&t.s, &mid, MID_SIDE).await;
    expect_completed_after_retry(&t.s, &t.root, ROOT_SIDE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_with_resume_on_the_root_retries_the_leaf_in_place() {
    let t = failed_tree().await;
    retry(&t.s, &t.root, true).await;
    expect_leaf_retried(&t.s, &t.leaf).await;
    expect_reopened(&t.s, &t.mid, MID_SIDE, &t.leaf).await;
    expect_reopened(&t.s, &t.root, ROOT_SIDE, &t.mid).await;
    work(&t.s, &t.leaf, "hr_leaf_2").await;
    t.s.wait_for_status(&t.leaf, "COMPLETED", WAIT).await;
    expect_completed(&t.s, &t.mid, MID_SIDE).await;
    expect_completed(&t.s, &t.root, ROOT_SIDE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_the_mid_level_starts_a_new_leaf_and_reopens_the_root() {
    let t = failed_tree().await;
    retry(&t.s, &t.mid, false).await;
    expect_reopened(&t.s, &t.root, ROOT_SIDE, &t.mid).await;
    let leaf = expect_new_attempt(&t.s, &t.mid, MID_SIDE, &t.leaf).await;
    finish_new_leaf(&t.s, &leaf).await;
    expect_completed_after_retry(&t.s, &t.mid, MID_SIDE).await;
    expect_completed(&t.s, &t.root, ROOT_SIDE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_with_resume_on_the_mid_level_retries_the_leaf_in_place() {
    let t = failed_tree().await;
    retry(&t.s, &t.mid, true).await;
    expect_leaf_retried(&t.s, &t.leaf).await;
    expect_reopened(&t.s, &t.mid, MID_SIDE, &t.leaf).await;
    expect_reopened(&t.s, &t.root, ROOT_SIDE, &t.mid).await;
    work(&t.s, &t.leaf, "hr_leaf_2").await;
    t.s.wait_for_status(&t.leaf, "COMPLETED", WAIT).await;
    expect_completed(&t.s, &t.mid, MID_SIDE).await;
    expect_completed(&t.s, &t.root, ROOT_SIDE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_the_leaf_reopens_both_parents() {
    let t = failed_tree().await;
    retry(&t.s, &t.leaf, false).await;
    expect_leaf_retried(&t.s, &t.leaf).await;
    expect_reopened(&t.s, &t.mid, MID_SIDE, &t.leaf).await;
    expect_reopened(&t.s, &t.root, ROOT_SIDE, &t.mid).await;
    work(&t.s, &t.leaf, "hr_leaf_2").await;
    let w = t.s.wait_for_status(&t.leaf, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("hr_leaf_1", "COMPLETED"),
            ("hr_leaf_2", "FAILED"),
            ("hr_leaf_2", "COMPLETED"),
        ],
    );
    expect_completed(&t.s, &t.mid, MID_SIDE).await;
    expect_completed(&t.s, &t.root, ROOT_SIDE).await;
}
