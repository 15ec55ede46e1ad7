//! Changes that come from outside a decision: a worker's or an API caller's result for a
//! task attempt, and a poll's claim taken into a state being decided.

use super::*;

/// Applies a worker's (or an API caller's) result to one task attempt (§4.2, update steps).
pub fn apply_result(st: &mut ExecState, r: &TaskResult) -> UpdateOutcome {
    let Some(i) = st.find_task(&r.task_id) else {
        return UpdateOutcome::NotFound;
    };
    let now = st.now;
    if r.extend_lease {
        if !st.tasks[i].status.is_terminal() {
            st.task_mut(i).update_time = now;
            st.mark_dirty(i);
            return UpdateOutcome::Applied;
        }
        return UpdateOutcome::Stale(format!(
            "task {} is already {}",
            r.task_id,
            st.tasks[i].status.as_str()
        ));
    }
    if st.tasks[i].status.is_terminal() {
        return UpdateOutcome::Stale(format!(
            "task {} is already {}",
            r.task_id,
            st.tasks[i].status.as_str()
        ));
    }
    if st.workflow.status.is_terminal() {
        return UpdateOutcome::Stale(format!(
            "workflow {} is already {}",
            st.workflow.workflow_id,
            st.workflow.status.as_str()
        ));
    }
    let output_bytes = r.output_data.as_ref().map_or(0, json_size);
    let max_output = st.limits.max_task_output_bytes;
    if output_bytes > max_output {
        // Conductor's rule for an oversized result: the task fails for good, output dropped.
        let t = st.task_mut(i);
        t.output_data = JsonMap::new();
        t.reason_for_incompletion = Some(format!(
            "the task's output is {output_bytes} bytes, more than the limit of {max_output} \
             (--max-task-output-bytes)"
        ));
        t.update_time = now;
        st.mark_dirty(i);
        st.set_status(i, TaskStatus::FailedWithTerminalError);
        return UpdateOutcome::Applied;
    }
    {
        let t = st.task_mut(i);
        if let Some(out) = &r.output_data {
            t.output_data = out.clone();
        }
        if let Some(reason) = &r.reason_for_incompletion {
            t.reason_for_incompletion = Some(truncate(reason));
        }
        if r.worker_id.is_some() {
            t.worker_id = r.worker_id.clone();
        }
        if r.sub_workflow_id.is_some() {
            t.sub_workflow_id = r.sub_workflow_id.clone();
        }
        if r.external_output_payload_storage_path.is_some() {
            t.external_output_payload_storage_path = r.external_output_payload_storage_path.clone();
        }
        if execution_metadata_has_data(&r.execution_metadata) {
            t.execution_metadata = r.execution_metadata.clone();
        }
        t.update_time = now;
    }
    st.mark_dirty(i);
    match r.status {
        TaskResultStatus::InProgress => {
            let cas = r.callback_after_seconds.max(0);
            st.task_mut(i).callback_after_seconds = cas;
            if sys::is_system(&st.tasks[i].task_type) {
                // WAIT/HUMAN and friends stay IN_PROGRESS; only their output changes.
                st.set_status(i, TaskStatus::InProgress);
            } else {
                // A worker reporting progress gives the task back to the queue, to be handed
                // out again after callbackAfterSeconds (Conductor's semantics).
                st.set_status(i, TaskStatus::Scheduled);
                st.enqueue(i, after_secs(now, cas));
            }
        }
        other => st.set_status(i, TaskStatus::from(other)),
    }
    UpdateOutcome::Applied
}

/// Conductor's `ExecutionMetadata.hasData`: a timing field or some additional context. An
/// SDK serialising an empty one still sends `{"empty": true, "additionalContext": {}, …}`,
/// which must not replace what the task has.
fn execution_metadata_has_data(m: &JsonMap) -> bool {
    const TIMINGS: [&str; 7] = [
        "serverSendTime",
        "clientReceiveTime",
        "executionStartTime",
        "executionEndTime",
        "clientSendTime",
        "pollNetworkLatency",
        "updateNetworkLatency",
    ];
    let context = |k: &str| {
        m.get(k)
            .and_then(|v| v.as_object())
            .is_some_and(|o| !o.is_empty())
    };
    TIMINGS
        .iter()
        .any(|k| m.get(*k).is_some_and(|v| !v.is_null()))
        || context("additionalContext")
        || context("additionalContextMap")
}

/// The size of a JSON object as compact JSON text, counted without building the text.
fn json_size(map: &JsonMap) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Map of Values to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, map);
    count.0
}

/// Takes in a poll's claim of a task (the store's copy, IN_PROGRESS) that happened while
/// this state was being decided, so the commit need not conflict and re-read the workflow.
/// Refused (false) when the decision changed or removed that task: the caller then lets the
/// commit conflict. The task's response timeout joins the wake-up time, as the claim did
/// in the store.
pub fn absorb_claim(st: &mut ExecState, task: Task) -> bool {
    let Some(i) = st.find_task(&task.task_id) else {
        return false;
    };
    if st.is_dirty(i) || st.tasks.is_removed(i) {
        return false;
    }
    st.tasks.refresh(i, task);
    if !st.workflow.status.is_terminal() {
        let t = &st.tasks[i];
        if let Some(due) = worker_due(st, t, &st.task_def_of(t)) {
            st.wake_at(due);
        }
    }
    true
}
