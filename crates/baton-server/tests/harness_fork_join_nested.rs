//! The nested and sub-workflow cases of Conductor's `ForkJoinSpec`, with the same
//! expectations, written for Baton with its own definitions:
//!
//! - a fork inside a fork branch, with a DECISION in one of the inner branches;
//! - the same with a SUB_WORKFLOW as a third outer branch;
//! - two optional SUB_WORKFLOW branches whose children fail: the tasks and the JOIN end
//!   COMPLETED_WITH_ERRORS and the workflow COMPLETED; rerunning a child leaves the parent as
//!   it was (an optional SUB_WORKFLOW task does not re-open its parent);
//! - a SUB_WORKFLOW branch retried by its task definition: a failed child gives a new
//!   SUB_WORKFLOW attempt (and child) in the branch while the JOIN waits.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

fn sub(reference: &str, child: &str, optional: bool) -> Value {
    json!({"name": reference, "taskReferenceName": reference, "type": "SUB_WORKFLOW",
           "optional": optional, "subWorkflowParam": {"name": child, "version": 1}})
}

/// outer fork [[n11], [inner fork [[n12, n14], [n13, decision]], inner_join], extra...],
/// outer_join, n15. The decision on `case`: "a" → n16, n19, n20; "b" → n17; default n18.
fn nested(name: &str, extra_branch: Option<Value>) -> Value {
    let decision = json!({
        "name": "pick", "taskReferenceName": "pick", "type": "DECISION",
        "caseValueParam": "case", "inputParameters": {"case": "${workflow.input.case}"},
        "decisionCases": {
            "a": [worker("n16"), worker("n19"), worker("n20")],
            "b": [worker("n17")],
        },
        "defaultCase": [worker("n18")],
    });
    let inner = json!({
        "name": "inner", "taskReferenceName": "inner", "type": "FORK_JOIN",
        "forkTasks": [[worker("n12"), worker("n14")], [worker("n13"), decision]],
    });
    let inner_join = json!({"name": "inner_join", "taskReferenceName": "inner_join",
                            "type": "JOIN", "joinOn": ["n14", "n20"]});
    let mut branches = vec![json!([worker("n11")]), json!([inner, inner_join])];
    let mut join_on = vec![json!("n11"), json!("inner_join")];
    if let Some(b) = extra_branch {
        join_on.push(b["taskReferenceName"].clone());
        branches.push(json!([b]));
    }
    json!({"name": name, "version": 1, "tasks": [
        {"name": "outer", "taskReferenceName": "outer", "type": "FORK_JOIN",
         "forkTasks": branches},
        {"name": "outer_join", "taskReferenceName": "outer_join", "type": "JOIN",
         "joinOn": join_on},
        worker("n15"),
    ]})
}

/// The SUB_WORKFLOW task at `index` is IN_PROGRESS with its child started.
fn started(w: &Value, index: usize) -> bool {
    let t = &w["tasks"][index];
    t["status"] == "IN_PROGRESS" && t["subWorkflowId"].is_string()
}

async fn work(s: &TestServer, id: &str, task_type: &str) {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, json!({})).await;
}

fn join_on(w: &Value, index: usize) -> Value {
    let t = &w["tasks"][index];
    assert_eq!(t["taskType"], "JOIN", "{w:#}");
    t["inputData"]["joinOn"].clone()
}

/// `(taskType, status)` at `index`.
fn at(w: &Value, index: usize) -> (String, String) {
    shape(w)
        .get(index)
        .cloned()
        .unwrap_or_else(|| panic!("no task {index}: {w:#}"))
}

fn pair(t: &str, s: &str) -> (String, String) {
    (t.to_string(), s.to_string())
}

#[tokio::test]
async fn a_nested_fork_join_with_a_decision_runs_to_completion() {
    let s = TestServer::spawn().await;
    s.register_workflow(nested("fj_nested", None)).await;
    let id = s.start("fj_nested", json!({"case": "a"})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("n11", "SCHEDULED"),
            ("FORK", "COMPLETED"),
            ("n12", "SCHEDULED"),
            ("n13", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    // Each fork's JOIN right after its branches' first tasks (see HARNESS.md: the spec lists
    // the outer JOIN first).
    assert_eq!(join_on(&w, 5), json!(["n14", "n20"]));
    assert_eq!(join_on(&w, 6), json!(["n11", "inner_join"]));

    for t in ["n11", "n12", "n13"] {
        work(&s, &id, t).await;
    }
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(shape(&w).len(), 10, "{w:#}");
    assert_eq!(at(&w, 5), pair("JOIN", "IN_PROGRESS"));
    assert_eq!(at(&w, 6), pair("JOIN", "IN_PROGRESS"));
    assert_eq!(at(&w, 7), pair("n14", "SCHEDULED"));
    assert_eq!(at(&w, 8), pair("DECISION", "COMPLETED"));
    assert_eq!(at(&w, 9), pair("n16", "SCHEDULED"));

    work(&s, &id, "n16").await;
    work(&s, &id, "n14").await;
    let w = s.workflow(&id).await;
    assert_eq!(shape(&w).len(), 11, "{w:#}");
    assert_eq!(at(&w, 7), pair("n14", "COMPLETED"));
    assert_eq!(at(&w, 9), pair("n16", "COMPLETED"));
    assert_eq!(at(&w, 10), pair("n19", "SCHEDULED"));
    assert_eq!(at(&w, 5), pair("JOIN", "IN_PROGRESS"));
    assert_eq!(at(&w, 6), pair("JOIN", "IN_PROGRESS"));

    work(&s, &id, "n19").await;
    let w = s.workflow(&id).await;
    assert_eq!(shape(&w).len(), 12, "{w:#}");
    assert_eq!(at(&w, 11), pair("n20", "SCHEDULED"));
    assert_eq!(at(&w, 6), pair("JOIN", "IN_PROGRESS"));

    work(&s, &id, "n20").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(shape(&w).len(), 13, "{w:#}");
    assert_eq!(at(&w, 5), pair("JOIN", "COMPLETED"));
    assert_eq!(at(&w, 6), pair("JOIN", "COMPLETED"));
    assert_eq!(at(&w, 12), pair("n15", "SCHEDULED"));

    work(&s, &id, "n15").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(shape(&w).len(), 13, "{w:#}");
    assert_eq!(at(&w, 12), pair("n15", "COMPLETED"));
}

#[tokio::test]
async fn a_nested_fork_join_with_a_sub_workflow_branch_waits_for_the_child() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({"name": "fj_child", "version": 1,
                               "tasks": [worker("c1"), worker("c2")]}))
        .await;
    s.register_workflow(nested("fj_nested_sub", Some(sub("sw1", "fj_child", false))))
        .await;
    let id = s.start("fj_nested_sub", json!({"case": "a"})).await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    let got = shape(&w);
    assert_eq!(got.len(), 8, "{w:#}");
    assert_eq!(
        got[..5],
        [
            pair("FORK", "COMPLETED"),
            pair("n11", "SCHEDULED"),
            pair("FORK", "COMPLETED"),
            pair("n12", "SCHEDULED"),
            pair("n13", "SCHEDULED"),
        ]
    );
    // The inner fork's JOIN, then the third outer branch, then the outer JOIN.
    assert_eq!(join_on(&w, 5), json!(["n14", "n20"]));
    assert_eq!(got[6].0, "SUB_WORKFLOW", "{w:#}");
    assert_eq!(join_on(&w, 7), json!(["n11", "inner_join", "sw1"]));

    for t in ["n11", "n12", "n13"] {
        work(&s, &id, t).await;
    }
    let w = s.workflow(&id).await;
    assert_eq!(shape(&w).len(), 11, "{w:#}");
    assert_eq!(at(&w, 8), pair("n14", "SCHEDULED"));
    assert_eq!(at(&w, 9), pair("DECISION", "COMPLETED"));
    assert_eq!(at(&w, 10), pair("n16", "SCHEDULED"));

    work(&s, &id, "n16").await;
    work(&s, &id, "n14").await;
    let w = s
        .wait_for(&id, "sw1 IN_PROGRESS", WAIT, |w| started(w, 6))
        .await;
    assert_eq!(shape(&w).len(), 12, "{w:#}");
    assert_eq!(at(&w, 5), pair("JOIN", "IN_PROGRESS"));
    assert_eq!(at(&w, 7), pair("JOIN", "IN_PROGRESS"));
    assert_eq!(at(&w, 11), pair("n19", "SCHEDULED"));
    let child = w["tasks"][6]["subWorkflowId"].as_str().unwrap().to_string();
    let c = s.workflow(&child).await;
    assert_eq!(c["status"], "RUNNING");
    expect_shape(&c, &[("c1", "SCHEDULED")]);

    work(&s, &child, "c1").await;
    work(&s, &child, "c2").await;
    let c = s.wait_for_status(&child, "COMPLETED", WAIT).await;
    expect_shape(&c, &[("c1", "COMPLETED"), ("c2", "COMPLETED")]);
    let w = s
        .wait_for(&id, "sw1 COMPLETED", WAIT, |w| {
            w["tasks"][6]["status"] == "COMPLETED"
        })
        .await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(shape(&w).len(), 12, "{w:#}");
    assert_eq!(at(&w, 5), pair("JOIN", "IN_PROGRESS"));
    assert_eq!(at(&w, 7), pair("JOIN", "IN_PROGRESS"));

    work(&s, &id, "n19").await;
    let w = s.workflow(&id).await;
    assert_eq!(shape(&w).len(), 13, "{w:#}");
    assert_eq!(at(&w, 12), pair("n20", "SCHEDULED"));
    work(&s, &id, "n20").await;
    let w = s.workflow(&id).await;
    assert_eq!(shape(&w).len(), 14, "{w:#}");
    assert_eq!(at(&w, 5), pair("JOIN", "COMPLETED"));
    assert_eq!(at(&w, 7), pair("JOIN", "COMPLETED"));
    assert_eq!(at(&w, 13), pair("n15", "SCHEDULED"));
    work(&s, &id, "n15").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(shape(&w).len(), 14, "{w:#}");
}

#[tokio::test]
async fn optional_sub_workflow_branches_that_fail_complete_the_workflow_with_errors() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "opt_child_task", "retryCount": 0}))
        .await;
    s.register_workflow(json!({"name": "fj_opt_child", "version": 1,
                               "tasks": [worker("opt_child_task")]}))
        .await;
    s.register_workflow(json!({"name": "fj_opt", "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": [
            [sub("st1", "fj_opt_child", true)], [sub("st2", "fj_opt_child", true)]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["st1", "st2"]},
    ]}))
    .await;
    let id = s.start("fj_opt", json!({"p1": "v1"})).await;
    let w = s
        .wait_for(&id, "both children started", WAIT, |w| {
            started(w, 1) && started(w, 2)
        })
        .await;
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "IN_PROGRESS"),
            ("SUB_WORKFLOW", "IN_PROGRESS"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    assert_eq!(join_on(&w, 3), json!(["st1", "st2"]));
    let children: Vec<String> = [1, 2]
        .iter()
        .map(|i| {
            w["tasks"][*i]["subWorkflowId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for child in &children {
        let c = s.workflow(child).await;
        assert_eq!(c["status"], "RUNNING");
        expect_shape(&c, &[("opt_child_task", "SCHEDULED")]);
    }

    for _ in 0..2 {
        let t = s.poll_one("opt_child_task").await;
        s.fail(&t, "Failed....").await;
    }
    for child in &children {
        let c = s.wait_for_status(child, "FAILED", WAIT).await;
        expect_shape(&c, &[("opt_child_task", "FAILED")]);
    }
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let ended = [
        ("FORK", "COMPLETED"),
        ("SUB_WORKFLOW", "COMPLETED_WITH_ERRORS"),
        ("SUB_WORKFLOW", "COMPLETED_WITH_ERRORS"),
        ("JOIN", "COMPLETED_WITH_ERRORS"),
    ];
    expect_shape(&w, &ended);
    // Conductor's JOIN names each optional task that failed, as `name/taskId `.
    assert_eq!(
        w["tasks"][3]["reasonForIncompletion"],
        format!(
            "st1/{} st2/{} completed with errors",
            w["tasks"][1]["taskId"].as_str().unwrap(),
            w["tasks"][2]["taskId"].as_str().unwrap()
        ),
        "{w:#}"
    );

    // Rerunning the first child runs it again; its optional parent task is left as it was.
    let resp = s
        .post_json(
            &format!("/workflow/{}/rerun", children[0]),
            &json!({"reRunFromWorkflowId": children[0]}),
        )
        .await;
    expect_status(resp, StatusCode::OK).await;
    let c = s.workflow(&children[0]).await;
    assert_eq!(c["status"], "RUNNING", "{c:#}");
    expect_shape(&c, &[("opt_child_task", "SCHEDULED")]);
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "COMPLETED", "{w:#}");
    expect_shape(&w, &ended);
}

#[tokio::test]
async fn a_sub_workflow_branch_is_retried_by_its_task_definition() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "retried_child_task", "retryCount": 0}))
        .await;
    s.register_task_def(json!({"name": "st1", "retryCount": 1, "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(json!({"name": "fj_retry_child", "version": 1,
                               "tasks": [worker("retried_child_task")]}))
        .await;
    s.register_workflow(json!({"name": "fj_sub_retry", "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": [
            [sub("st1", "fj_retry_child", false)], [worker("fj_side")]]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": ["st1", "fj_side"]},
    ]}))
    .await;
    let id = s.start("fj_sub_retry", json!({})).await;
    let w = s
        .wait_for(&id, "the child started", WAIT, |w| started(w, 1))
        .await;
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "IN_PROGRESS"),
            ("fj_side", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    assert_eq!(join_on(&w, 3), json!(["st1", "fj_side"]));
    let first_child = w["tasks"][1]["subWorkflowId"].as_str().unwrap().to_string();

    let t = s.poll_one("retried_child_task").await;
    assert_eq!(t["workflowInstanceId"], first_child.as_str());
    s.fail(&t, "Failed....").await;
    let c = s.wait_for_status(&first_child, "FAILED", WAIT).await;
    expect_shape(&c, &[("retried_child_task", "FAILED")]);

    let w = s
        .wait_for(&id, "a second SUB_WORKFLOW attempt running", WAIT, |w| {
            started(w, 4)
        })
        .await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "FAILED"),
            ("fj_side", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
            ("SUB_WORKFLOW", "IN_PROGRESS"),
        ],
    );
    let second_child = w["tasks"][4]["subWorkflowId"].as_str().unwrap().to_string();
    assert_ne!(second_child, first_child);
    let c = s.workflow(&second_child).await;
    assert_eq!(c["status"], "RUNNING");
    expect_shape(&c, &[("retried_child_task", "SCHEDULED")]);

    work(&s, &second_child, "retried_child_task").await;
    s.wait_for_status(&second_child, "COMPLETED", WAIT).await;
    let w = s
        .wait_for(&id, "the second attempt COMPLETED", WAIT, |w| {
            w["tasks"][4]["status"] == "COMPLETED"
        })
        .await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(at(&w, 3), pair("JOIN", "IN_PROGRESS"));

    work(&s, &id, "fj_side").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            ("SUB_WORKFLOW", "FAILED"),
            ("fj_side", "COMPLETED"),
            ("JOIN", "COMPLETED"),
            ("SUB_WORKFLOW", "COMPLETED"),
        ],
    );
}
