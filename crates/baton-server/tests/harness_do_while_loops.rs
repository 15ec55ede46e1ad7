//! The case of the older copy of Conductor's `DoWhileSpec`
//! (`com/netflix/counductor/integration/test/`) that `harness_do_while.rs` did not cover, with
//! the same expectations, written for Baton with its own definitions: two DO_WHILE loops one
//! after the other, the first running a task and a FORK/JOIN twice, the second one task once.
//! Each task runs in its loop's iteration, named with that iteration's `__N` suffix; the
//! second loop starts only when the first is done.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const C: &str = "COMPLETED";
const S: &str = "SCHEDULED";
const IP: &str = "IN_PROGRESS";

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

/// A DO_WHILE `reference` over `tasks`, run as many times as the workflow input `times` says.
fn do_while(reference: &str, times: &str, tasks: Value) -> Value {
    json!({"name": reference, "taskReferenceName": reference, "type": "DO_WHILE",
           "inputParameters": {"times": format!("${{workflow.input.{times}}}")},
           "loopCondition": format!("$.{reference}['iteration'] < $.times"),
           "loopOver": tasks})
}

/// Polls the task of `task_type`, checks its workflow and iteration (and the reference suffix
/// that says so), and completes it.
async fn work(s: &TestServer, id: &str, task_type: &str, iteration: i64) {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    assert_eq!(t["iteration"], iteration, "{t:#}");
    let reference = t["referenceTaskName"].as_str().unwrap_or_default();
    assert!(reference.ends_with(&format!("__{iteration}")), "{t:#}");
    s.complete(&t, json!({})).await;
}

/// The first loop's tasks of one iteration, all `status` but the JOIN (`join`).
fn first_loop_pass(
    iteration: i64,
    status: &'static str,
    join: &'static str,
) -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("dwl_0", C, iteration),
        ("FORK", C, iteration),
        ("dwl_1", status, iteration),
        ("dwl_2", status, iteration),
        ("JOIN", join, iteration),
    ]
}

#[tokio::test]
async fn two_loops_in_a_row_each_with_its_own_iterations() {
    let s = TestServer::spawn().await;
    let first = do_while(
        "loop",
        "loop",
        json!([
            worker("dwl_0"),
            {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
             "forkTasks": [[worker("dwl_1")], [worker("dwl_2")]]},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN",
             "joinOn": ["dwl_1", "dwl_2"]}
        ]),
    );
    let second = do_while("loop2", "loop2", json!([worker("dwl_3")]));
    s.register_workflow(json!({"name": "dwl_multiple", "version": 1,
        "tasks": [first, second]}))
        .await;
    let id = s
        .start("dwl_multiple", json!({"loop": 2, "loop2": 1}))
        .await;
    expect_steps(
        &s.workflow(&id).await,
        &[("DO_WHILE", IP, 1), ("dwl_0", S, 1)],
    );

    work(&s, &id, "dwl_0", 1).await;
    let mut expected = vec![("DO_WHILE", IP, 1)];
    expected.extend(first_loop_pass(1, S, IP));
    expect_steps(&s.workflow(&id).await, &expected);

    work(&s, &id, "dwl_1", 1).await;
    expected[3] = ("dwl_1", C, 1);
    expect_steps(&s.workflow(&id).await, &expected);

    // The first pass ends: the loop starts its second iteration.
    work(&s, &id, "dwl_2", 1).await;
    let mut expected = vec![("DO_WHILE", IP, 2)];
    expected.extend(first_loop_pass(1, C, C));
    expected.push(("dwl_0", S, 2));
    expect_steps(&s.workflow(&id).await, &expected);

    work(&s, &id, "dwl_0", 2).await;
    expected.pop();
    expected.extend(first_loop_pass(2, S, IP));
    expect_steps(&s.workflow(&id).await, &expected);

    work(&s, &id, "dwl_1", 2).await;
    expected[8] = ("dwl_1", C, 2);
    expect_steps(&s.workflow(&id).await, &expected);

    // The first loop is done after two iterations; the second loop starts its first.
    work(&s, &id, "dwl_2", 2).await;
    let mut expected = vec![("DO_WHILE", C, 2)];
    expected.extend(first_loop_pass(1, C, C));
    expected.extend(first_loop_pass(2, C, C));
    expected.extend([("DO_WHILE", IP, 1), ("dwl_3", S, 1)]);
    let w = s.workflow(&id).await;
    expect_steps(&w, &expected);
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["tasks"][11]["referenceTaskName"], "loop2");

    work(&s, &id, "dwl_3", 1).await;
    let w = s.wait_for_status(&id, C, WAIT).await;
    let n = expected.len();
    expected[n - 2] = ("DO_WHILE", C, 1);
    expected[n - 1] = ("dwl_3", C, 1);
    expect_steps(&w, &expected);
    assert_eq!(n, 13);
}
