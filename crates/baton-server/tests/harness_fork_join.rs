//! FORK/JOIN scenarios of Conductor's `ForkJoinSpec`, with the same expectations, written for
//! Baton with its own definitions: both branches run to the JOIN and the task after it; a
//! failed branch cancels the JOIN and the other branch's next task, and retrying the workflow
//! re-opens the JOIN in place and retries what failed and what was canceled. Also, as
//! Conductor's `Join.java`: a JOIN completes with errors only for an optional branch task.
//! The nested and sub-workflow cases are in `harness_fork_join_nested.rs`.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

/// fork [[fj_1, fj_3], [fj_2]], join on fj_3 and fj_2, then fj_4.
fn fan_in_out() -> Value {
    json!({"name": "fj_fan", "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
         "forkTasks": [[worker("fj_1"), worker("fj_3")], [worker("fj_2")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["fj_3", "fj_2"]},
        worker("fj_4")
    ]})
}

async fn work(s: &TestServer, id: &str, task_type: &str) {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, json!({})).await;
}

#[tokio::test]
async fn a_fork_join_runs_both_branches_then_the_task_after_the_join() {
    let s = TestServer::spawn().await;
    s.register_workflow(fan_in_out()).await;
    let id = s.start("fj_fan", json!({})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("fj_1", "SCHEDULED"),
            ("fj_2", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    work(&s, &id, "fj_1").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("fj_1", "COMPLETED"),
            ("fj_2", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
            ("fj_3", "SCHEDULED"),
        ],
    );
    work(&s, &id, "fj_3").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("fj_1", "COMPLETED"),
            ("fj_2", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
            ("fj_3", "COMPLETED"),
        ],
    );
    work(&s, &id, "fj_2").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("fj_1", "COMPLETED"),
            ("fj_2", "COMPLETED"),
            ("JOIN", "COMPLETED"),
            ("fj_3", "COMPLETED"),
            ("fj_4", "SCHEDULED"),
        ],
    );
    work(&s, &id, "fj_4").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(shape(&w).len(), 6, "{w:#}");
    assert_eq!(w["tasks"][5]["status"], "COMPLETED");
}

#[tokio::test]
async fn retrying_a_failed_fork_join_reopens_the_join_and_retries_failed_and_canceled_tasks() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "fj_2", "retryCount": 0}))
        .await;
    s.register_workflow(fan_in_out()).await;
    let id = s.start("fj_fan", json!({})).await;
    expect_shape(
        &s.workflow(&id).await,
        &[
            ("FORK", "COMPLETED"),
            ("fj_1", "SCHEDULED"),
            ("fj_2", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    work(&s, &id, "fj_1").await;
    let t = s.poll_one("fj_2").await;
    s.fail(&t, "Failed....").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("fj_1", "COMPLETED"),
            ("fj_2", "FAILED"),
            ("JOIN", "CANCELED"),
            ("fj_3", "CANCELED"),
        ],
    );

    let resp = s
        .post_json(&format!("/workflow/{id}/retry"), &json!({}))
        .await;
    expect_status(resp, StatusCode::NO_CONTENT).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("fj_1", "COMPLETED"),
            ("fj_2", "FAILED"),
            ("JOIN", "IN_PROGRESS"),
            ("fj_3", "CANCELED"),
            ("fj_2", "SCHEDULED"),
            ("fj_3", "SCHEDULED"),
        ],
    );
    work(&s, &id, "fj_3").await;
    work(&s, &id, "fj_2").await;
    work(&s, &id, "fj_4").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let got = shape(&w);
    assert_eq!(got.len(), 8, "{w:#}");
    assert_eq!(got[3], ("JOIN".into(), "COMPLETED".into()));
    assert_eq!(got[7], ("fj_4".into(), "COMPLETED".into()));
}

/// Conductor 3.32's `Join.java` completes a JOIN with errors only when a branch task that is
/// `optional` ended COMPLETED_WITH_ERRORS. A nested JOIN that did so is not optional: the
/// outer JOIN over it completes, with no reason.
#[tokio::test]
async fn a_join_completes_with_errors_only_for_an_optional_branch_task() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "fj_opt", "retryCount": 0}))
        .await;
    let mut optional = worker("fj_opt");
    optional["optional"] = json!(true);
    s.register_workflow(json!({"name": "fj_errors", "version": 1, "tasks": [
        {"name": "outer", "taskReferenceName": "outer", "type": "FORK_JOIN", "forkTasks": [
            [{"name": "inner", "taskReferenceName": "inner", "type": "FORK_JOIN",
              "forkTasks": [[optional], [worker("fj_in")]]},
             {"name": "inner_join", "taskReferenceName": "inner_join", "type": "JOIN",
              "joinOn": ["fj_opt", "fj_in"]}],
            [worker("fj_out")]]},
        {"name": "outer_join", "taskReferenceName": "outer_join", "type": "JOIN",
         "joinOn": ["inner_join", "fj_out"]},
        worker("fj_after")
    ]}))
    .await;
    let id = s.start("fj_errors", json!({})).await;
    let t = s.poll_one("fj_opt").await;
    s.fail(&t, "optional broke").await;
    let t = s.poll_one("fj_in").await;
    s.complete(&t, json!({"in": 1})).await;
    let t = s.poll_one("fj_out").await;
    s.complete(&t, json!({"out": 2})).await;
    let w = s
        .wait_for(&id, "fj_after scheduled", WAIT, |w| {
            !tasks_by_ref(w, "fj_after").is_empty()
        })
        .await;
    let opt = tasks_by_ref(&w, "fj_opt")[0];
    assert_eq!(opt["status"], "COMPLETED_WITH_ERRORS", "{w:#}");
    let inner = tasks_by_ref(&w, "inner_join")[0];
    assert_eq!(inner["status"], "COMPLETED_WITH_ERRORS", "{w:#}");
    assert_eq!(
        inner["reasonForIncompletion"],
        format!(
            "fj_opt/{} completed with errors",
            opt["taskId"].as_str().unwrap()
        )
    );
    let outer = tasks_by_ref(&w, "outer_join")[0];
    assert_eq!(outer["status"], "COMPLETED", "{outer:#}");
    assert!(outer["reasonForIncompletion"].is_null(), "{outer:#}");
    assert_eq!(
        outer["outputData"],
        json!({"inner_join": {"fj_in": {"in": 1}}, "fj_out": {"out": 2}}),
        "{outer:#}"
    );
    work(&s, &id, "fj_after").await;
    s.wait_for_status(&id, "COMPLETED", WAIT).await;
}
