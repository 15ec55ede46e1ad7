//! The engine at scale (issue 10): very long loops and very wide dynamic forks complete
//! correctly, each update touching only what it changes. Driven through the public API with
//! a simulated worker and a simulated commit after every update, as the runtime does.

use baton_engine::{apply_result, decide, new_execution, ExecState, NewExecution};
use baton_model::{TaskResult, TaskResultStatus, TaskStatus, WorkflowDef, WorkflowStatus};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

fn start(def: Value, input: Value) -> ExecState {
    let def: WorkflowDef = serde_json::from_value(def).expect("definition");
    assert!(baton_engine::validate::validate_workflow_def(&def).is_empty());
    let mut st = new_execution(NewExecution {
        input: input.as_object().cloned().unwrap_or_default(),
        ..NewExecution::new("wf-scale", Arc::new(def), 1_700_000_000_000)
    });
    commit(&mut st, &mut Vec::new());
    st
}

/// What the runtime does after a commit: the records move out, nothing stays dirty.
/// Returns how many task rows the commit wrote.
fn commit(st: &mut ExecState, removed: &mut Vec<String>) -> usize {
    let written = st.dirty_tasks().count();
    st.history.clear();
    st.queue_push.clear();
    st.queue_remove.clear();
    st.effects.clear();
    st.wake.clear();
    removed.append(&mut st.removed_tasks);
    st.tasks.clear_dirty();
    written
}

/// Completes the scheduled worker task `id`, decides and commits; returns rows written.
fn complete(st: &mut ExecState, id: &str, removed: &mut Vec<String>) -> usize {
    st.now += 1;
    let mut r = TaskResult::new("wf-scale", id, TaskResultStatus::Completed);
    r.output_data = json!({"n": 1}).as_object().cloned();
    assert_eq!(apply_result(st, &r), baton_engine::UpdateOutcome::Applied);
    decide(st);
    commit(st, removed)
}

fn simple(reference: &str) -> Value {
    json!({"name": "work", "taskReferenceName": reference, "type": "SIMPLE"})
}

/// The scheduled worker tasks, newest first (a loop has one at a time).
fn scheduled(st: &ExecState) -> Option<String> {
    st.tasks
        .iter()
        .rev()
        .find(|t| t.status == TaskStatus::Scheduled && t.task_type == "work")
        .map(|t| t.task_id.clone())
}

fn run_loop(iterations: i32, keep_last_n: Option<i32>) -> (ExecState, Vec<String>) {
    let mut params = json!({});
    if let Some(n) = keep_last_n {
        params = json!({"keepLastN": n});
    }
    let mut st = start(
        json!({"name": "long_loop", "version": 1, "tasks": [
            {"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
             "inputParameters": params,
             "loopCondition": format!("$.loop['iteration'] < {iterations} && $.step.output.n == 1"),
             "loopOver": [simple("step")]},
            simple("after")]}),
        json!({}),
    );
    let mut removed = Vec::new();
    let started = Instant::now();
    let mut most_written = 0;
    for done in 0..iterations {
        let id = scheduled(&st).unwrap_or_else(|| panic!("no task after {done} iterations"));
        most_written = most_written.max(complete(&mut st, &id, &mut removed));
    }
    let after = scheduled(&st).expect("the task after the loop");
    complete(&mut st, &after, &mut removed);
    eprintln!(
        "DO_WHILE x{iterations} keepLastN={keep_last_n:?}: {:?}, at most {most_written} rows per commit",
        started.elapsed()
    );
    // Each update writes the body task, the loop task and the next attempt: no more.
    assert!(most_written <= 4, "{most_written} rows in one commit");
    (st, removed)
}

#[test]
fn do_while_of_10000_iterations_completes() {
    let (st, removed) = run_loop(10_000, None);
    assert_eq!(st.workflow.status, WorkflowStatus::Completed);
    assert!(removed.is_empty());
    let lp = &st.tasks[st.latest_by_ref("loop").expect("loop task")];
    assert_eq!(lp.status, TaskStatus::Completed);
    assert_eq!(lp.output_data["iteration"], json!(10_000));
    // Without keepLastN every iteration stays, in the output and as tasks.
    assert_eq!(lp.output_data.len(), 10_001);
    assert_eq!(lp.output_data["1"]["step"]["n"], json!(1));
    assert!(st.latest_by_ref("step__1").is_some());
    assert!(st.latest_by_ref("step__10000").is_some());
}

#[test]
fn do_while_of_10000_iterations_with_keep_last_n_keeps_only_those() {
    let (st, removed) = run_loop(10_000, Some(3));
    assert_eq!(st.workflow.status, WorkflowStatus::Completed);
    let lp = &st.tasks[st.latest_by_ref("loop").expect("loop task")];
    assert_eq!(lp.output_data["iteration"], json!(10_000));
    let kept: Vec<&str> = lp.output_data.keys().map(String::as_str).collect();
    assert_eq!(kept.len(), 4, "{kept:?}");
    for k in ["9998", "9999", "10000", "iteration"] {
        assert!(kept.contains(&k), "{k} missing from {kept:?}");
    }
    // The body tasks of every earlier iteration were removed from the workflow.
    assert_eq!(removed.len(), 10_000 - 3);
    assert!(st.latest_by_ref("step__9997").is_none());
    assert!(st.latest_by_ref("step__9998").is_some());
    assert_eq!(st.tasks.len(), 3 + 2); // kept body tasks, the loop, the task after it
}

#[test]
fn fork_join_dynamic_of_10000_branches_completes() {
    let branches = 10_000;
    let forked: Vec<Value> = (0..branches).map(|i| simple(&format!("d{i}"))).collect();
    let inputs: serde_json::Map<String, Value> = (0..branches)
        .map(|i| (format!("d{i}"), json!({"i": i})))
        .collect();
    let started = Instant::now();
    let mut st = start(
        json!({"name": "wide", "version": 1, "tasks": [
            {"name": "dyn", "taskReferenceName": "dyn", "type": "FORK_JOIN_DYNAMIC",
             "dynamicForkTasksParam": "dynamicTasks",
             "dynamicForkTasksInputParamName": "dynamicTasksInput",
             "inputParameters": {"dynamicTasks": "${workflow.input.tasks}",
                                 "dynamicTasksInput": "${workflow.input.inputs}"}},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN"},
            simple("after")]}),
        json!({"tasks": forked, "inputs": inputs}),
    );
    let scheduled_at_start = st.tasks.len();
    eprintln!(
        "FORK_JOIN_DYNAMIC x{branches}: started in {:?}",
        started.elapsed()
    );
    let ids: Vec<String> = st
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Scheduled)
        .map(|t| t.task_id.clone())
        .collect();
    assert_eq!(ids.len(), branches);
    assert_eq!(scheduled_at_start, branches + 2); // the FORK, the branches, the JOIN
    let mut removed = Vec::new();
    let mut most_written = 0;
    // Complete out of order: evens first, then odds.
    for id in ids.iter().step_by(2).chain(ids.iter().skip(1).step_by(2)) {
        most_written = most_written.max(complete(&mut st, id, &mut removed));
    }
    let join = &st.tasks[st.latest_by_ref("join").expect("join")];
    assert_eq!(join.status, TaskStatus::Completed);
    assert_eq!(join.output_data.len(), branches);
    let d7 = &st.tasks[st.latest_by_ref("d7").expect("d7")];
    assert_eq!(d7.input_data["i"], json!(7));
    let after = scheduled(&st).expect("the task after the join");
    complete(&mut st, &after, &mut removed);
    assert_eq!(st.workflow.status, WorkflowStatus::Completed);
    eprintln!(
        "FORK_JOIN_DYNAMIC x{branches}: completed in {:?}, at most {most_written} rows per commit",
        started.elapsed()
    );
    assert!(most_written <= 3, "{most_written} rows in one commit");
}
