//! Timeout and wake-up arithmetic on a synthetic clock: each decision must leave the workflow
//! due exactly when its earliest timeout can change it, and a timeout must fire at that time
//! and not a millisecond before.

use baton_engine::claim::claim;
use baton_engine::{apply_result, decide, new_execution, ExecState, NewExecution, UpdateOutcome};
use baton_model::claim::ClaimTerms;
use baton_model::{TaskResult, TaskResultStatus, TaskStatus, WorkflowDef, WorkflowStatus};
use serde_json::{json, Value};
use std::sync::Arc;

const T0: i64 = 1_700_000_000_000;
const S: i64 = 1000;

fn start(task_def: Value, wf_extra: Value) -> ExecState {
    let mut def = json!({
        "name": "wake_wf", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "a", "taskReferenceName": "a", "type": "SIMPLE",
                   "taskDefinition": task_def}],
    });
    if let (Some(d), Some(extra)) = (def.as_object_mut(), wf_extra.as_object()) {
        d.extend(extra.clone());
    }
    let def: WorkflowDef = serde_json::from_value(def).expect("definition");
    new_execution(NewExecution::new("wf-w", Arc::new(def), T0))
}

/// Claims the live attempt at the state's `now` by the engine's claim rules, as a poll does.
fn poll(st: &mut ExecState) -> String {
    let i = st
        .tasks
        .iter()
        .position(|t| !t.retried && t.status == TaskStatus::Scheduled)
        .expect("a scheduled attempt");
    let now = st.now;
    let lease = claim(
        st.task_mut(i),
        &ClaimTerms {
            worker_id: Some("w"),
            now,
        },
    );
    assert!(lease.is_some());
    decide(st);
    st.tasks[i].task_id.clone()
}

fn at(st: &mut ExecState, t: i64) {
    st.now = T0 + t;
    decide(st);
}

fn status(st: &ExecState, id: &str) -> TaskStatus {
    st.tasks[st.find_task(id).expect("task")].status
}

#[test]
fn the_response_timeout_fires_at_its_deadline_and_a_heartbeat_moves_it() {
    let mut st = start(
        json!({"name": "a", "responseTimeoutSeconds": 10, "retryCount": 1, "retryDelaySeconds": 0}),
        json!({}),
    );
    st.now = T0 + 2 * S;
    let id = poll(&mut st);
    assert_eq!(
        st.next_wake_at,
        Some(T0 + 12 * S),
        "claim + responseTimeout"
    );

    // a heartbeat at 7 s moves the deadline to 17 s
    st.now = T0 + 7 * S;
    let mut hb = TaskResult::new("wf-w", &id, TaskResultStatus::InProgress);
    hb.extend_lease = true;
    assert_eq!(apply_result(&mut st, &hb), UpdateOutcome::Applied);
    decide(&mut st);
    assert_eq!(st.next_wake_at, Some(T0 + 17 * S));

    at(&mut st, 17 * S - 1);
    assert_eq!(
        status(&st, &id),
        TaskStatus::InProgress,
        "not a millisecond early"
    );
    at(&mut st, 17 * S);
    assert_eq!(status(&st, &id), TaskStatus::TimedOut);
    assert_eq!(st.workflow.status, WorkflowStatus::Running, "retried");
}

#[test]
fn callback_after_seconds_extends_the_response_deadline() {
    let mut st = start(
        json!({"name": "a", "responseTimeoutSeconds": 10, "retryCount": 0}),
        json!({}),
    );
    let id = poll(&mut st);
    st.now = T0 + S;
    let mut r = TaskResult::new("wf-w", &id, TaskResultStatus::InProgress);
    r.callback_after_seconds = 30;
    apply_result(&mut st, &r);
    decide(&mut st);
    // back in the queue until 31 s; not polled again, the poll timeout does not apply
    at(&mut st, 40 * S);
    assert_eq!(status(&st, &id), TaskStatus::Scheduled);
    st.now = T0 + 40 * S;
    poll(&mut st);
    assert_eq!(st.next_wake_at, Some(T0 + 50 * S));
}

#[test]
fn the_poll_timeout_counts_from_scheduling() {
    let mut st = start(
        json!({"name": "a", "pollTimeoutSeconds": 5, "timeoutPolicy": "TIME_OUT_WF", "retryCount": 0}),
        json!({}),
    );
    assert_eq!(st.next_wake_at, Some(T0 + 5 * S));
    at(&mut st, 5 * S - 1);
    assert_eq!(st.workflow.status, WorkflowStatus::Running);
    at(&mut st, 5 * S);
    assert_eq!(st.workflow.status, WorkflowStatus::TimedOut);
}

#[test]
fn the_task_timeout_counts_from_the_first_start_and_ignores_heartbeats() {
    let mut st = start(
        json!({"name": "a", "timeoutSeconds": 20, "responseTimeoutSeconds": 20,
               "timeoutPolicy": "TIME_OUT_WF", "retryCount": 0}),
        json!({}),
    );
    st.now = T0 + 3 * S;
    let id = poll(&mut st);
    st.now = T0 + 15 * S;
    let mut hb = TaskResult::new("wf-w", &id, TaskResultStatus::InProgress);
    hb.extend_lease = true;
    apply_result(&mut st, &hb);
    decide(&mut st);
    assert_eq!(st.next_wake_at, Some(T0 + 23 * S), "start + timeoutSeconds");
    at(&mut st, 23 * S - 1);
    assert_eq!(st.workflow.status, WorkflowStatus::Running);
    at(&mut st, 23 * S);
    assert_eq!(st.workflow.status, WorkflowStatus::TimedOut);
}

#[test]
fn workflow_timeouts_wake_the_workflow_and_only_time_out_wf_ends_it() {
    let mut ends = start(
        json!({"name": "a"}),
        json!({"timeoutSeconds": 60, "timeoutPolicy": "TIME_OUT_WF"}),
    );
    assert_eq!(ends.next_wake_at, Some(T0 + 60 * S));
    at(&mut ends, 60 * S - 1);
    assert_eq!(ends.workflow.status, WorkflowStatus::Running);
    at(&mut ends, 60 * S);
    assert_eq!(ends.workflow.status, WorkflowStatus::TimedOut);

    let mut alerts = start(json!({"name": "a"}), json!({"timeoutSeconds": 60}));
    assert_eq!(
        alerts.next_wake_at,
        Some(T0 + 60 * S),
        "ALERT_ONLY is decided at its timeout"
    );
    at(&mut alerts, 60 * S);
    assert_eq!(alerts.workflow.status, WorkflowStatus::Running);
    assert_eq!(alerts.next_wake_at, None, "and only once");
}
