//! Huge durations (Java's `Long.MAX_VALUE` for "never") must behave as "far in the future",
//! never overflow into "due now", on a synthetic clock.

use baton_engine::{apply_result, decide, new_execution, ExecState, NewExecution, UpdateOutcome};
const MAX_DURATION_MS: i64 = 315_360_000_000;
use baton_model::{TaskResult, TaskResultStatus, TaskStatus, WorkflowDef, WorkflowStatus};
use serde_json::{json, Value};
use std::sync::Arc;

const T0: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 86_400_000;
const YEAR_MS: i64 = 365 * DAY_MS;

fn start(def: Value) -> ExecState {
    let def: WorkflowDef = serde_json::from_value(def).expect("definition");
    assert!(
        baton_engine::validate::validate_workflow_def(&def).is_empty(),
        "the definition is valid"
    );
    new_execution(NewExecution::new("wf-d", Arc::new(def), T0))
}

fn one_task(task_def: Value, wf_extra: Value) -> Value {
    let mut def = json!({
        "name": "dur_wf", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "a", "taskReferenceName": "a", "type": "SIMPLE",
                   "taskDefinition": task_def}],
    });
    if let (Some(d), Some(extra)) = (def.as_object_mut(), wf_extra.as_object()) {
        d.extend(extra.clone());
    }
    def
}

/// Marks the live attempt as handed to a worker at `now`, as a poll does.
fn claim(st: &mut ExecState) -> String {
    let now = st.now;
    let i = st
        .tasks
        .iter()
        .position(|t| !t.retried && t.status == TaskStatus::Scheduled)
        .expect("a scheduled attempt");
    let t = st.task_mut(i);
    t.status = TaskStatus::InProgress;
    t.start_time = now;
    t.update_time = now;
    t.poll_count += 1;
    t.task_id.clone()
}

fn visible_at(st: &ExecState, task_id: &str) -> i64 {
    st.queue_push
        .iter()
        .rev()
        .find(|q| q.task_id == task_id)
        .map(|q| q.visible_at)
        .expect("a queue entry for the task")
}

#[test]
fn callback_after_max_is_not_due_now_nor_soon() {
    let mut st = start(one_task(
        json!({"name": "a", "responseTimeoutSeconds": 60}),
        json!({}),
    ));
    let id = claim(&mut st);
    st.queue_push.clear();
    let mut r = TaskResult::new("wf-d", &id, TaskResultStatus::InProgress);
    r.callback_after_seconds = i64::MAX;
    assert_eq!(apply_result(&mut st, &r), UpdateOutcome::Applied);
    decide(&mut st);

    let at = visible_at(&st, &id);
    assert!(at > T0 + 365 * DAY_MS, "visible at {at}, now {T0}");
    assert!(at <= T0 + MAX_DURATION_MS, "saturates at the maximum");

    // A year later it is still waiting, not timed out and not failed.
    st.now = T0 + YEAR_MS;
    decide(&mut st);
    let t = &st.tasks[st.find_task(&id).expect("task")];
    assert_eq!(t.status, TaskStatus::Scheduled);
    assert_eq!(st.workflow.status, WorkflowStatus::Running);
}

#[test]
fn workflow_and_task_timeouts_of_max_never_fire() {
    let mut st = start(one_task(
        json!({"name": "a", "timeoutSeconds": i64::MAX, "responseTimeoutSeconds": i64::MAX,
               "pollTimeoutSeconds": i32::MAX, "timeoutPolicy": "TIME_OUT_WF"}),
        json!({"timeoutSeconds": i64::MAX, "timeoutPolicy": "TIME_OUT_WF"}),
    ));
    assert_eq!(st.workflow.status, WorkflowStatus::Running);
    let wake = st
        .next_wake_at
        .expect("the workflow timeout sets a wake-up");
    assert!(wake > T0 + YEAR_MS, "wake {wake}");

    let id = claim(&mut st);
    for later in [1, DAY_MS, YEAR_MS, 5 * YEAR_MS] {
        st.now = T0 + later;
        decide(&mut st);
        assert_eq!(
            st.workflow.status,
            WorkflowStatus::Running,
            "after {later} ms"
        );
        let t = &st.tasks[st.find_task(&id).expect("task")];
        assert_eq!(t.status, TaskStatus::InProgress, "after {later} ms");
        assert!(st.next_wake_at.is_none_or(|w| w > st.now));
    }
}

#[test]
fn exponential_backoff_with_huge_delay_does_not_overflow() {
    let mut st = start(one_task(
        json!({"name": "a", "retryCount": 40, "retryLogic": "EXPONENTIAL_BACKOFF",
               "retryDelaySeconds": i32::MAX, "backoffJitterMs": i32::MAX,
               "totalTimeoutSeconds": i64::MAX, "responseTimeoutSeconds": 60}),
        json!({}),
    ));
    for attempt in 0..40 {
        let id = claim(&mut st);
        st.queue_push.clear();
        let r = TaskResult::new("wf-d", &id, TaskResultStatus::Failed);
        assert_eq!(apply_result(&mut st, &r), UpdateOutcome::Applied);
        decide(&mut st);
        assert_eq!(
            st.workflow.status,
            WorkflowStatus::Running,
            "attempt {attempt}"
        );
        let next = st
            .tasks
            .iter()
            .find(|t| !t.retried && t.status == TaskStatus::Scheduled)
            .expect("a retry")
            .clone();
        assert_eq!(next.retry_count, attempt + 1);
        assert!(
            next.start_delay_in_seconds >= 0,
            "{}",
            next.start_delay_in_seconds
        );
        assert!(next.callback_after_seconds >= 0);
        let at = visible_at(&st, &next.task_id);
        assert!(at > st.now + DAY_MS, "attempt {attempt}: visible at {at}");
        // Fail the retry as if its delay had passed (a worker may poll it early in tests).
        st.now += 1000;
    }
}

#[test]
fn huge_wait_duration_waits() {
    let mut st = start(json!({
        "name": "wait_wf", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "w", "taskReferenceName": "w", "type": "WAIT",
                   "inputParameters": {"duration": "9223372036854775807 days"}}],
    }));
    st.now = T0 + 5 * YEAR_MS;
    decide(&mut st);
    assert_eq!(st.workflow.status, WorkflowStatus::Running);
    assert_eq!(st.tasks[0].status, TaskStatus::InProgress);
    let wake = st.next_wake_at.expect("the WAIT sets a wake-up");
    assert!(wake > st.now && wake <= T0 + MAX_DURATION_MS, "wake {wake}");
}
