//! The cases of Conductor's `SwitchTaskSpec` and `DecisionTaskSpec`, with the same
//! expectations, written for Baton with its own definitions. The two specs are the same
//! scenarios over the two operators (SWITCH with a `value-param` evaluator, the legacy DECISION
//! with `caseValueParam`), so each case runs for both:
//!
//! - a switch whose case leads to two tasks, then a task after the switch;
//! - a switch at the head of a fork branch, the JOIN waiting for the task after it;
//! - the default case taken, then a second switch on a missing input (its case is `"null"`,
//!   which has no branch: the workflow completes);
//! - a switch nested in a case ("nested" then "one" or "two");
//! - the "three" case, then the second switch taking its "notify" case.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

#[derive(Clone, Copy)]
enum Kind {
    Switch,
    Decision,
}

impl Kind {
    fn task_type(self) -> &'static str {
        match self {
            Kind::Switch => "SWITCH",
            Kind::Decision => "DECISION",
        }
    }

    /// The output key holding the case taken.
    fn output_key(self) -> &'static str {
        match self {
            Kind::Switch => "evaluationResult",
            Kind::Decision => "caseOutput",
        }
    }

    /// A switch on `value` (an input expression) with the given cases and default.
    fn node(self, reference: &str, value: &str, cases: Value, default: Value) -> Value {
        let mut node = json!({
            "name": reference,
            "taskReferenceName": reference,
            "type": self.task_type(),
            "inputParameters": {"selector": value},
            "decisionCases": cases,
            "defaultCase": default,
        });
        match self {
            Kind::Switch => {
                node["evaluatorType"] = json!("value-param");
                node["expression"] = json!("selector");
            }
            Kind::Decision => node["caseValueParam"] = json!("selector"),
        }
        node
    }
}

fn worker(name: &str) -> Value {
    json!({"name": name, "taskReferenceName": name, "type": "SIMPLE"})
}

/// `sw_cases` → [`sw_a`, `sw_b`] on case "c", then `sw_after`.
fn simple(kind: Kind) -> Value {
    json!({"name": "sw_simple", "version": 1, "tasks": [
        kind.node("sw_cases", "${workflow.input.case}",
                  json!({"c": [worker("sw_a"), worker("sw_b")]}), json!([worker("sw_other")])),
        worker("sw_after"),
    ]})
}

/// fork [[switch (c → sw_a, sw_b), sw_after], [sw_side]], join on sw_after and sw_side.
fn in_a_fork(kind: Kind) -> Value {
    json!({"name": "sw_fork", "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": [
            [kind.node("sw_cases", "${workflow.input.case}",
                       json!({"c": [worker("sw_a"), worker("sw_b")]}), json!([])),
             worker("sw_after")],
            [worker("sw_side")],
        ]},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN",
         "joinOn": ["sw_after", "sw_side"]},
    ]})
}

/// `outer` on p1: "nested" → `inner` on p2 ("one" → sw_one, "two" → sw_two), "three" →
/// sw_three, default sw_default; then `final` on finalCase: "notify" → sw_notify.
fn conditional(kind: Kind) -> Value {
    let inner = kind.node(
        "inner",
        "${workflow.input.p2}",
        json!({"one": [worker("sw_one")], "two": [worker("sw_two")]}),
        json!([]),
    );
    json!({"name": "sw_conditional", "version": 1, "tasks": [
        kind.node("outer", "${workflow.input.p1}",
                  json!({"nested": [inner], "three": [worker("sw_three")]}),
                  json!([worker("sw_default")])),
        kind.node("final", "${workflow.input.finalCase}",
                  json!({"notify": [worker("sw_notify")]}), json!([])),
    ]})
}

async fn setup(def: Value, input: Value) -> (TestServer, String) {
    let s = TestServer::spawn().await;
    let name = def["name"].as_str().unwrap().to_string();
    s.register_workflow(def).await;
    let id = s.start(&name, input).await;
    (s, id)
}

async fn work(s: &TestServer, id: &str, task_type: &str) {
    let t = s.poll_one(task_type).await;
    assert_eq!(t["workflowInstanceId"], id, "{t:#}");
    s.complete(&t, json!({})).await;
}

fn case_taken(kind: Kind, w: &Value, index: usize) -> Value {
    let t = &w["tasks"][index];
    assert_eq!(t["taskType"], kind.task_type(), "{w:#}");
    t["outputData"][kind.output_key()].clone()
}

async fn simple_switch(kind: Kind) {
    let (s, id) = setup(simple(kind), json!({"p1": "p1", "case": "c"})).await;
    let sw = kind.task_type();
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[(sw, "COMPLETED"), ("sw_a", "SCHEDULED")]);
    assert_eq!(case_taken(kind, &w, 0), json!(["c"]));

    work(&s, &id, "sw_a").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            (sw, "COMPLETED"),
            ("sw_a", "COMPLETED"),
            ("sw_b", "SCHEDULED"),
        ],
    );
    work(&s, &id, "sw_b").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            (sw, "COMPLETED"),
            ("sw_a", "COMPLETED"),
            ("sw_b", "COMPLETED"),
            ("sw_after", "SCHEDULED"),
        ],
    );
    work(&s, &id, "sw_after").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(shape(&w).len(), 4, "{w:#}");
    assert_eq!(w["tasks"][3]["status"], "COMPLETED");
}

async fn switch_leading_a_fork_branch(kind: Kind) {
    let (s, id) = setup(in_a_fork(kind), json!({"case": "c"})).await;
    let sw = kind.task_type();
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            (sw, "COMPLETED"),
            ("sw_a", "SCHEDULED"),
            ("sw_side", "SCHEDULED"),
            ("JOIN", "IN_PROGRESS"),
        ],
    );
    work(&s, &id, "sw_a").await;
    work(&s, &id, "sw_side").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            ("FORK", "COMPLETED"),
            (sw, "COMPLETED"),
            ("sw_a", "COMPLETED"),
            ("sw_side", "COMPLETED"),
            ("JOIN", "IN_PROGRESS"),
            ("sw_b", "SCHEDULED"),
        ],
    );
    assert_eq!(
        w["tasks"][4]["inputData"]["joinOn"],
        json!(["sw_after", "sw_side"])
    );
    work(&s, &id, "sw_b").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    assert_eq!(w["tasks"][4]["status"], "IN_PROGRESS", "{w:#}");
    assert_eq!(w["tasks"][5]["status"], "COMPLETED", "{w:#}");
    assert_eq!(w["tasks"][6]["taskType"], "sw_after", "{w:#}");
    assert_eq!(w["tasks"][6]["status"], "SCHEDULED", "{w:#}");
    work(&s, &id, "sw_after").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(shape(&w).len(), 7, "{w:#}");
    assert_eq!(w["tasks"][4]["taskType"], "JOIN");
    assert_eq!(w["tasks"][4]["status"], "COMPLETED");
    assert_eq!(w["tasks"][6]["status"], "COMPLETED");
}

async fn default_case(kind: Kind) {
    let (s, id) = setup(conditional(kind), json!({"p1": "xxx", "p2": "two"})).await;
    let sw = kind.task_type();
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[(sw, "COMPLETED"), ("sw_default", "SCHEDULED")]);
    assert_eq!(case_taken(kind, &w, 0), json!(["xxx"]));

    work(&s, &id, "sw_default").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            (sw, "COMPLETED"),
            ("sw_default", "COMPLETED"),
            (sw, "COMPLETED"),
        ],
    );
    // `finalCase` is missing: the second switch's case is "null", which has no branch.
    assert_eq!(case_taken(kind, &w, 2), json!(["null"]));
}

async fn nested(kind: Kind, case: &str, expected_task: &str) {
    let (s, id) = setup(conditional(kind), json!({"p1": "nested", "p2": case})).await;
    let sw = kind.task_type();
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            (sw, "COMPLETED"),
            (sw, "COMPLETED"),
            (expected_task, "SCHEDULED"),
        ],
    );
    assert_eq!(case_taken(kind, &w, 0), json!(["nested"]));
    assert_eq!(case_taken(kind, &w, 1), json!([case]));

    work(&s, &id, expected_task).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            (sw, "COMPLETED"),
            (sw, "COMPLETED"),
            (expected_task, "COMPLETED"),
            (sw, "COMPLETED"),
        ],
    );
    assert_eq!(case_taken(kind, &w, 3), json!(["null"]));
}

async fn three_then_notify(kind: Kind) {
    let input = json!({"p1": "three", "p2": "two", "finalCase": "notify"});
    let (s, id) = setup(conditional(kind), input).await;
    let sw = kind.task_type();
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(&w, &[(sw, "COMPLETED"), ("sw_three", "SCHEDULED")]);
    assert_eq!(case_taken(kind, &w, 0), json!(["three"]));

    work(&s, &id, "sw_three").await;
    let w = s.workflow(&id).await;
    assert_eq!(w["status"], "RUNNING");
    expect_shape(
        &w,
        &[
            (sw, "COMPLETED"),
            ("sw_three", "COMPLETED"),
            (sw, "COMPLETED"),
            ("sw_notify", "SCHEDULED"),
        ],
    );
    assert_eq!(case_taken(kind, &w, 2), json!(["notify"]));

    work(&s, &id, "sw_notify").await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    expect_shape(
        &w,
        &[
            (sw, "COMPLETED"),
            ("sw_three", "COMPLETED"),
            (sw, "COMPLETED"),
            ("sw_notify", "COMPLETED"),
        ],
    );
}

#[tokio::test]
async fn switch_case_runs_its_tasks_then_the_next_task() {
    simple_switch(Kind::Switch).await;
}

#[tokio::test]
async fn decision_case_runs_its_tasks_then_the_next_task() {
    simple_switch(Kind::Decision).await;
}

#[tokio::test]
async fn switch_at_the_head_of_a_fork_branch_holds_the_join() {
    switch_leading_a_fork_branch(Kind::Switch).await;
}

#[tokio::test]
async fn decision_at_the_head_of_a_fork_branch_holds_the_join() {
    switch_leading_a_fork_branch(Kind::Decision).await;
}

#[tokio::test]
async fn switch_default_case_then_a_missing_value_is_the_null_case() {
    default_case(Kind::Switch).await;
}

#[tokio::test]
async fn decision_default_case_then_a_missing_value_is_the_null_case() {
    default_case(Kind::Decision).await;
}

#[tokio::test]
async fn switch_nested_in_a_case_takes_its_own_case() {
    nested(Kind::Switch, "two", "sw_two").await;
    nested(Kind::Switch, "one", "sw_one").await;
}

#[tokio::test]
async fn decision_nested_in_a_case_takes_its_own_case() {
    nested(Kind::Decision, "two", "sw_two").await;
    nested(Kind::Decision, "one", "sw_one").await;
}

#[tokio::test]
async fn switch_case_then_a_second_switch_takes_its_case() {
    three_then_notify(Kind::Switch).await;
}

#[tokio::test]
async fn decision_case_then_a_second_decision_takes_its_case() {
    three_then_notify(Kind::Decision).await;
}
