//! EXCLUSIVE_JOIN after nested decisions: the scenarios of Conductor's `ExclusiveJoinSpec` and
//! `ExclusiveJoinEndToEndSpec`, with the same expectations (task list, statuses, and the join's
//! output being the output of the branch task that ran), written for Baton with its own
//! definitions. Beyond the specs: SWITCH, a failed branch, a retried branch task, and an
//! EXCLUSIVE_JOIN inside a DO_WHILE.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn worker(name: &str, reference: &str, from: &str) -> Value {
    json!({"name": name, "taskReferenceName": reference, "type": "SIMPLE",
           "inputParameters": {"payload": format!("${{{from}}}")}})
}

fn decision(reference: &str, param: &str, cases: Value) -> Value {
    json!({"name": "xj_decide", "taskReferenceName": reference, "type": "DECISION",
           "caseValueParam": param,
           "inputParameters": {param: format!("${{workflow.input.{param}}}")},
           "decisionCases": cases})
}

/// Three levels of decisions, as in the spec: task1, then decision_1 picks [task2, then
/// decision_2 → task3] or [task4, then decision_3 → task5] (or nothing); the EXCLUSIVE_JOIN
/// joins on the deepest tasks and falls back to the others in order.
fn nested_decisions() -> Value {
    json!({
        "name": "xj_nested", "version": 1, "schemaVersion": 2,
        "tasks": [
            worker("xj_task_1", "task1", "workflow.input.payload"),
            decision("decision1", "decision_1", json!({
                "true": [
                    worker("xj_task_2", "task2", "task1.output.payload"),
                    decision("decision2", "decision_2", json!({
                        "true": [worker("xj_task_3", "task3", "task2.output.payload")]}))
                ],
                "false": [
                    worker("xj_task_4", "task4", "task1.output.payload"),
                    decision("decision3", "decision_3", json!({
                        "true": [worker("xj_task_5", "task5", "task4.output.payload")]}))
                ]
            })),
            {"name": "xj_join", "taskReferenceName": "exclusiveJoin", "type": "EXCLUSIVE_JOIN",
             "joinOn": ["task3", "task5"],
             "defaultExclusiveJoinTask": ["task2", "task4", "task1"]}
        ],
        "outputParameters": {"joined": "${exclusiveJoin.output.taskReferenceName}"}
    })
}

/// Polls the task of `task_type` (which must belong to `id`) and completes it with the
/// spec's output, `{"taskReferenceName": <its reference>}`.
async fn complete_next(s: &TestServer, id: &str, task_type: &str) {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id);
    let reference = t["referenceTaskName"].clone();
    s.complete(&t, json!({"taskReferenceName": reference}))
        .await;
}

/// Runs the nested-decision workflow with `input`, completing the worker tasks in `path`
/// (asserting each is the only one scheduled when its turn comes), and returns the ended
/// workflow.
async fn run(s: &TestServer, input: Value, path: &[&str]) -> Value {
    let id = s.start("xj_nested", input).await;
    let w = s.workflow(&id).await;
    expect_shape(&w, &[("xj_task_1", "SCHEDULED")]);
    for (n, task_type) in path.iter().enumerate() {
        let w = s.workflow(&id).await;
        let last = shape(&w).pop().expect("a task");
        assert_eq!(
            last,
            (task_type.to_string(), "SCHEDULED".to_string()),
            "step {n}: {w:#}"
        );
        complete_next(s, &id, task_type).await;
    }
    s.wait_for_status(&id, "COMPLETED", WAIT).await
}

fn join_output(w: &Value) -> &Value {
    let joins = tasks_by_ref(w, "exclusiveJoin");
    assert_eq!(joins.len(), 1, "{w:#}");
    &joins[0]["outputData"]["taskReferenceName"]
}

async fn server() -> TestServer {
    let s = TestServer::spawn().await;
    s.register_workflow(nested_decisions()).await;
    s
}

#[tokio::test]
async fn the_default_case_runs_and_the_join_takes_the_first_task() {
    let s = server().await;
    let w = run(&s, json!({"decision_1": "null"}), &["xj_task_1"]).await;
    expect_shape(
        &w,
        &[
            ("xj_task_1", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("EXCLUSIVE_JOIN", "COMPLETED"),
        ],
    );
    assert_eq!(join_output(&w), "task1");
    assert_eq!(w["output"]["joined"], "task1");
}

#[tokio::test]
async fn one_decision_true_and_the_nested_one_default_joins_the_middle_task() {
    let s = server().await;
    let input = json!({"decision_1": "true", "decision_2": "null"});
    let w = run(&s, input, &["xj_task_1", "xj_task_2"]).await;
    expect_shape(
        &w,
        &[
            ("xj_task_1", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("xj_task_2", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("EXCLUSIVE_JOIN", "COMPLETED"),
        ],
    );
    assert_eq!(join_output(&w), "task2");
}

#[tokio::test]
async fn both_decisions_true_join_the_deepest_task() {
    let s = server().await;
    let input = json!({"decision_1": "true", "decision_2": "true"});
    let w = run(&s, input, &["xj_task_1", "xj_task_2", "xj_task_3"]).await;
    expect_shape(
        &w,
        &[
            ("xj_task_1", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("xj_task_2", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("xj_task_3", "COMPLETED"),
            ("EXCLUSIVE_JOIN", "COMPLETED"),
        ],
    );
    assert_eq!(join_output(&w), "task3");
}

#[tokio::test]
async fn first_decision_false_and_the_nested_one_default_joins_its_task() {
    let s = server().await;
    let input = json!({"decision_1": "false", "decision_3": "null"});
    let w = run(&s, input, &["xj_task_1", "xj_task_4"]).await;
    expect_shape(
        &w,
        &[
            ("xj_task_1", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("xj_task_4", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("EXCLUSIVE_JOIN", "COMPLETED"),
        ],
    );
    assert_eq!(join_output(&w), "task4");
}

#[tokio::test]
async fn first_decision_false_and_the_nested_one_true_joins_the_other_deepest_task() {
    let s = server().await;
    let input = json!({"decision_1": "false", "decision_3": "true"});
    let w = run(&s, input, &["xj_task_1", "xj_task_4", "xj_task_5"]).await;
    expect_shape(
        &w,
        &[
            ("xj_task_1", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("xj_task_4", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("xj_task_5", "COMPLETED"),
            ("EXCLUSIVE_JOIN", "COMPLETED"),
        ],
    );
    assert_eq!(join_output(&w), "task5");
}

#[tokio::test]
async fn the_whole_output_of_the_branch_task_is_taken() {
    let s = server().await;
    let id = s
        .start(
            "xj_nested",
            json!({"decision_1": "true", "decision_2": "true"}),
        )
        .await;
    complete_next(&s, &id, "xj_task_1").await;
    complete_next(&s, &id, "xj_task_2").await;
    let t = s.poll_one("xj_task_3").await;
    s.complete(
        &t,
        json!({"taskReferenceName": "task3", "n": 3, "deep": {"x": [1, 2]}}),
    )
    .await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let join = tasks_by_ref(&w, "exclusiveJoin")[0];
    assert_eq!(
        join["outputData"],
        json!({"taskReferenceName": "task3", "n": 3, "deep": {"x": [1, 2]}})
    );
    assert_eq!(join["inputData"]["joinOn"], json!(["task3", "task5"]));
    assert_eq!(
        join["inputData"]["defaultExclusiveJoinTask"],
        json!(["task2", "task4", "task1"])
    );
}

#[tokio::test]
async fn a_failed_branch_task_fails_the_workflow_before_the_join() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "xj_task_2", "retryCount": 0}))
        .await;
    s.register_workflow(nested_decisions()).await;
    let id = s
        .start(
            "xj_nested",
            json!({"decision_1": "true", "decision_2": "true"}),
        )
        .await;
    complete_next(&s, &id, "xj_task_1").await;
    let t = s.poll_one("xj_task_2").await;
    s.fail(&t, "branch broke").await;
    let w = s.wait_for_status(&id, "FAILED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("xj_task_1", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("xj_task_2", "FAILED"),
        ],
    );
    assert!(
        w["reasonForIncompletion"]
            .as_str()
            .unwrap_or_default()
            .contains("branch broke"),
        "{w:#}"
    );
    assert!(tasks_by_ref(&w, "exclusiveJoin").is_empty());
}

#[tokio::test]
async fn a_retried_branch_task_is_joined_on_its_successful_attempt() {
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "xj_task_4", "retryCount": 1, "retryDelaySeconds": 0}))
        .await;
    s.register_workflow(nested_decisions()).await;
    let id = s
        .start(
            "xj_nested",
            json!({"decision_1": "false", "decision_3": "null"}),
        )
        .await;
    complete_next(&s, &id, "xj_task_1").await;
    let first = s.poll_one("xj_task_4").await;
    s.fail(&first, "try again").await;
    let second = s.poll_one("xj_task_4").await;
    assert_ne!(first["taskId"], second["taskId"]);
    s.complete(&second, json!({"taskReferenceName": "task4", "attempt": 2}))
        .await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            ("xj_task_1", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("xj_task_4", "FAILED"),
            ("xj_task_4", "COMPLETED"),
            ("DECISION", "COMPLETED"),
            ("EXCLUSIVE_JOIN", "COMPLETED"),
        ],
    );
    let join = tasks_by_ref(&w, "exclusiveJoin")[0];
    assert_eq!(join["outputData"]["attempt"], 2);
}

#[tokio::test]
async fn after_a_switch_the_join_takes_the_case_that_ran() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "xj_switch", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "xj_switch", "taskReferenceName": "sw", "type": "SWITCH",
             "evaluatorType": "value-param", "expression": "which",
             "inputParameters": {"which": "${workflow.input.which}"},
             "decisionCases": {
                 "a": [worker("xj_a", "a", "workflow.input.which")],
                 "b": [worker("xj_b", "b", "workflow.input.which")]},
             "defaultCase": [worker("xj_c", "c", "workflow.input.which")]},
            {"name": "xj_join", "taskReferenceName": "xj", "type": "EXCLUSIVE_JOIN",
             "joinOn": ["a", "b"], "defaultExclusiveJoinTask": ["c"]}
        ],
        "outputParameters": {"from": "${xj.output.from}"}
    }))
    .await;
    for (which, task_type) in [("b", "xj_b"), ("zzz", "xj_c"), ("a", "xj_a")] {
        let id = s.start("xj_switch", json!({"which": which})).await;
        let t = s.poll_one(task_type).await;
        assert_eq!(t["workflowInstanceId"], id.as_str());
        s.complete(&t, json!({"from": task_type})).await;
        let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
        expect_shape(
            &w,
            &[
                ("SWITCH", "COMPLETED"),
                (task_type, "COMPLETED"),
                ("EXCLUSIVE_JOIN", "COMPLETED"),
            ],
        );
        assert_eq!(w["output"]["from"], task_type, "{w:#}");
    }
}

#[tokio::test]
async fn inside_a_loop_each_iteration_joins_its_own_branch() {
    let s = TestServer::spawn().await;
    s.register_workflow(json!({
        "name": "xj_loop", "version": 1, "schemaVersion": 2,
        "tasks": [{
            "name": "xj_loop", "taskReferenceName": "loop", "type": "DO_WHILE",
            "loopCondition": "if ($.loop['iteration'] < 2) { true; } else { false; }",
            "loopOver": [
                {"name": "xj_decide", "taskReferenceName": "pick", "type": "SWITCH",
                 "evaluatorType": "javascript",
                 "expression": "$.i == 1 ? 'odd' : 'even'",
                 "inputParameters": {"i": "${loop.output.iteration}"},
                 "decisionCases": {
                     "odd": [worker("xj_odd", "odd", "loop.output.iteration")],
                     "even": [worker("xj_even", "even", "loop.output.iteration")]}},
                {"name": "xj_join", "taskReferenceName": "lj", "type": "EXCLUSIVE_JOIN",
                 "joinOn": ["odd", "even"]}
            ]
        }]
    }))
    .await;
    let id = s.start("xj_loop", json!({})).await;
    let t = s.poll_one("xj_odd").await;
    s.complete(&t, json!({"seen": "odd"})).await;
    let t = s.poll_one("xj_even").await;
    s.complete(&t, json!({"seen": "even"})).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    let joins: Vec<&Value> = w["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["taskType"] == "EXCLUSIVE_JOIN")
        .collect();
    assert_eq!(joins.len(), 2, "{w:#}");
    assert_eq!(joins[0]["referenceTaskName"], "lj__1");
    assert_eq!(joins[0]["outputData"], json!({"seen": "odd"}));
    assert_eq!(joins[1]["referenceTaskName"], "lj__2");
    assert_eq!(joins[1]["outputData"], json!({"seen": "even"}));
}
