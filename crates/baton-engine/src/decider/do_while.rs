//! DO_WHILE and WHILE: running a loop body again while its condition holds (WHILE also
//! checks it before the first pass).
//!
//! Each evaluation costs O(|body| + keepLastN), whatever the number of iterations so far:
//! the current iteration's tasks are found by reference name, the condition sees only the
//! current iteration (and the kept ones), and with `keepLastN` older iterations' tasks and
//! output entries are removed as the loop goes.

use super::*;

/// `keepLastN` from the loop's resolved input: a positive whole number (or numeric text).
fn keep_last_n(input: &JsonMap) -> Option<i32> {
    let v = input.get("keepLastN")?;
    let n = v
        .as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
    (n > 0).then(|| i32::try_from(n).unwrap_or(i32::MAX))
}

pub(super) fn evaluate_loop(st: &mut ExecState, i: usize) -> bool {
    if st.tasks[i].task_type == sys::WHILE && st.tasks[i].iteration == 0 {
        return first_check(st, i);
    }
    let lp = &st.tasks[i];
    let loop_name = base_ref(&lp.reference_task_name).to_string();
    let iteration = lp.iteration.max(1);
    let keep_last = keep_last_n(&lp.input_data);
    let def = st.def.clone();
    let index = st.index.clone();
    let Some(node) = index.node(&def, &loop_name) else {
        return false;
    };
    if node.loop_over.is_empty() {
        st.set_status(i, TaskStatus::Completed);
        return true;
    }
    // This iteration's tasks, by reference name: O(|body|), not O(tasks).
    let body: Vec<String> = index.descendants(&def, &loop_name);
    let mut current: Vec<usize> = body
        .iter()
        .filter_map(|b| st.latest_by_ref(&loop_ref(b, iteration)))
        .filter(|&j| !st.tasks[j].retried)
        .collect();
    current.sort_unstable();
    // As Conductor's DO_WHILE: a body task that failed for good without failing the
    // workflow (permissive) fails the loop at once, with that task's reason and a space
    // (Conductor's wording; `null ` without one).
    if let Some(&j) = current.iter().find(|&&j| settled_failure(&st.tasks[j])) {
        let reason = java_text(st.tasks[j].reason_for_incompletion.as_deref());
        st.task_mut(i).reason_for_incompletion = Some(truncate(&format!("{reason} ")));
        st.set_status(i, TaskStatus::Failed);
        return true;
    }
    if current.is_empty()
        || current.iter().any(|&j| {
            let t = &st.tasks[j];
            !t.status.is_terminal() || !t.executed
        })
    {
        return false;
    }
    let mut iteration_output = JsonMap::new();
    for &j in &current {
        let t = &st.tasks[j];
        iteration_output.insert(
            base_ref(&t.reference_task_name).to_string(),
            Value::Object(t.output_data.clone()),
        );
    }
    // Resolved again for every check, as Conductor does: a variable or output the body
    // changed is seen by the condition (the stored input stays as first resolved).
    let input = resolve_map(&node.input_parameters, st, None);
    let scope = condition_scope(
        st,
        i,
        input,
        &loop_name,
        iteration,
        keep_last,
        &iteration_output,
    );
    {
        let out = &mut st.task_mut(i).output_data;
        out.insert(iteration.to_string(), Value::Object(iteration_output));
        out.insert("iteration".into(), json!(iteration));
    }
    if let Some(n) = keep_last {
        drop_iteration(st, i, &body, iteration - n);
    }
    let condition = node.loop_condition.clone().unwrap_or_default();
    let verdict = if condition.trim().is_empty() {
        Ok(false)
    } else {
        baton_script::eval_js(&condition, &Value::Object(scope), &sys::script_limits())
            .map(|v| sys::truthy(&v))
            .map_err(|e| format!("{} loopCondition failed: {e}", st.tasks[i].task_type))
    };
    match verdict {
        Ok(true) if i64::from(iteration) >= i64::from(st.limits.max_loop_iterations) => {
            let reason = format!(
                "{} reached its iteration limit of {} (--max-loop-iterations)",
                st.tasks[i].task_type, st.limits.max_loop_iterations
            );
            st.task_mut(i).reason_for_incompletion = Some(reason);
            st.set_status(i, TaskStatus::FailedWithTerminalError);
        }
        Ok(true) => {
            let next = iteration + 1;
            let now = st.now;
            let t = st.task_mut(i);
            t.iteration = next;
            t.output_data.insert("iteration".into(), json!(next));
            t.update_time = now;
            if let Some(first) = node.loop_over.first() {
                schedule_node(st, first, next);
            }
        }
        Ok(false) => st.set_status(i, TaskStatus::Completed),
        Err(reason) => {
            st.task_mut(i).reason_for_incompletion = Some(truncate(&reason));
            st.set_status(i, TaskStatus::FailedWithTerminalError);
        }
    }
    true
}

/// WHILE before its first pass: the condition sees the loop's input and the loop's output
/// at iteration 0 (no body task has run). False completes the loop with no pass; true
/// starts iteration 1, as a DO_WHILE starts.
fn first_check(st: &mut ExecState, i: usize) -> bool {
    let loop_name = base_ref(&st.tasks[i].reference_task_name).to_string();
    let def = st.def.clone();
    let index = st.index.clone();
    let Some(node) = index.node(&def, &loop_name) else {
        return false;
    };
    let mut scope = resolve_map(&node.input_parameters, st, None);
    scope.insert(loop_name, json!({ "iteration": 0 }));
    let condition = node.loop_condition.clone().unwrap_or_default();
    let verdict = if condition.trim().is_empty() {
        Ok(false)
    } else {
        baton_script::eval_js(&condition, &Value::Object(scope), &sys::script_limits())
            .map(|v| sys::truthy(&v))
            .map_err(|e| format!("WHILE loopCondition failed: {e}"))
    };
    match verdict {
        Ok(true) if node.loop_over.is_empty() => st.set_status(i, TaskStatus::Completed),
        Ok(true) => {
            let now = st.now;
            let t = st.task_mut(i);
            t.iteration = 1;
            t.output_data.insert("iteration".into(), json!(1));
            t.update_time = now;
            if let Some(first) = node.loop_over.first() {
                schedule_node(st, first, 1);
            }
        }
        Ok(false) => st.set_status(i, TaskStatus::Completed),
        Err(reason) => {
            st.task_mut(i).reason_for_incompletion = Some(truncate(&reason));
            st.set_status(i, TaskStatus::FailedWithTerminalError);
        }
    }
    true
}

/// The condition's input: the loop's input (`input`, resolved now), its own output under its name (`iteration` and
/// the current iteration's entry, plus the kept ones with `keepLastN`; not every earlier
/// iteration, which would make each evaluation O(iterations)), and each body task's output
/// under its base name.
fn condition_scope(
    st: &ExecState,
    i: usize,
    input: JsonMap,
    loop_name: &str,
    iteration: i32,
    keep_last: Option<i32>,
    iteration_output: &JsonMap,
) -> JsonMap {
    let lp = &st.tasks[i];
    let mut own = JsonMap::new();
    let first_kept = keep_last.map_or(iteration, |n| (iteration - n + 1).max(1));
    for k in first_kept..iteration {
        if let Some(v) = lp.output_data.get(&k.to_string()) {
            own.insert(k.to_string(), v.clone());
        }
    }
    own.insert(
        iteration.to_string(),
        Value::Object(iteration_output.clone()),
    );
    own.insert("iteration".into(), json!(iteration));
    let mut scope = input;
    scope.insert(loop_name.to_string(), Value::Object(own));
    for (k, v) in iteration_output {
        let mut entry = JsonMap::new();
        entry.insert("output".into(), v.clone());
        if let Value::Object(m) = v {
            // Conductor exposes `$.ref['field']` directly on the output as well.
            for (fk, fv) in m {
                entry.entry(fk.clone()).or_insert_with(|| fv.clone());
            }
        }
        scope.insert(k.clone(), Value::Object(entry));
    }
    scope
}

/// `keepLastN`: removes iteration `old`'s tasks (every attempt) and its output entry.
fn drop_iteration(st: &mut ExecState, i: usize, body: &[String], old: i32) {
    if old < 1 {
        return;
    }
    st.task_mut(i).output_data.shift_remove(&old.to_string());
    for b in body {
        let mut next = st.latest_by_ref(&loop_ref(b, old));
        // Earlier attempts chain through retriedTaskId.
        for _ in 0..st.tasks.len() {
            let Some(j) = next else {
                break;
            };
            next = st.tasks[j]
                .retried_task_id
                .as_deref()
                .and_then(|id| st.find_task(id));
            st.removed_tasks.push(st.tasks[j].task_id.clone());
            st.tasks.remove(j);
        }
    }
}
