//! Follow-up work is never dropped (issue 9, defect 2): every running child of a terminated
//! workflow ends, however many there are; follow-ups left by a crash are carried out at the
//! next start; runaway recursion (a SUB_WORKFLOW naming its own workflow, a failure workflow
//! naming itself) stops at the configured workflow depth.

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// A child that waits (for a signal that never comes) until it is ended from outside.
fn waiting_child() -> Value {
    json!({
        "name": "fu_child", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "hold", "taskReferenceName": "hold", "type": "WAIT"}]
    })
}

/// A parent that forks `n` sub-workflows of `fu_child` and joins them.
fn parent_of(n: usize) -> (Value, Value) {
    let def = json!({
        "name": "fu_parent", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN_DYNAMIC",
             "dynamicForkTasksParam": "dynamicTasks",
             "dynamicForkTasksInputParamName": "dynamicTasksInputs",
             "inputParameters": {"dynamicTasks": "${workflow.input.tasks}",
                                 "dynamicTasksInputs": "${workflow.input.inputs}"}},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN"}
        ]
    });
    let tasks: Vec<Value> = (0..n)
        .map(|i| {
            json!({"name": "fu_child", "taskReferenceName": format!("c{i}"),
                   "type": "SUB_WORKFLOW", "subWorkflowParam": {"name": "fu_child", "version": 1}})
        })
        .collect();
    let inputs: serde_json::Map<String, Value> =
        (0..n).map(|i| (format!("c{i}"), json!({}))).collect();
    (def, json!({"tasks": tasks, "inputs": inputs}))
}

async fn count(s: &TestServer, query: &str) -> i64 {
    let found = s
        .get_json(&format!("/workflow/search?query={query}&size=1"))
        .await;
    found["totalHits"].as_i64().unwrap_or(-1)
}

/// Waits until `count(query)` is `want`; panics with the last count.
async fn wait_count(s: &TestServer, query: &str, want: i64) {
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = -1;
    for _ in 0..2_000 {
        last = count(s, query).await;
        if last == want || std::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, want, "count of {query}");
}

/// A server running a `fu_parent` of `n` children; the parent's id.
async fn start_parent(n: usize) -> (TestServer, String) {
    let s = TestServer::spawn().await;
    s.register_workflow(waiting_child()).await;
    let (def, input) = parent_of(n);
    s.register_workflow(def).await;
    let id = s.start("fu_parent", input).await;
    (s, id)
}

async fn terminate(s: &TestServer, id: &str) {
    let resp = s.delete(&format!("/workflow/{id}?reason=stop")).await;
    expect_status(resp, reqwest::StatusCode::OK).await;
    s.wait_for_status(id, "TERMINATED", WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_a_parent_ends_all_of_its_300_children() {
    const N: usize = 300;
    let (s, id) = start_parent(N).await;
    wait_count(
        &s,
        "workflowType%3Dfu_child%20AND%20status%3DRUNNING",
        N as i64,
    )
    .await;

    terminate(&s, &id).await;
    // Every child ends (today's bound of 8 per commit + 8 after it left 285 RUNNING).
    wait_count(
        &s,
        "workflowType%3Dfu_child%20AND%20status%3DTERMINATED",
        N as i64,
    )
    .await;
    assert_eq!(
        count(&s, "workflowType%3Dfu_child%20AND%20status%3DRUNNING").await,
        0
    );
}

/// Terminating a parent while its children are still being started: a child the system
/// worker started after (or while) its task was cancelled must not outlive the parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_a_parent_while_its_children_start_leaves_none_running() {
    const N: usize = 300;
    let (s, id) = start_parent(N).await;
    // Some children started, most not yet.
    let deadline = std::time::Instant::now() + WAIT;
    let mut started = 0;
    while started < 20 && std::time::Instant::now() < deadline {
        started = count(&s, "workflowType%3Dfu_child").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(started >= 20, "only {started} children started");
    terminate(&s, &id).await;
    wait_count(&s, "workflowType%3Dfu_child%20AND%20status%3DRUNNING", 0).await;
    // Tasks the system worker had claimed are done with by now: whatever children exist
    // are terminated, and none started since.
    // (Usually fewer than N: the tasks still queued when the parent ended never start.)
    let all = count(&s, "workflowType%3Dfu_child").await;
    assert!(all >= started, "{all} children, {started} seen before");
    assert_eq!(
        count(&s, "workflowType%3Dfu_child%20AND%20status%3DTERMINATED").await,
        all
    );
    assert_eq!(
        count(&s, "workflowType%3Dfu_child%20AND%20status%3DRUNNING").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_workflow_naming_itself_stops_at_the_depth_limit() {
    const DEPTH: usize = 5;
    let s = TestServer::with_runtime_config(baton_runtime::RuntimeConfig {
        max_workflow_depth: DEPTH,
        ..Default::default()
    })
    .await;
    s.register_workflow(json!({
        "name": "fu_recurse", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "again", "taskReferenceName": "again", "type": "SUB_WORKFLOW",
                   "retryCount": 0,
                   "subWorkflowParam": {"name": "fu_recurse", "version": 1}}]
    }))
    .await;
    let root = s.start("fu_recurse", json!({})).await;
    // The root (depth 0) and DEPTH nested children: the deepest may not start another,
    // and fails for good (no retries), which fails every ancestor in turn.
    let w = s.wait_for_status(&root, "FAILED", WAIT).await;
    assert_eq!(
        count(&s, "workflowType%3Dfu_recurse").await,
        DEPTH as i64 + 1,
        "{}",
        serde_json::to_string_pretty(&w).unwrap_or_default()
    );
    assert_eq!(
        count(&s, "workflowType%3Dfu_recurse%20AND%20status%3DRUNNING").await,
        0
    );

    // The deepest workflow's task names the limit.
    let mut current = root;
    for _ in 0..DEPTH {
        let w = s.workflow(&current).await;
        current = tasks_by_ref(&w, "again")[0]["subWorkflowId"]
            .as_str()
            .expect("a child")
            .to_string();
    }
    let deepest = s.workflow(&current).await;
    let tasks = tasks_by_ref(&deepest, "again");
    assert_eq!(tasks.len(), 1, "a terminal failure is not retried");
    assert_eq!(tasks[0]["status"], "FAILED_WITH_TERMINAL_ERROR");
    let reason = tasks[0]["reasonForIncompletion"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("nesting depth limit of 5"),
        "reason: {reason}"
    );
}

#[tokio::test]
async fn a_self_naming_failure_workflow_chain_stops_at_the_depth_limit() {
    const DEPTH: usize = 3;
    let s = TestServer::with_runtime_config(baton_runtime::RuntimeConfig {
        max_workflow_depth: DEPTH,
        ..Default::default()
    })
    .await;
    s.register_workflow(json!({
        "name": "fu_fail_self", "version": 1, "failureWorkflow": "fu_fail_self",
        "tasks": [{"name": "stop", "taskReferenceName": "stop", "type": "TERMINATE",
                   "inputParameters": {"terminationStatus": "FAILED"}}]
    }))
    .await;
    let first = s.start("fu_fail_self", json!({})).await;
    // The first failed workflow and one failure workflow per level below the limit.
    wait_count(
        &s,
        "workflowType%3Dfu_fail_self%20AND%20status%3DFAILED",
        DEPTH as i64 + 1,
    )
    .await;
    // Give the follow-up loop every chance to overshoot, then check it did not: the last
    // failure workflow's follow-up was carried out (deleted) without starting another.
    let mut last = first;
    for _ in 0..DEPTH {
        let w = s.workflow(&last).await;
        let next = w["output"]["conductor.failure_workflow"]
            .as_str()
            .expect("a failure workflow id")
            .to_string();
        s.wait_for_status(&next, "FAILED", WAIT).await;
        last = next;
    }
    assert_eq!(
        count(&s, "workflowType%3Dfu_fail_self").await,
        DEPTH as i64 + 1
    );
}

/// A crash after a commit and before its follow-ups were carried out leaves them stored;
/// the next server on that database carries them out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_left_by_a_crash_are_carried_out_at_the_next_start() {
    if std::env::var("BATON_TEST_BACKEND").as_deref() == Ok("postgres") {
        // The crashed node below writes through a SQLite store of its own.
        eprintln!("SKIPPED on PostgreSQL: the crashed node is a SQLite store");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestServer::db_path(dir.path());
    // A running workflow, and what a node that crashed right after terminating that
    // workflow's parent leaves: the follow-up, committed but not carried out. (A runtime
    // without its background loops, as a node that died before they ran.)
    let child_id = {
        let store: Arc<dyn baton_store::Store> =
            Arc::new(baton_store::SqliteStore::open_path(&db).expect("open"));
        let runtime = baton_runtime::Runtime::new(store.clone(), Default::default());
        let def = serde_json::from_value(waiting_child()).expect("definition");
        runtime
            .register_workflow_def(def, true)
            .await
            .expect("register");
        let child_id = runtime
            .start_workflow(baton_model::StartWorkflowRequest {
                name: "fu_child".into(),
                ..Default::default()
            })
            .await
            .expect("start");
        let follow_up = baton_store::FollowUp {
            id: "0190a000-0000-7000-8000-000000000001".into(),
            workflow_id: "crashed-parent".into(),
            payload: json!({"kind": "terminateWorkflow", "workflowId": child_id,
                            "reason": "Parent workflow crashed-parent ended"}),
            created_at: 1,
        };
        store
            .commit(baton_store::Commit {
                follow_ups: vec![follow_up],
                ..Default::default()
            })
            .await
            .expect("commit follow-up");
        assert_eq!(store.pending_follow_ups(10).await.expect("list").len(), 1);
        child_id
    };
    let s = TestServer::open(dir, Default::default(), Default::default()).await;
    let w = s.wait_for_status(&child_id, "TERMINATED", WAIT).await;
    assert_eq!(
        w["reasonForIncompletion"],
        "Parent workflow crashed-parent ended"
    );
}
