//! JOIN and EXCLUSIVE_JOIN: waiting for the branches of a fork.

use super::*;

/// Evaluates the operators that wait on others. Returns true if the task changed.
pub(super) fn evaluate_waiting(st: &mut ExecState, i: usize) -> bool {
    match st.tasks[i].task_type.as_str() {
        sys::JOIN => evaluate_join(st, i),
        sys::EXCLUSIVE_JOIN => evaluate_exclusive_join(st, i),
        sys::DO_WHILE | sys::WHILE => evaluate_loop(st, i),
        sys::WAIT => evaluate_wait(st, i),
        _ => false,
    }
}

/// A JOIN completes when the latest attempt of every `joinOn` task succeeded. Branches are
/// checked in order from the first one not yet known to have succeeded, and the check stops
/// at the first still running, so each evaluation costs O(1) amortised, not O(|joinOn|).
/// A failed permissive branch task (settled, no retry following) makes the JOIN wait for
/// the others and then fail with their reasons, as Conductor's JOIN does.
///
/// As Conductor 3.32's `Join.java`: the JOIN ends COMPLETED_WITH_ERRORS only when an
/// `optional` branch task ended COMPLETED_WITH_ERRORS (a non-optional one that did, such as
/// a nested JOIN, counts as a success); a failing JOIN takes the outputs of the `joinOn`
/// tasks in order up to and including the first failed one, and no further.
pub(super) fn evaluate_join(st: &mut ExecState, i: usize) -> bool {
    let join = &st.tasks[i];
    let iteration = join.iteration;
    // The refs are fixed when the JOIN is scheduled (a dynamic fork decides them then).
    let from_node: Vec<Value>;
    let join_on: &[Value] = match join.input_data.get("joinOn").and_then(Value::as_array) {
        Some(list) => list,
        None => {
            from_node = st
                .node_of(join)
                .map(|n| n.join_on.iter().map(|r| json!(r)).collect())
                .unwrap_or_default();
            &from_node
        }
    };
    let mut done = st.tasks.join_progress(i);
    let mut finished = true;
    // Failed permissive branch tasks seen so far; the progress mark stays before the first.
    let mut failed: Vec<usize> = Vec::new();
    for r in join_on.iter().skip(done) {
        let Some(r) = r.as_str() else {
            done += usize::from(failed.is_empty());
            continue;
        };
        let reference = loop_ref(base_ref(r), iteration);
        let latest = st.latest_by_ref(&reference);
        match latest.map(|idx| &st.tasks[idx]) {
            Some(t) if t.status.is_terminal() && t.status.is_successful() => {
                done += usize::from(failed.is_empty());
            }
            Some(t) if settled_failure(t) => failed.extend(latest),
            _ => {
                // Missing, running, or failed and not yet handled (a retry may follow).
                finished = false;
                break;
            }
        }
    }
    if !finished {
        st.tasks.set_join_progress(i, done);
        return false;
    }
    let mut output = JsonMap::new();
    // Conductor names each optional branch task that failed ("name/id ") in the reason of
    // a JOIN it completes with errors.
    let mut optional_failures = String::new();
    let first_failed = failed.first().copied();
    for r in join_on.iter().filter_map(Value::as_str) {
        let r = base_ref(r);
        let Some(idx) = st.latest_by_ref(&loop_ref(r, iteration)) else {
            continue;
        };
        let t = &st.tasks[idx];
        if t.status == TaskStatus::CompletedWithErrors && st.node_of(t).is_some_and(|n| n.optional)
        {
            optional_failures.push_str(&format!("{}/{} ", t.task_def_name, t.task_id));
        }
        // As Conductor: a branch that output nothing adds no key.
        if !t.output_data.is_empty() {
            output.insert(r.to_string(), Value::Object(t.output_data.clone()));
        }
        if Some(idx) == first_failed {
            // Conductor's JOIN stops at the first failed branch: later ones add nothing.
            break;
        }
    }
    st.task_mut(i).output_data = output;
    if !failed.is_empty() {
        // Conductor joins every failed branch's reason with a space, writing Java's `null`
        // for a branch that failed without one.
        let reasons: Vec<&str> = failed
            .iter()
            .map(|&idx| java_text(st.tasks[idx].reason_for_incompletion.as_deref()))
            .collect();
        let reason = truncate(&reasons.join(" "));
        st.task_mut(i).reason_for_incompletion = Some(reason);
        st.set_status(i, TaskStatus::Failed);
        return true;
    }
    if optional_failures.is_empty() {
        st.set_status(i, TaskStatus::Completed);
    } else {
        optional_failures.push_str("completed with errors");
        st.task_mut(i).reason_for_incompletion = Some(truncate(&optional_failures));
        st.set_status(i, TaskStatus::CompletedWithErrors);
    }
    true
}

/// An EXCLUSIVE_JOIN (after a DECISION or SWITCH, only one branch of which ran) takes the
/// first `joinOn` task that was scheduled and not skipped, or, if none was, the first such task
/// of `defaultExclusiveJoinTask`. It waits while that task runs, then completes with that
/// task's output (not keyed by reference, as Conductor gives it), or fails with its reason if
/// it failed (Conductor's wording: the reason and a space). When neither list names a scheduled task and nothing else runs, it completes
/// with an empty output.
pub(super) fn evaluate_exclusive_join(st: &mut ExecState, i: usize) -> bool {
    let join = &st.tasks[i];
    let iteration = join.iteration;
    let refs = |key: &str| -> Vec<String> {
        join.input_data
            .get(key)
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (join_on, defaults) = (refs("joinOn"), refs("defaultExclusiveJoinTask"));
    let pick = |list: &[String]| {
        list.iter().find_map(|r| {
            st.latest_by_ref(&loop_ref(base_ref(r), iteration))
                .filter(|&idx| st.tasks[idx].status != TaskStatus::Skipped)
        })
    };
    let Some(chosen) = pick(&join_on).or_else(|| pick(&defaults)) else {
        // None scheduled yet. While other tasks run (a fork's branch), one may still be;
        // once nothing runs, none will, and waiting would leave the workflow stuck.
        if st
            .tasks
            .live()
            .any(|(j, t)| j != i && !t.status.is_terminal())
        {
            return false;
        }
        st.set_status(i, TaskStatus::Completed);
        return true;
    };
    let (status, output, reason) = {
        let t = &st.tasks[chosen];
        (
            t.status,
            t.output_data.clone(),
            t.reason_for_incompletion.clone(),
        )
    };
    if !status.is_terminal() {
        return false;
    }
    if status.is_successful() {
        st.task_mut(i).output_data = output;
        st.set_status(i, TaskStatus::Completed);
    } else {
        // Conductor's wording: the reason followed by a space (`null ` without one).
        let reason = format!("{} ", java_text(reason.as_deref()));
        st.task_mut(i).reason_for_incompletion = Some(truncate(&reason));
        st.set_status(i, TaskStatus::Failed);
    }
    true
}

/// Schedules the JOIN that follows `fork_ref`, waiting on `join_on` when given.
pub(super) fn schedule_join_after(
    st: &mut ExecState,
    fork_ref: &str,
    iteration: i32,
    join_on: Option<Vec<String>>,
) {
    let def = st.def.clone();
    let index = st.index.clone();
    let Some(loc) = index.location(fork_ref).cloned() else {
        return;
    };
    let Some(next) = index.list(&def, &loc).and_then(|l| l.get(loc.index + 1)) else {
        return;
    };
    let before = st.tasks.len();
    schedule_node(st, next, iteration);
    if let (Some(refs), true) = (join_on, st.tasks.len() > before) {
        let j = before;
        if st.tasks[j].task_type == sys::JOIN {
            st.task_mut(j)
                .input_data
                .insert("joinOn".into(), json!(refs));
        }
    }
}
