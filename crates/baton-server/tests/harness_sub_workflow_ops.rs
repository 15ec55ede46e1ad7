//! Operations on a parent and its sub-workflow: the scenarios of Conductor's `SubWorkflowSpec`
//! (retry a child its parent's timeout terminated; terminate a child) and pause/resume across
//! the two, written for Baton with its own definitions. Time is moved with a manual clock.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// parent: [so_t1, SUB_WORKFLOW (child: [so_in_child]), so_t3]; `timeout`: the parent's
/// TIME_OUT_WF timeout in seconds, if any.
async fn register(s: &TestServer, timeout: Option<i64>) {
    s.register_task_def(json!({"name": "so_in_child", "retryCount": 0}))
        .await;
    s.register_workflow(json!({"name": "so_child", "version": 1,
        "tasks": [{"name": "so_in_child", "taskReferenceName": "c1", "type": "SIMPLE"}],
        "outputParameters": {"op": "${c1.output.op}"}}))
        .await;
    let mut parent = json!({"name": "so_parent", "version": 1,
        "tasks": [
            {"name": "so_t1", "taskReferenceName": "t1", "type": "SIMPLE"},
            {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
             "subWorkflowParam": {"name": "so_child"}},
            {"name": "so_t3", "taskReferenceName": "t3", "type": "SIMPLE"}
        ],
        "outputParameters": {"op": "${sub.output.op}"}});
    if let Some(secs) = timeout {
        parent["timeoutPolicy"] = json!("TIME_OUT_WF");
        parent["timeoutSeconds"] = json!(secs);
    }
    s.register_workflow(parent).await;
}

async fn work(s: &TestServer, id: &str, task_type: &str, output: Value) {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, output).await;
}

/// Starts the parent, completes its first task, and answers (parent, child) once the child
/// runs.
async fn parent_waiting_on_child(s: &TestServer) -> (String, String) {
    let parent = s.start("so_parent", json!({"param1": "p1 value"})).await;
    work(s, &parent, "so_t1", json!({"op": "task1.done"})).await;
    let w = s
        .wait_for(&parent, "the child starts", WAIT, |w| {
            tasks_by_ref(w, "sub").first().is_some_and(|t| {
                t["status"] == "IN_PROGRESS" && t["subWorkflowId"].as_str().is_some()
            })
        })
        .await;
    let child = tasks_by_ref(&w, "sub")[0]["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_string();
    (parent, child)
}

/// The parent times out; its child is terminated. Retrying the child resumes the parent,
/// whose timeout counts again from then, and both complete.
#[tokio::test]
async fn retrying_a_child_its_parents_timeout_terminated_resumes_the_parent() {
    let s = TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await;
    register(&s, Some(10)).await;
    let (parent, child) = parent_waiting_on_child(&s).await;
    s.advance(Duration::from_secs(11)).await;
    let w = s.wait_for_status(&parent, "TIMED_OUT", WAIT).await;
    expect_shape(&w, &[("so_t1", "COMPLETED"), ("SUB_WORKFLOW", "CANCELED")]);
    let c = s.wait_for_status(&child, "TERMINATED", WAIT).await;
    expect_shape(&c, &[("so_in_child", "CANCELED")]);

    let resp = s
        .post_json(&format!("/workflow/{child}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let c = s.workflow(&child).await;
    assert_eq!(c["status"], "RUNNING");
    expect_shape(
        &c,
        &[("so_in_child", "CANCELED"), ("so_in_child", "SCHEDULED")],
    );
    let w = s.workflow(&parent).await;
    assert_eq!(w["status"], "RUNNING", "the parent is resumed: {w:#}");
    expect_shape(
        &w,
        &[("so_t1", "COMPLETED"), ("SUB_WORKFLOW", "IN_PROGRESS")],
    );

    s.advance(Duration::from_secs(5)).await;
    assert_eq!(s.workflow(&parent).await["status"], "RUNNING");
    work(
        &s,
        &child,
        "so_in_child",
        json!({"op": "simple_task_in_sub_wf.done"}),
    )
    .await;
    s.wait_for_status(&child, "COMPLETED", WAIT).await;
    s.advance(Duration::from_secs(1)).await;
    let w = s
        .wait_for(&parent, "the child's end is taken", WAIT, |w| {
            shape(w).len() == 3
        })
        .await;
    expect_shape(
        &w,
        &[
            ("so_t1", "COMPLETED"),
            ("SUB_WORKFLOW", "COMPLETED"),
            ("so_t3", "SCHEDULED"),
        ],
    );
    work(&s, &parent, "so_t3", json!({})).await;
    let w = s.wait_for_status(&parent, "COMPLETED", WAIT).await;
    assert_eq!(w["output"]["op"], "simple_task_in_sub_wf.done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_a_child_terminates_its_parent_naming_the_reason() {
    let s = TestServer::spawn().await;
    register(&s, None).await;
    let (parent, child) = parent_waiting_on_child(&s).await;
    let reason = "terminating from a test case";
    let resp = s
        .delete(&format!(
            "/workflow/{child}?reason={}",
            reason.replace(' ', "%20")
        ))
        .await;
    expect_status(resp, StatusCode::OK).await;
    let c = s.wait_for_status(&child, "TERMINATED", WAIT).await;
    expect_shape(&c, &[("so_in_child", "CANCELED")]);
    assert_eq!(c["reasonForIncompletion"], reason);
    let w = s.wait_for_status(&parent, "TERMINATED", WAIT).await;
    expect_shape(&w, &[("so_t1", "COMPLETED"), ("SUB_WORKFLOW", "CANCELED")]);
    // The spec expects the child's reason verbatim; Baton gives it inside its decider's
    // wording for an ended task ("Task <id> failed with status: TERMINATED and reason: '…'").
    assert!(
        w["reasonForIncompletion"]
            .as_str()
            .unwrap_or_default()
            .contains(reason),
        "{w:#}"
    );
}

/// A child ends while its parent is paused: the parent takes the outcome but schedules
/// nothing until it is resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_parent_goes_on_after_its_child_only_when_resumed() {
    let s = TestServer::spawn().await;
    register(&s, None).await;
    let (parent, child) = parent_waiting_on_child(&s).await;
    let resp = s
        .put_json(&format!("/workflow/{parent}/pause"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    assert_eq!(
        s.workflow(&child).await["status"],
        "RUNNING",
        "pausing a parent leaves its child running"
    );
    work(&s, &child, "so_in_child", json!({"op": "child.done"})).await;
    s.wait_for_status(&child, "COMPLETED", WAIT).await;
    let w = s.workflow(&parent).await;
    assert_eq!(w["status"], "PAUSED");
    assert!(
        tasks_by_ref(&w, "t3").is_empty(),
        "nothing scheduled while paused: {w:#}"
    );
    assert!(s.poll_batch("so_t3", 1, 0).await.is_empty());

    let resp = s
        .put_json(&format!("/workflow/{parent}/resume"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    work(&s, &parent, "so_t3", json!({})).await;
    let w = s.wait_for_status(&parent, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("so_t1", "COMPLETED"),
            ("SUB_WORKFLOW", "COMPLETED"),
            ("so_t3", "COMPLETED"),
        ],
    );
    assert_eq!(w["output"]["op"], "child.done");
}

/// A paused child holds its parent: its task is not handed out, the parent waits RUNNING;
/// once resumed, both complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_child_holds_its_parent_until_resumed() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "so_child2", "version": 1, "tasks": [
        {"name": "so_c_a", "taskReferenceName": "a", "type": "SIMPLE"},
        {"name": "so_c_b", "taskReferenceName": "b", "type": "SIMPLE"}]}))
        .await;
    s.register_workflow(json!({"name": "so_parent2", "version": 1, "tasks": [
        {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
         "subWorkflowParam": {"name": "so_child2"}}]}))
        .await;
    let parent = s.start("so_parent2", json!({})).await;
    let t = s.poll_one("so_c_a").await;
    let child = t["workflowInstanceId"].as_str().unwrap().to_string();
    let resp = s
        .put_json(&format!("/workflow/{child}/pause"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    s.complete(&t, json!({})).await;
    let c = s.workflow(&child).await;
    assert_eq!(c["status"], "PAUSED");
    expect_shape(&c, &[("so_c_a", "COMPLETED")]);
    assert!(s.poll_batch("so_c_b", 1, 0).await.is_empty());
    let w = s.workflow(&parent).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[("SUB_WORKFLOW", "IN_PROGRESS")]);

    let resp = s
        .put_json(&format!("/workflow/{child}/resume"), &json!({}))
        .await;
    expect_status(resp, StatusCode::OK).await;
    work(&s, &child, "so_c_b", json!({})).await;
    s.wait_for_status(&child, "COMPLETED", WAIT).await;
    s.wait_for_status(&parent, "COMPLETED", WAIT).await;
}

/// A SUB_WORKFLOW task whose task definition allows a retry: the failed child is followed by
/// a new attempt that starts a new child (with the same name and input), and the parent
/// completes with the new child's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sub_workflow_task_is_retried_with_a_new_child() {
    let s = TestServer::spawn().await;
    register(&s, None).await;
    s.register_task_def(json!({"name": "sub", "retryCount": 1, "retryDelaySeconds": 0}))
        .await;
    let (parent, first) = parent_waiting_on_child(&s).await;
    let t = s.poll_one("so_in_child").await;
    assert_eq!(t["workflowInstanceId"], first.as_str());
    s.fail(&t, "first child breaks").await;
    s.wait_for_status(&first, "FAILED", WAIT).await;
    let w = s
        .wait_for(&parent, "a second child starts", WAIT, |w| {
            let subs = tasks_by_ref(w, "sub");
            subs.len() == 2 && subs[1]["subWorkflowId"].as_str().is_some()
        })
        .await;
    let subs = tasks_by_ref(&w, "sub");
    assert_eq!(subs[0]["status"], "FAILED");
    assert_eq!(subs[1]["retriedTaskId"], subs[0]["taskId"]);
    let second = subs[1]["subWorkflowId"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let c = s.workflow(&second).await;
    assert_eq!(c["workflowName"], "so_child");
    work(&s, &second, "so_in_child", json!({"op": "second.done"})).await;
    work(&s, &parent, "so_t3", json!({})).await;
    let w = s.wait_for_status(&parent, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("so_t1", "COMPLETED"),
            ("SUB_WORKFLOW", "FAILED"),
            ("SUB_WORKFLOW", "COMPLETED"),
            ("so_t3", "COMPLETED"),
        ],
    );
    assert_eq!(w["output"]["op"], "second.done");
}
