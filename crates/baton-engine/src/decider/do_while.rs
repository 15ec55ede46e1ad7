//! DO_WHILE: running a loop body again while its condition holds.

use super::*;

pub(super) fn evaluate_loop(st: &mut ExecState, i: usize) -> bool {
    let lp = st.tasks[i].clone();
    let def = st.def.clone();
    let index = st.index.clone();
    let loop_name = base_ref(&lp.reference_task_name).to_string();
    let Some(node) = index.node(&def, &loop_name) else {
        return false;
    };
    if node.loop_over.is_empty() {
        st.set_status(i, TaskStatus::Completed);
        return true;
    }
    let body: Vec<String> = index.descendants(&def, &loop_name);
    let iteration = lp.iteration.max(1);
    let current: Vec<&Task> = st
        .tasks
        .iter()
        .filter(|t| {
            !t.retried
                && t.iteration == iteration
                && body.iter().any(|b| b == base_ref(&t.reference_task_name))
        })
        .collect();
    if current.is_empty()
        || current
            .iter()
            .any(|t| !t.status.is_terminal() || !t.executed)
    {
        return false;
    }
    let mut iteration_output = JsonMap::new();
    for t in &current {
        iteration_output.insert(
            base_ref(&t.reference_task_name).to_string(),
            Value::Object(t.output_data.clone()),
        );
    }
    let mut output = lp.output_data.clone();
    output.insert(
        iteration.to_string(),
        Value::Object(iteration_output.clone()),
    );
    output.insert("iteration".into(), json!(iteration));
    // Condition input: the loop's input, its own output under its name, and each body
    // task's output under its base name.
    let mut scope = lp.input_data.clone();
    scope.insert(loop_name.clone(), Value::Object(output.clone()));
    for (k, v) in &iteration_output {
        scope.insert(k.clone(), json!({ "output": v.clone() }));
        if let Value::Object(m) = v {
            // Conductor exposes `$.ref['field']` directly on the output as well.
            if let Some(Value::Object(entry)) = scope.get_mut(k) {
                for (fk, fv) in m {
                    entry.entry(fk.clone()).or_insert_with(|| fv.clone());
                }
            }
        }
    }
    let condition = node.loop_condition.clone().unwrap_or_default();
    let verdict = if condition.trim().is_empty() {
        Ok(false)
    } else {
        baton_script::eval_js(&condition, &Value::Object(scope), &sys::script_limits())
            .map(|v| sys::truthy(&v))
            .map_err(|e| format!("DO_WHILE loopCondition failed: {e}"))
    };
    st.tasks[i].output_data = output;
    st.mark_dirty(i);
    match verdict {
        Ok(true) if i64::from(iteration) >= i64::from(st.limits.max_loop_iterations) => {
            let reason = format!(
                "DO_WHILE reached its iteration limit of {} (--max-loop-iterations)",
                st.limits.max_loop_iterations
            );
            st.tasks[i].reason_for_incompletion = Some(reason);
            st.set_status(i, TaskStatus::FailedWithTerminalError);
        }
        Ok(true) => {
            let next = iteration + 1;
            st.tasks[i].iteration = next;
            st.tasks[i]
                .output_data
                .insert("iteration".into(), json!(next));
            st.tasks[i].update_time = st.now;
            if let Some(first) = node.loop_over.first() {
                schedule_node(st, first, next);
            }
        }
        Ok(false) => st.set_status(i, TaskStatus::Completed),
        Err(reason) => {
            st.tasks[i].reason_for_incompletion = Some(truncate(&reason));
            st.set_status(i, TaskStatus::FailedWithTerminalError);
        }
    }
    true
}
