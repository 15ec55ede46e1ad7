//! Restart and rerun in a three-level tree of sub-workflows: the scenarios of Conductor's
//! `SubWorkflowRestartSpec`, `SubWorkflowRerunSpec`, `HierarchicalForkJoinSubworkflowRestartSpec`
//! and `HierarchicalForkJoinSubworkflowRerunSpec`, with the same expectations, written for
//! Baton with its own definitions.
//!
//! Each test first drives root → mid → leaf until a leaf task fails for good and all three
//! workflows are FAILED. Then: an operation on the root runs it again with NEW children; an
//! operation on a child runs that child again under the same id and re-opens its ancestors,
//! whose SUB_WORKFLOW tasks wait again (in place, marked `subworkflowChanged`) for the same
//! child. Where the spec needs a sweep to advance a parent, Baton's sweeper does it on its own.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

fn sub(reference: &str, child: &str) -> Value {
    // No version: the latest one (what `useLatestDefinitions` relies on below).
    json!({"name": reference, "taskReferenceName": reference, "type": "SUB_WORKFLOW",
           "subWorkflowParam": {"name": child}})
}

/// leaf: two worker tasks, the second of which fails for good.
/// chain: root = [hz_root_1, SUB_WORKFLOW mid], mid = [hz_mid_1, SUB_WORKFLOW leaf].
async fn register_chain(s: &TestServer) {
    s.register_task_def(json!({"name": "hz_leaf_2", "retryCount": 0}))
        .await;
    s.register_workflow(json!({"name": "hz_leaf", "version": 1,
        "tasks": [worker("hz_leaf_1"), worker("hz_leaf_2")]}))
        .await;
    s.register_workflow(json!({"name": "hz_mid", "version": 1,
        "tasks": [worker("hz_mid_1"), sub("sub", "hz_leaf")]}))
        .await;
    s.register_workflow(json!({"name": "hz_root", "version": 1,
        "tasks": [worker("hz_root_1"), sub("sub", "hz_mid")]}))
        .await;
}

/// forks: each of root and mid forks [SUB_WORKFLOW st1] beside [a worker task] and joins.
async fn register_forks(s: &TestServer) {
    s.register_task_def(json!({"name": "hz_leaf_2", "retryCount": 0}))
        .await;
    s.register_workflow(json!({"name": "hz_leaf", "version": 1,
        "tasks": [worker("hz_leaf_1"), worker("hz_leaf_2")]}))
        .await;
    for (name, child, side) in [
        ("hz_fmid", "hz_leaf", "hz_fmid_2"),
        ("hz_froot", "hz_fmid", "hz_froot_2"),
    ] {
        s.register_workflow(json!({"name": name, "version": 1, "tasks": [
            {"name": "fanouttask", "taskReferenceName": "fanouttask", "type": "FORK_JOIN",
             "forkTasks": [[sub("st1", child)], [worker(side)]]},
            {"name": "fanouttask_join", "taskReferenceName": "fanouttask_join", "type": "JOIN",
             "joinOn": ["st1", side]}
        ]}))
        .await;
    }
}

/// The SUB_WORKFLOW task `reference` of `w` (its latest attempt).
fn sub_task<'a>(w: &'a Value, reference: &str) -> &'a Value {
    tasks_by_ref(w, reference)
        .pop()
        .unwrap_or_else(|| panic!("no task {reference}: {w:#}"))
}

/// Waits until the SUB_WORKFLOW task `reference` of `id` has started its child, and returns
/// the child's id.
async fn child_of(s: &TestServer, id: &str, reference: &str) -> String {
    let w = s
        .wait_for(id, "the child starts", WAIT, |w| {
            tasks_by_ref(w, reference).last().is_some_and(|t| {
                t["status"] == "IN_PROGRESS" && t["subWorkflowId"].as_str().is_some()
            })
        })
        .await;
    sub_task(&w, reference)["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Polls the task of `task_type`, which must belong to `id`, and completes it.
async fn work(s: &TestServer, id: &str, task_type: &str) -> Value {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, json!({"op": format!("{task_type}.done")}))
        .await;
    t
}

struct Tree {
    root: String,
    mid: String,
    leaf: String,
}

/// Runs the chain until the leaf's second task fails: leaf, mid and root end FAILED.
async fn failed_chain(s: &TestServer) -> Tree {
    let root = s.start("hz_root", json!({"param1": "p1 value"})).await;
    work(s, &root, "hz_root_1").await;
    let mid = child_of(s, &root, "sub").await;
    work(s, &mid, "hz_mid_1").await;
    let leaf = child_of(s, &mid, "sub").await;
    work(s, &leaf, "hz_leaf_1").await;
    let t = s.poll_one("hz_leaf_2").await;
    assert_eq!(t["workflowInstanceId"], leaf.as_str());
    s.fail(&t, "failed").await;
    let w = s.wait_for_status(&leaf, "FAILED", WAIT).await;
    expect_shape(&w, &[("hz_leaf_1", "COMPLETED"), ("hz_leaf_2", "FAILED")]);
    let w = s.wait_for_status(&mid, "FAILED", WAIT).await;
    expect_shape(&w, &[("hz_mid_1", "COMPLETED"), ("SUB_WORKFLOW", "FAILED")]);
    let w = s.wait_for_status(&root, "FAILED", WAIT).await;
    expect_shape(
        &w,
        &[("hz_root_1", "COMPLETED"), ("SUB_WORKFLOW", "FAILED")],
    );
    Tree { root, mid, leaf }
}

/// Runs the forks until the leaf's second task fails: all three FAILED, each parent with its
/// other branch COMPLETED and its JOIN CANCELED.
async fn failed_forks(s: &TestServer) -> Tree {
    let root = s.start("hz_froot", json!({})).await;
    let w = s.workflow(&root).await;
    assert_eq!(shape(&w)[0], ("FORK".to_string(), "COMPLETED".to_string()));
    work(s, &root, "hz_froot_2").await;
    let mid = child_of(s, &root, "st1").await;
    work(s, &mid, "hz_fmid_2").await;
    let leaf = child_of(s, &mid, "st1").await;
    work(s, &leaf, "hz_leaf_1").await;
    let t = s.poll_one("hz_leaf_2").await;
    s.fail(&t, "failed").await;
    s.wait_for_status(&leaf, "FAILED", WAIT).await;
    for (id, side) in [(&mid, "hz_fmid_2"), (&root, "hz_froot_2")] {
        let w = s.wait_for_status(id, "FAILED", WAIT).await;
        expect_shape(
            &w,
            &[
                ("FORK", "COMPLETED"),
                ("SUB_WORKFLOW", "FAILED"),
                (side, "COMPLETED"),
                ("JOIN", "CANCELED"),
            ],
        );
    }
    Tree { root, mid, leaf }
}

async fn restart(s: &TestServer, id: &str) {
    let resp = s
        .post_json(&format!("/workflow/{id}/restart"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
}

async fn rerun(s: &TestServer, id: &str, body: Value) {
    let resp = s.post_json(&format!("/workflow/{id}/rerun"), &body).await;
    assert_eq!(expect_status(resp, StatusCode::OK).await, id);
}

/// The id of the first task of `id`.
async fn first_task_id(s: &TestServer, id: &str) -> String {
    s.workflow(id).await["tasks"][0]["taskId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A parent re-opened for its child: RUNNING, its SUB_WORKFLOW task waiting again, in place,
/// for the same child, and marked as changed by it.
async fn expect_reopened_chain(s: &TestServer, id: &str, first: &str, child: &str) {
    let w = s.workflow(id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(&w, &[(first, "COMPLETED"), ("SUB_WORKFLOW", "IN_PROGRESS")]);
    assert_eq!(w["tasks"][1]["subWorkflowId"], child);
    assert_eq!(w["tasks"][1]["subworkflowChanged"], true, "{w:#}");
}

/// A workflow ended COMPLETED with two tasks, the second a SUB_WORKFLOW whose change (if
/// any) was taken in.
async fn expect_completed_chain(s: &TestServer, id: &str, first: &str) -> Value {
    let w = s.wait_for_status(id, "COMPLETED", WAIT).await;
    expect_shape(&w, &[(first, "COMPLETED"), ("SUB_WORKFLOW", "COMPLETED")]);
    assert_eq!(w["tasks"][1]["subworkflowChanged"], false, "{w:#}");
    w
}

/// Runs a new (or re-run) leaf to the end.
async fn finish_leaf(s: &TestServer, leaf: &str) {
    let w = s.workflow(leaf).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("hz_leaf_1", "SCHEDULED")]);
    work(s, leaf, "hz_leaf_1").await;
    work(s, leaf, "hz_leaf_2").await;
    let w = s.wait_for_status(leaf, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[("hz_leaf_1", "COMPLETED"), ("hz_leaf_2", "COMPLETED")],
    );
}

/// After the root ran again from its first task: new mid and leaf, and all complete.
async fn finish_chain_from_root(s: &TestServer, old: &Tree) {
    let w = s.workflow(&old.root).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("hz_root_1", "SCHEDULED")]);
    work(s, &old.root, "hz_root_1").await;
    let mid = child_of(s, &old.root, "sub").await;
    assert_ne!(mid, old.mid, "a new mid-level workflow");
    let w = s.workflow(&mid).await;
    expect_shape(&w, &[("hz_mid_1", "SCHEDULED")]);
    work(s, &mid, "hz_mid_1").await;
    let leaf = child_of(s, &mid, "sub").await;
    assert_ne!(leaf, old.leaf, "a new leaf workflow");
    finish_leaf(s, &leaf).await;
    expect_completed_chain(s, &mid, "hz_mid_1").await;
    expect_completed_chain(s, &old.root, "hz_root_1").await;
    // The old children are left as they ended.
    assert_eq!(s.workflow(&old.mid).await["status"], "FAILED");
    assert_eq!(s.workflow(&old.leaf).await["status"], "FAILED");
}

/// After the mid level ran again from its first task: the root waits for it; a new leaf.
async fn finish_chain_from_mid(s: &TestServer, old: &Tree) {
    let w = s.workflow(&old.mid).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("hz_mid_1", "SCHEDULED")]);
    expect_reopened_chain(s, &old.root, "hz_root_1", &old.mid).await;
    work(s, &old.mid, "hz_mid_1").await;
    let leaf = child_of(s, &old.mid, "sub").await;
    assert_ne!(leaf, old.leaf, "a new leaf workflow");
    finish_leaf(s, &leaf).await;
    expect_completed_chain(s, &old.mid, "hz_mid_1").await;
    expect_completed_chain(s, &old.root, "hz_root_1").await;
}

/// After the leaf ran again from its first task: mid and root wait for it.
async fn finish_chain_from_leaf(s: &TestServer, old: &Tree) {
    expect_reopened_chain(s, &old.mid, "hz_mid_1", &old.leaf).await;
    expect_reopened_chain(s, &old.root, "hz_root_1", &old.mid).await;
    finish_leaf(s, &old.leaf).await;
    expect_completed_chain(s, &old.mid, "hz_mid_1").await;
    expect_completed_chain(s, &old.root, "hz_root_1").await;
}

async fn chain() -> (TestServer, Tree) {
    let s = TestServer::spawn().await;
    register_chain(&s).await;
    let tree = failed_chain(&s).await;
    (s, tree)
}

// ---- SubWorkflowRestartSpec ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_root_starts_new_children() {
    let (s, tree) = chain().await;
    restart(&s, &tree.root).await;
    finish_chain_from_root(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_mid_level_reopens_the_root_and_starts_a_new_leaf() {
    let (s, tree) = chain().await;
    restart(&s, &tree.mid).await;
    finish_chain_from_mid(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_leaf_reopens_mid_level_and_root() {
    let (s, tree) = chain().await;
    restart(&s, &tree.leaf).await;
    finish_chain_from_leaf(&s, &tree).await;
    // Each re-opened parent's SUB_WORKFLOW task logs what happened below it.
    let logs = s
        .get_json(&format!(
            "/tasks/{}/log",
            sub_task(&s.workflow(&tree.root).await, "sub")["taskId"]
                .as_str()
                .unwrap()
        ))
        .await;
    let text = logs.to_string();
    assert!(
        text.contains(&format!("{} -> {} restarted", tree.mid, tree.leaf)),
        "{logs:#}"
    );
}

// ---- SubWorkflowRerunSpec ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_on_the_root_starts_new_children() {
    let (s, tree) = chain().await;
    rerun(&s, &tree.root, json!({"reRunFromWorkflowId": tree.root})).await;
    finish_chain_from_root(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_on_the_root_from_its_first_task_starts_new_children() {
    let (s, tree) = chain().await;
    let task = first_task_id(&s, &tree.root).await;
    rerun(
        &s,
        &tree.root,
        json!({"reRunFromWorkflowId": tree.root, "reRunFromTaskId": task}),
    )
    .await;
    finish_chain_from_root(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_on_the_mid_level_reopens_the_root() {
    let (s, tree) = chain().await;
    rerun(&s, &tree.mid, json!({"reRunFromWorkflowId": tree.mid})).await;
    finish_chain_from_mid(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_on_the_mid_level_from_its_first_task_reopens_the_root() {
    let (s, tree) = chain().await;
    let task = first_task_id(&s, &tree.mid).await;
    rerun(
        &s,
        &tree.mid,
        json!({"reRunFromWorkflowId": tree.mid, "reRunFromTaskId": task}),
    )
    .await;
    finish_chain_from_mid(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_on_the_leaf_reopens_mid_level_and_root() {
    let (s, tree) = chain().await;
    rerun(&s, &tree.leaf, json!({"reRunFromWorkflowId": tree.leaf})).await;
    finish_chain_from_leaf(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_on_the_leaf_from_its_first_task_reopens_mid_level_and_root() {
    let (s, tree) = chain().await;
    let task = first_task_id(&s, &tree.leaf).await;
    rerun(
        &s,
        &tree.leaf,
        json!({"reRunFromWorkflowId": tree.leaf, "reRunFromTaskId": task}),
    )
    .await;
    finish_chain_from_leaf(&s, &tree).await;
}

/// Conductor's rerun looks for a task id it does not find in the workflow's sub-workflows:
/// the leaf reruns from that task (with the new task input) under its own id, and each
/// workflow above waits again, in place, for the same child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_on_the_root_from_a_task_of_the_leaf_reruns_it_in_place() {
    let (s, tree) = chain().await;
    let failed = s.workflow(&tree.leaf).await["tasks"][1]["taskId"].clone();
    rerun(
        &s,
        &tree.root,
        json!({"reRunFromTaskId": failed, "taskInput": {"fresh": "input"},
               "workflowInput": {"param1": "new"}}),
    )
    .await;
    let w = s.workflow(&tree.leaf).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(
        &w,
        &[("hz_leaf_1", "COMPLETED"), ("hz_leaf_2", "SCHEDULED")],
    );
    expect_reopened_chain(&s, &tree.mid, "hz_mid_1", &tree.leaf).await;
    expect_reopened_chain(&s, &tree.root, "hz_root_1", &tree.mid).await;
    let root = s.workflow(&tree.root).await;
    assert_eq!(
        root["input"],
        json!({"param1": "new"}),
        "the top's new input"
    );
    assert_eq!(
        s.workflow(&tree.mid).await["input"]["param1"],
        Value::Null,
        "children keep theirs"
    );

    let t = s.poll_one("hz_leaf_2").await;
    assert_eq!(t["workflowInstanceId"], tree.leaf.as_str());
    assert_eq!(t["inputData"], json!({"fresh": "input"}));
    s.complete(&t, json!({})).await;
    let w = s.wait_for_status(&tree.leaf, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[("hz_leaf_1", "COMPLETED"), ("hz_leaf_2", "COMPLETED")],
    );
    let mid = expect_completed_chain(&s, &tree.mid, "hz_mid_1").await;
    assert_eq!(mid["tasks"][1]["subWorkflowId"], tree.leaf.as_str());
    let root = expect_completed_chain(&s, &tree.root, "hz_root_1").await;
    assert_eq!(root["tasks"][1]["subWorkflowId"], tree.mid.as_str());
}

/// Rerun from a parent's own SUB_WORKFLOW task starts a new child (Conductor would wait again
/// for the FAILED one and fail at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_on_the_root_from_its_sub_workflow_task_starts_a_new_child() {
    let (s, tree) = chain().await;
    let task = s.workflow(&tree.root).await["tasks"][1]["taskId"].clone();
    rerun(&s, &tree.root, json!({"reRunFromTaskId": task})).await;
    let mid = child_of(&s, &tree.root, "sub").await;
    assert_ne!(mid, tree.mid);
    work(&s, &mid, "hz_mid_1").await;
    let leaf = child_of(&s, &mid, "sub").await;
    finish_leaf(&s, &leaf).await;
    expect_completed_chain(&s, &mid, "hz_mid_1").await;
    let w = expect_completed_chain(&s, &tree.root, "hz_root_1").await;
    assert_eq!(w["tasks"][0]["outputData"]["op"], "hz_root_1.done", "kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_from_a_task_in_no_workflow_of_the_tree_is_404_and_changes_nothing() {
    let (s, tree) = chain().await;
    let resp = s
        .post_json(
            &format!("/workflow/{}/rerun", tree.root),
            &json!({"reRunFromTaskId": "no-such-task"}),
        )
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, &["no-such-task"]).await;
    for id in [&tree.root, &tree.mid, &tree.leaf] {
        assert_eq!(s.workflow(id).await["status"], "FAILED");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_restart_of_a_child_leaves_its_parents_alone() {
    let (s, tree) = chain().await;
    // A running child cannot be restarted: 409, and nothing above it changes.
    let resp = s
        .post_json(&format!("/workflow/{}/restart", tree.mid), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let before = s.workflow(&tree.root).await;
    let resp = s
        .post_json(&format!("/workflow/{}/restart", tree.mid), &json!({}))
        .await;
    expect_status(resp, StatusCode::CONFLICT).await;
    let resp = s
        .post_json(&format!("/workflow/{}/rerun", tree.mid), &json!({}))
        .await;
    expect_status(resp, StatusCode::CONFLICT).await;
    let after = s.workflow(&tree.root).await;
    assert_eq!(before["tasks"], after["tasks"]);
    assert_eq!(before["updateTime"], after["updateTime"]);
    finish_chain_from_mid(&s, &tree).await;
}

/// A child retried directly (not through its parent) re-opens its parents too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_the_leaf_reopens_mid_level_and_root() {
    let (s, tree) = chain().await;
    let resp = s
        .post_json(&format!("/workflow/{}/retry", tree.leaf), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    expect_reopened_chain(&s, &tree.mid, "hz_mid_1", &tree.leaf).await;
    expect_reopened_chain(&s, &tree.root, "hz_root_1", &tree.mid).await;
    work(&s, &tree.leaf, "hz_leaf_2").await;
    let w = s.wait_for_status(&tree.leaf, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("hz_leaf_1", "COMPLETED"),
            ("hz_leaf_2", "FAILED"),
            ("hz_leaf_2", "COMPLETED"),
        ],
    );
    expect_completed_chain(&s, &tree.mid, "hz_mid_1").await;
    expect_completed_chain(&s, &tree.root, "hz_root_1").await;
}

/// Restart with `useLatestDefinitions`: the root runs its newest version, and the children it
/// starts anew (by name, without a version) run theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_root_with_the_latest_definitions() {
    let (s, tree) = chain().await;
    s.register_workflow(json!({"name": "hz_leaf", "version": 2,
        "tasks": [worker("hz_leaf_1")]}))
        .await;
    s.register_workflow(json!({"name": "hz_root", "version": 2,
        "tasks": [worker("hz_root_1"), sub("sub", "hz_mid"), worker("hz_root_3")]}))
        .await;
    let resp = s
        .post_json(
            &format!("/workflow/{}/restart?useLatestDefinitions=true", tree.root),
            &json!({}),
        )
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    assert_eq!(s.workflow(&tree.root).await["workflowVersion"], 2);
    work(&s, &tree.root, "hz_root_1").await;
    let mid = child_of(&s, &tree.root, "sub").await;
    work(&s, &mid, "hz_mid_1").await;
    let leaf = child_of(&s, &mid, "sub").await;
    assert_eq!(s.workflow(&leaf).await["workflowVersion"], 2);
    work(&s, &leaf, "hz_leaf_1").await;
    s.wait_for_status(&leaf, "COMPLETED", WAIT).await;
    expect_completed_chain(&s, &mid, "hz_mid_1").await;
    work(&s, &tree.root, "hz_root_3").await;
    let w = s.wait_for_status(&tree.root, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("hz_root_1", "COMPLETED"),
            ("SUB_WORKFLOW", "COMPLETED"),
            ("hz_root_3", "COMPLETED"),
        ],
    );
}

// ---- HierarchicalForkJoinSubworkflowRestartSpec and …RerunSpec ---------------------------

async fn forks() -> (TestServer, Tree) {
    let s = TestServer::spawn().await;
    register_forks(&s).await;
    let tree = failed_forks(&s).await;
    (s, tree)
}

/// A forking parent re-opened for its child: its SUB_WORKFLOW task waits again for the same
/// child, the other branch stays COMPLETED, and the JOIN waits again.
async fn expect_reopened_fork(s: &TestServer, id: &str, side: &str, child: &str) {
    let w = s.workflow(id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "IN_PROGRESS"),
            (side, "COMPLETED"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    assert_eq!(w["tasks"][1]["subWorkflowId"], child);
    assert_eq!(w["tasks"][1]["subworkflowChanged"], true);
}

/// A forking workflow run anew: the fork done, both branches waiting, the JOIN waiting.
async fn expect_fresh_fork(s: &TestServer, id: &str, side: &str) {
    let w = s.workflow(id).await;
    assert_eq!(w["status"], "RUNNING", "{w:#}");
    let got = shape(&w);
    assert_eq!(got.len(), 4, "{w:#}");
    assert_eq!(got[0], ("FORK".into(), "COMPLETED".into()));
    assert_eq!(got[1].0, "SUB_WORKFLOW");
    assert_eq!(got[2], (side.to_string(), "SCHEDULED".to_string()));
    assert_eq!(got[3], ("JOIN".into(), "IN_PROGRESS".into()));
}

async fn expect_completed_fork(s: &TestServer, id: &str, side: &str) {
    let w = s.wait_for_status(id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "COMPLETED"),
            (side, "COMPLETED"),
            ("JOIN", "COMPLETED"),
        ],
    );
    assert_eq!(w["tasks"][1]["subworkflowChanged"], false);
}

async fn finish_forks_from_root(s: &TestServer, old: &Tree) {
    expect_fresh_fork(s, &old.root, "hz_froot_2").await;
    work(s, &old.root, "hz_froot_2").await;
    let mid = child_of(s, &old.root, "st1").await;
    assert_ne!(mid, old.mid, "a new mid-level workflow");
    expect_fresh_fork(s, &mid, "hz_fmid_2").await;
    work(s, &mid, "hz_fmid_2").await;
    let leaf = child_of(s, &mid, "st1").await;
    assert_ne!(leaf, old.leaf, "a new leaf workflow");
    finish_leaf(s, &leaf).await;
    expect_completed_fork(s, &mid, "hz_fmid_2").await;
    expect_completed_fork(s, &old.root, "hz_froot_2").await;
}

async fn finish_forks_from_mid(s: &TestServer, old: &Tree) {
    expect_fresh_fork(s, &old.mid, "hz_fmid_2").await;
    expect_reopened_fork(s, &old.root, "hz_froot_2", &old.mid).await;
    work(s, &old.mid, "hz_fmid_2").await;
    let leaf = child_of(s, &old.mid, "st1").await;
    assert_ne!(leaf, old.leaf, "a new leaf workflow");
    finish_leaf(s, &leaf).await;
    expect_completed_fork(s, &old.mid, "hz_fmid_2").await;
    expect_completed_fork(s, &old.root, "hz_froot_2").await;
}

async fn finish_forks_from_leaf(s: &TestServer, old: &Tree) {
    expect_reopened_fork(s, &old.mid, "hz_fmid_2", &old.leaf).await;
    expect_reopened_fork(s, &old.root, "hz_froot_2", &old.mid).await;
    finish_leaf(s, &old.leaf).await;
    expect_completed_fork(s, &old.mid, "hz_fmid_2").await;
    expect_completed_fork(s, &old.root, "hz_froot_2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_restart_on_the_root_starts_new_children() {
    let (s, tree) = forks().await;
    restart(&s, &tree.root).await;
    finish_forks_from_root(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_restart_on_the_mid_level_reopens_the_root() {
    let (s, tree) = forks().await;
    restart(&s, &tree.mid).await;
    finish_forks_from_mid(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_restart_on_the_leaf_reopens_mid_level_and_root() {
    let (s, tree) = forks().await;
    restart(&s, &tree.leaf).await;
    finish_forks_from_leaf(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_rerun_on_the_root_starts_new_children() {
    let (s, tree) = forks().await;
    rerun(&s, &tree.root, json!({"reRunFromWorkflowId": tree.root})).await;
    finish_forks_from_root(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_rerun_on_the_mid_level_reopens_the_root() {
    let (s, tree) = forks().await;
    rerun(&s, &tree.mid, json!({"reRunFromWorkflowId": tree.mid})).await;
    finish_forks_from_mid(&s, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_rerun_on_the_leaf_reopens_mid_level_and_root() {
    let (s, tree) = forks().await;
    rerun(&s, &tree.leaf, json!({"reRunFromWorkflowId": tree.leaf})).await;
    finish_forks_from_leaf(&s, &tree).await;
}

// ---- SubWorkflowRetrySpec (the leaf: `retry_on_the_leaf_reopens_mid_level_and_root`) -------

async fn retry(s: &TestServer, id: &str, resume: bool) {
    let resp = s
        .post_json(
            &format!("/workflow/{id}/retry?resumeSubworkflowTasks={resume}"),
            &json!({}),
        )
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
}

/// `(status, retried)` of each SUB_WORKFLOW attempt `sub` of `w`, and the last one's child.
fn sub_attempts(w: &Value) -> (Vec<(String, bool)>, Option<String>) {
    let attempts = tasks_by_ref(w, "sub");
    let shape = attempts
        .iter()
        .map(|t| {
            (
                t["status"].as_str().unwrap_or_default().to_string(),
                t["retried"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    let child = attempts
        .last()
        .and_then(|t| t["subWorkflowId"].as_str())
        .map(str::to_string);
    (shape, child)
}

/// Retrying the root without the resume flag retries its SUB_WORKFLOW task: a new attempt,
/// a new mid level, a new leaf.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_the_root_starts_a_new_attempt_with_new_children() {
    let (s, tree) = chain().await;
    retry(&s, &tree.root, false).await;
    let w = s
        .wait_for(&tree.root, "the new child starts", WAIT, |w| {
            let (attempts, child) = sub_attempts(w);
            attempts.len() == 2 && attempts[1].0 == "IN_PROGRESS" && child.is_some()
        })
        .await;
    let (attempts, mid) = sub_attempts(&w);
    assert_eq!(
        attempts,
        vec![("FAILED".into(), true), ("IN_PROGRESS".into(), false)]
    );
    assert_eq!(w["tasks"][2]["retriedTaskId"], w["tasks"][1]["taskId"]);
    let mid = mid.expect("a child");
    assert_ne!(mid, tree.mid);
    work(&s, &mid, "hz_mid_1").await;
    let leaf = child_of(&s, &mid, "sub").await;
    assert_ne!(leaf, tree.leaf);
    finish_leaf(&s, &leaf).await;
    expect_completed_chain(&s, &mid, "hz_mid_1").await;
    let w = s.wait_for_status(&tree.root, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("hz_root_1", "COMPLETED"),
            ("SUB_WORKFLOW", "FAILED"),
            ("SUB_WORKFLOW", "COMPLETED"),
        ],
    );
}

/// With the resume flag, the failed leaf task is retried in place and every workflow above
/// waits again for the same child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_the_root_with_resume_retries_the_leaf_in_place() {
    let (s, tree) = chain().await;
    retry(&s, &tree.root, true).await;
    expect_reopened_chain(&s, &tree.root, "hz_root_1", &tree.mid).await;
    expect_reopened_chain(&s, &tree.mid, "hz_mid_1", &tree.leaf).await;
    let w = s.workflow(&tree.leaf).await;
    expect_shape(
        &w,
        &[
            ("hz_leaf_1", "COMPLETED"),
            ("hz_leaf_2", "FAILED"),
            ("hz_leaf_2", "SCHEDULED"),
        ],
    );
    assert_eq!(w["tasks"][2]["retriedTaskId"], w["tasks"][1]["taskId"]);
    work(&s, &tree.leaf, "hz_leaf_2").await;
    s.wait_for_status(&tree.leaf, "COMPLETED", WAIT).await;
    expect_completed_chain(&s, &tree.mid, "hz_mid_1").await;
    expect_completed_chain(&s, &tree.root, "hz_root_1").await;
}

/// Retrying the mid level without the resume flag starts a new leaf and re-opens the root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_the_mid_level_starts_a_new_leaf_and_reopens_the_root() {
    let (s, tree) = chain().await;
    retry(&s, &tree.mid, false).await;
    expect_reopened_chain(&s, &tree.root, "hz_root_1", &tree.mid).await;
    let w = s
        .wait_for(&tree.mid, "the new leaf starts", WAIT, |w| {
            let (attempts, child) = sub_attempts(w);
            attempts.len() == 2 && attempts[1].0 == "IN_PROGRESS" && child.is_some()
        })
        .await;
    let leaf = sub_attempts(&w).1.expect("a child");
    assert_ne!(leaf, tree.leaf);
    finish_leaf(&s, &leaf).await;
    let w = s.wait_for_status(&tree.mid, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("hz_mid_1", "COMPLETED"),
            ("SUB_WORKFLOW", "FAILED"),
            ("SUB_WORKFLOW", "COMPLETED"),
        ],
    );
    expect_completed_chain(&s, &tree.root, "hz_root_1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_the_mid_level_with_resume_retries_the_leaf_and_reopens_the_root() {
    let (s, tree) = chain().await;
    retry(&s, &tree.mid, true).await;
    expect_reopened_chain(&s, &tree.root, "hz_root_1", &tree.mid).await;
    expect_reopened_chain(&s, &tree.mid, "hz_mid_1", &tree.leaf).await;
    work(&s, &tree.leaf, "hz_leaf_2").await;
    s.wait_for_status(&tree.leaf, "COMPLETED", WAIT).await;
    expect_completed_chain(&s, &tree.mid, "hz_mid_1").await;
    expect_completed_chain(&s, &tree.root, "hz_root_1").await;
}
