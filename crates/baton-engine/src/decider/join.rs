//! JOIN and EXCLUSIVE_JOIN: waiting for the branches of a fork.

use super::*;

/// Evaluates the operators that wait on others. Returns true if the task changed.
pub(super) fn evaluate_waiting(st: &mut ExecState, i: usize) -> bool {
    match st.tasks[i].task_type.as_str() {
        sys::JOIN | sys::EXCLUSIVE_JOIN => evaluate_join(st, i),
        sys::DO_WHILE => evaluate_loop(st, i),
        sys::WAIT => evaluate_wait(st, i),
        _ => false,
    }
}

pub(super) fn evaluate_join(st: &mut ExecState, i: usize) -> bool {
    let join = st.tasks[i].clone();
    // The refs are fixed when the JOIN is scheduled (a dynamic fork decides them then).
    let join_on: Vec<String> = match join.input_data.get("joinOn").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(|r| base_ref(r).to_string())
            .collect(),
        None => st
            .node_of(&join)
            .map(|n| n.join_on.clone())
            .unwrap_or_default(),
    };
    let mut output = JsonMap::new();
    let mut with_errors = false;
    for r in &join_on {
        let reference = loop_ref(r, join.iteration);
        let Some(idx) = st.latest_by_ref(&reference) else {
            return false;
        };
        let t = &st.tasks[idx];
        if !t.status.is_terminal() || !t.status.is_successful() {
            // A failed branch either retries (a new attempt follows) or fails the workflow.
            return false;
        }
        if t.status == TaskStatus::CompletedWithErrors {
            with_errors = true;
        }
        output.insert(r.clone(), Value::Object(t.output_data.clone()));
    }
    st.tasks[i].output_data = output;
    st.set_status(
        i,
        if with_errors {
            TaskStatus::CompletedWithErrors
        } else {
            TaskStatus::Completed
        },
    );
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
            st.tasks[j].input_data.insert("joinOn".into(), json!(refs));
            st.mark_dirty(j);
        }
    }
}
