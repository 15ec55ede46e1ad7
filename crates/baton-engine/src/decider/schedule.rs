//! Scheduling: creating the task rows for definition nodes, and walking to successors.

use super::*;

/// A new attempt: new id, `retryCount + 1`, input re-evaluated, pollable after the delay.
pub(crate) fn schedule_retry(st: &mut ExecState, i: usize, delay_ms: i64) {
    schedule_retry_jittered(st, i, delay_ms, 0);
}

/// [`schedule_retry`] with `jitter_ms` more before the attempt is pollable. As in Conductor,
/// the jitter is not part of `callbackAfterSeconds` (nor `startDelayInSeconds`): those show
/// the (capped) backoff delay.
pub(crate) fn schedule_retry_jittered(st: &mut ExecState, i: usize, delay_ms: i64, jitter_ms: i64) {
    let old = st.tasks[i].clone();
    st.task_mut(i).retried = true;
    st.task_mut(i).executed = true;
    st.mark_dirty(i);
    let mut t = old.clone();
    t.task_id = new_id();
    t.retried_task_id = Some(old.task_id.clone());
    t.retry_count = old.retry_count + 1;
    t.status = TaskStatus::Scheduled;
    t.poll_count = 0;
    t.start_time = 0;
    t.end_time = 0;
    t.first_start_time = 0;
    t.worker_id = None;
    t.output_data = JsonMap::new();
    // A new SUB_WORKFLOW attempt starts its own child; it must not wait on the old one.
    t.sub_workflow_id = None;
    t.subworkflow_changed = false;
    t.retried = false;
    t.executed = false;
    t.seq = next_seq(st);
    t.scheduled_time = st.now;
    t.update_time = st.now;
    t.queue_wait_time = 0;
    t.callback_after_seconds = delay_ms / 1000;
    t.start_delay_in_seconds = i32::try_from(delay_ms / 1000).unwrap_or(i32::MAX);
    // A SUB_WORKFLOW attempt's input is its child's name, version and input (built when it
    // was first scheduled), not its inputParameters: it is kept as it was.
    if old.task_type != sys::SUB_WORKFLOW {
        if let Some(node) = st.node_of(&old).map(|n| n.into_owned()) {
            t.input_data = task_input(st, &node, &t.task_id);
        }
    }
    if t.task_type == sys::WAIT || t.task_type == sys::HUMAN {
        // Waits again at once, as when first scheduled: nothing is polled, so a retry delay
        // has nothing to hold back, and its timeout counts from now.
        t.status = TaskStatus::InProgress;
        t.start_time = st.now;
        t.callback_after_seconds = 0;
        t.start_delay_in_seconds = 0;
    }
    let is_queued = !sys::is_system(&t.task_type) || sys::is_async_system(&t.task_type);
    let sync_type = t.task_type.clone();
    let idx = st.add_task(t);
    if is_queued {
        st.enqueue(
            idx,
            after(st.now, delay_ms.saturating_add(jitter_ms.max(0))),
        );
    } else if let Some(node) = st.node_of(&st.tasks[idx].clone()).map(|n| n.into_owned()) {
        // A retried synchronous task (INLINE, JQ…) runs again right away.
        let _ = sync_type;
        run_sync_into(st, idx, &node);
    }
}

/// Schedules what follows a task that ended successfully.
pub(super) fn schedule_successors(st: &mut ExecState, i: usize) {
    // Only what is needed is copied: a dynamic FORK's input holds every branch.
    let task = &st.tasks[i];
    let (task_type, full_ref) = (task.task_type.clone(), task.reference_task_name.clone());
    let iteration = task.iteration;
    let def = st.def.clone();
    let index = st.index.clone();
    let reference = base_ref(&full_ref).to_string();
    let Some(node) = index.node(&def, &reference) else {
        return;
    };
    match task_type.as_str() {
        sys::SWITCH | sys::DECISION => {
            let task = &st.tasks[i];
            let case = task
                .output_data
                .get("selectedCase")
                .map(sys::case_string)
                .or_else(|| {
                    task.output_data
                        .get("caseOutput")
                        .and_then(|v| v.get(0))
                        .map(sys::case_string)
                })
                .unwrap_or_default();
            match case_branch(node, &task_type, &case).first() {
                Some(first) => schedule_node(st, first, task.iteration),
                None => advance_from(st, &reference, task.iteration),
            }
        }
        sys::FORK if node.task_type == sys::FORK_JOIN_DYNAMIC => {
            // The branch nodes were parsed once, when the FORK was scheduled or loaded.
            let join_on: Vec<String> = st.tasks[i]
                .input_data
                .get("forkedTasks")
                .and_then(Value::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            for r in &join_on {
                if let Some(node) = st.tasks.dynamic_node(r).cloned() {
                    schedule_node(st, &node, iteration);
                }
            }
            schedule_join_after(st, &reference, iteration, Some(join_on));
        }
        sys::FORK => {
            for branch in &node.fork_tasks {
                if let Some(first) = branch.first() {
                    schedule_node(st, first, iteration);
                }
            }
            // The JOIN follows the fork in the same list.
            advance_from(st, &reference, iteration);
        }
        // A DO_WHILE's own `iteration` counts its loop; what follows it belongs to the
        // level the loop sits in, whose iteration is the loop task's reference suffix.
        sys::DO_WHILE | sys::WHILE => advance_from(st, &reference, ref_iteration(&full_ref)),
        _ => advance_from(st, &reference, iteration),
    }
}

/// The tasks of the case a SWITCH or DECISION took.
fn case_branch<'a>(node: &'a WorkflowTask, task_type: &str, case: &str) -> &'a [WorkflowTask] {
    match node.decision_cases.get(case) {
        // DECISION falls back to the default on an empty case list; SWITCH does not.
        Some(list) if !list.is_empty() || task_type == sys::SWITCH => list,
        _ => &node.default_case,
    }
}

/// Schedules the node after `reference` in its list, climbing out of finished branches.
pub(crate) fn advance_from(st: &mut ExecState, reference: &str, iteration: i32) {
    let def = st.def.clone();
    let index = st.index.clone();
    let Some(loc) = index.location(reference).cloned() else {
        return;
    };
    let Some(list) = index.list(&def, &loc) else {
        return;
    };
    if let Some(next) = list.get(loc.index + 1) {
        schedule_node(st, next, iteration);
        return;
    }
    // End of a fork branch: the JOIN notices. End of a loop body: the DO_WHILE notices.
    // End of the top level: the workflow completes when nothing is pending.
    if let (crate::state::Step::Case(_) | crate::state::Step::Default, Some(parent)) =
        (&loc.step, &loc.parent)
    {
        advance_from(st, parent, iteration);
    }
}

/// Resolves a node's input: TaskDef template merged in, expressions evaluated (§6.4).
pub(super) fn task_input(st: &ExecState, node: &WorkflowTask, task_id: &str) -> JsonMap {
    let template = node
        .task_definition
        .as_ref()
        .map(|d| &d.input_template)
        .filter(|t| !t.is_empty());
    match template {
        None => resolve_map(&node.input_parameters, st, Some(task_id)),
        Some(template) => {
            let mut params = node.input_parameters.clone();
            for (k, v) in template {
                params.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let mut out = resolve_map(&params, st, Some(task_id));
            for (k, v) in out.iter_mut() {
                if v.is_null() {
                    if let Some(raw) = template.get(k) {
                        *v = raw.clone();
                    }
                }
            }
            out
        }
    }
}

/// The domain of a worker task from the workflow's taskToDomain (`*` first, then by name).
pub(super) fn domain_for(st: &ExecState, task_name: &str) -> Option<String> {
    let map = &st.workflow.task_to_domain;
    let list = map.get(task_name).or_else(|| map.get("*"))?;
    let domains: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    // The first domain with a worker polling it lately wins, else the last listed (§4.11);
    // NO_DOMAIN means none.
    let active = |d: &&&str| {
        **d != "NO_DOMAIN"
            && st
                .active_domains
                .as_ref()
                .is_some_and(|a| a.contains(&(task_name.to_string(), (**d).to_string())))
    };
    let chosen = domains.iter().find(active).or_else(|| domains.last())?;
    (*chosen != "NO_DOMAIN").then(|| chosen.to_string())
}

/// A task row for a node, not yet added.
pub(super) fn base_task(
    st: &ExecState,
    node: &WorkflowTask,
    task_type: &str,
    iteration: i32,
) -> Task {
    let def = node.task_definition.clone();
    let is_worker = !sys::is_system(task_type);
    let task_def_name = if sys::is_structural(task_type) && !sys::is_loop(task_type) {
        task_type.to_string()
    } else {
        node.name.clone()
    };
    Task {
        task_type: task_type.to_string(),
        status: TaskStatus::Scheduled,
        reference_task_name: loop_ref(&node.task_reference_name, iteration),
        seq: next_seq(st),
        correlation_id: st.workflow.correlation_id.clone(),
        task_def_name,
        scheduled_time: st.now,
        update_time: st.now,
        start_delay_in_seconds: node.start_delay.max(0),
        callback_after_seconds: i64::from(node.start_delay.max(0)),
        callback_from_worker: true,
        response_timeout_seconds: if is_worker {
            def.as_ref().map_or(3600, |d| d.response_timeout_seconds)
        } else {
            0
        },
        workflow_instance_id: st.workflow.workflow_id.clone(),
        workflow_type: st.workflow.workflow_name.clone(),
        task_id: new_id(),
        rate_limit_per_frequency: def
            .as_ref()
            .and_then(|d| d.rate_limit_per_frequency)
            .unwrap_or(0),
        rate_limit_frequency_in_seconds: def
            .as_ref()
            .and_then(|d| d.rate_limit_frequency_in_seconds)
            .unwrap_or(1),
        workflow_priority: st.workflow.priority,
        iteration,
        loop_over_task: iteration > 0,
        isolation_group_id: def.as_ref().and_then(|d| d.isolation_group_id.clone()),
        execution_name_space: def.as_ref().and_then(|d| d.execution_name_space.clone()),
        ..Task::default()
    }
}

/// Creates the task(s) for a definition node (§5).
pub(crate) fn schedule_node(st: &mut ExecState, node: &WorkflowTask, iteration: i32) {
    let reference = loop_ref(&node.task_reference_name, iteration);
    if let Some(existing) = st.latest_by_ref(&reference) {
        // A node is never scheduled twice; one skipped through the API is walked past.
        if st.tasks[existing].status == TaskStatus::Skipped {
            advance_from(st, &node.task_reference_name, iteration);
        }
        return;
    }
    let ttype = node.task_type.as_str();
    match ttype {
        sys::SWITCH | sys::DECISION => {
            let mut t = base_task(st, node, ttype, iteration);
            let mut input = resolve_map(&node.input_parameters, st, None);
            match evaluate_case(node, &input) {
                Ok(case) => {
                    let chosen = case.clone();
                    input.insert("case".into(), Value::String(case.clone()));
                    t.output_data = if ttype == sys::SWITCH {
                        obj(json!({ "evaluationResult": [case.clone()], "selectedCase": case }))
                    } else {
                        obj(json!({ "caseOutput": [case] }))
                    };
                    add_evaluated(st, t, input, Ok(()));
                    // The case's first task is listed right after the switch, before what
                    // else is being scheduled (a sibling fork branch, the JOIN), as Conductor
                    // lists it; scheduling the successors later finds it there.
                    if let Some(first) = case_branch(node, ttype, &chosen).first() {
                        schedule_node(st, first, iteration);
                    }
                }
                Err(reason) => add_evaluated(st, t, input, Err(reason)),
            }
        }
        sys::FORK_JOIN_DYNAMIC => {
            let t = base_task(st, node, sys::FORK, iteration);
            let mut input = task_input(st, node, &t.task_id);
            match dynamic_branches(st, node, &input) {
                Ok(branches) => {
                    let refs: Vec<Value> = branches
                        .iter()
                        .map(|b| json!(b.task_reference_name))
                        .collect();
                    input.insert("forkedTasks".into(), Value::Array(refs));
                    input.insert("forkedTaskDefs".into(), json!(branches));
                    add_evaluated(st, t, input, Ok(()));
                    st.tasks.add_dynamic_nodes(branches);
                }
                Err(reason) if reason.starts_with(FORK_LIMIT_REASON) => {
                    // Retrying cannot shrink the list: fail for good.
                    let mut t = t;
                    t.status = TaskStatus::FailedWithTerminalError;
                    t.reason_for_incompletion = Some(truncate(&reason));
                    t.input_data = input;
                    stamp_done(st, &mut t);
                    st.add_task(t);
                }
                Err(reason) => add_evaluated(st, t, input, Err(reason)),
            }
        }
        sys::FORK_JOIN => {
            let mut t = base_task(st, node, sys::FORK, iteration);
            t.input_data = resolve_map(&node.input_parameters, st, None);
            t.status = TaskStatus::Completed;
            stamp_done(st, &mut t);
            st.add_task(t);
            // As Conductor's fork mapper: each branch's first task (a nested fork's or
            // switch's in turn, depth first), then the JOIN. Scheduling the fork's successors
            // later finds them there.
            for branch in &node.fork_tasks {
                if let Some(first) = branch.first() {
                    schedule_node(st, first, iteration);
                }
            }
            advance_from(st, &node.task_reference_name, iteration);
        }
        sys::JOIN | sys::EXCLUSIVE_JOIN => {
            let mut t = base_task(st, node, ttype, iteration);
            let mut input = resolve_map(&node.input_parameters, st, None);
            input.insert("joinOn".into(), json!(node.join_on));
            if ttype == sys::EXCLUSIVE_JOIN {
                input.insert(
                    "defaultExclusiveJoinTask".into(),
                    json!(node.default_exclusive_join_task),
                );
            }
            t.input_data = input;
            t.status = TaskStatus::InProgress;
            t.start_time = st.now;
            st.add_task(t);
        }
        sys::DO_WHILE => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = resolve_map(&node.input_parameters, st, None);
            t.status = TaskStatus::InProgress;
            t.start_time = st.now;
            t.iteration = 1;
            t.output_data = obj(json!({ "iteration": 1 }));
            st.add_task(t);
            if let Some(first) = node.loop_over.first() {
                schedule_node(st, first, 1);
            }
        }
        sys::WHILE => {
            // No pass yet: the decider checks the condition first (see `evaluate_loop`).
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = resolve_map(&node.input_parameters, st, None);
            t.status = TaskStatus::InProgress;
            t.start_time = st.now;
            t.iteration = 0;
            t.output_data = obj(json!({ "iteration": 0 }));
            st.add_task(t);
        }
        sys::WAIT | sys::HUMAN => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = task_input(st, node, &t.task_id);
            t.status = TaskStatus::InProgress;
            t.start_time = st.now;
            st.add_task(t);
        }
        sys::TERMINATE
        | sys::SET_VARIABLE
        | sys::SET_CORRELATION_ID
        | sys::NOOP
        | sys::INLINE
        | sys::LAMBDA
        | sys::JSON_JQ_TRANSFORM => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = task_input(st, node, &t.task_id);
            t.status = TaskStatus::InProgress;
            t.start_time = st.now;
            let idx = st.add_task(t);
            run_sync_into(st, idx, node);
        }
        sys::DYNAMIC => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = task_input(st, node, &t.task_id);
            let param = node
                .dynamic_task_name_param
                .as_deref()
                .unwrap_or("taskToExecute");
            match t.input_data.get(param).and_then(Value::as_str) {
                Some(name) if !name.is_empty() => {
                    t.task_type = name.to_string();
                    t.task_def_name = name.to_string();
                    schedule_worker(st, t, node);
                }
                _ => {
                    t.status = TaskStatus::Failed;
                    t.reason_for_incompletion = Some(format!(
                        "DYNAMIC task '{}' has no task name in input '{}'",
                        node.task_reference_name, param
                    ));
                    stamp_done(st, &mut t);
                    st.add_task(t);
                }
            }
        }
        sys::SUB_WORKFLOW => {
            let mut t = base_task(st, node, ttype, iteration);
            let workflow_input = task_input(st, node, &t.task_id);
            let params = node.sub_workflow_param.clone().unwrap_or_default();
            let definition = params
                .workflow_definition
                .as_ref()
                .map(|d| expr::resolve_value(d, st, None));
            let mut input = JsonMap::new();
            // Name and version may be expressions (`${workflow.input.subwf}`).
            let name = expr::resolve_value(&Value::String(params.name.clone()), st, None);
            input.insert("subWorkflowName".into(), name);
            if let Some(v) = &params.version {
                let v = expr::resolve_value(v, st, None);
                // A numeric string (as the Conductor UI sends numbers) is the number.
                let v = match &v {
                    Value::String(s) => s.trim().parse::<i64>().map_or(v.clone(), |n| json!(n)),
                    _ => v,
                };
                input.insert("subWorkflowVersion".into(), v);
            }
            if let Some(map) = &params.task_to_domain {
                input.insert("subWorkflowTaskToDomain".into(), json!(map));
            }
            if let Some(d) = definition {
                input.insert("subWorkflowDefinition".into(), d);
            }
            input.insert("workflowInput".into(), Value::Object(workflow_input));
            t.input_data = input;
            schedule_worker(st, t, node);
        }
        _ => {
            let mut t = base_task(st, node, ttype, iteration);
            t.input_data = task_input(st, node, &t.task_id);
            if ttype == sys::HTTP || ttype == sys::EVENT {
                if node.async_complete {
                    t.input_data.insert("asyncComplete".into(), json!(true));
                }
                if let Some(sink) = &node.sink {
                    t.input_data.insert("sink".into(), json!(sink));
                }
            }
            if ttype == sys::SIMPLE {
                t.task_type = node.name.clone();
            }
            schedule_worker(st, t, node);
        }
    }
}

/// Queues a worker (or asynchronous system) task.
pub(super) fn schedule_worker(st: &mut ExecState, mut t: Task, node: &WorkflowTask) {
    if !sys::is_system(&t.task_type) {
        t.domain = domain_for(st, &t.task_def_name);
    }
    let idx = st.add_task(t);
    st.enqueue(idx, after_secs(st.now, i64::from(node.start_delay)));
}

/// Adds an operator task that was evaluated as it was scheduled: COMPLETED, or FAILED with
/// the reason its evaluation gave.
pub(super) fn add_evaluated(
    st: &mut ExecState,
    mut t: Task,
    input: JsonMap,
    outcome: Result<(), String>,
) {
    match outcome {
        Ok(()) => t.status = TaskStatus::Completed,
        Err(reason) => {
            t.status = TaskStatus::Failed;
            t.reason_for_incompletion = Some(truncate(&reason));
        }
    }
    t.input_data = input;
    stamp_done(st, &mut t);
    st.add_task(t);
}

pub(super) fn stamp_done(st: &ExecState, t: &mut Task) {
    t.start_time = st.now;
    t.end_time = st.now;
    t.update_time = st.now;
}
