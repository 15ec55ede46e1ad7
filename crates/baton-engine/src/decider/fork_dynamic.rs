//! FORK_JOIN_DYNAMIC: the branches a dynamic fork runs, from its input.

use super::*;

/// How a FORK_JOIN_DYNAMIC's failure over `EngineLimits::max_fork_branches` begins.
pub(super) const FORK_LIMIT_REASON: &str = "FORK_JOIN_DYNAMIC branch limit";

/// The branches of a FORK_JOIN_DYNAMIC (§5.7), each as a node whose input is literal.
pub(super) fn dynamic_branches(
    st: &ExecState,
    node: &WorkflowTask,
    input: &JsonMap,
) -> Result<Vec<WorkflowTask>, String> {
    let listed = if let Some(param) = node.dynamic_fork_tasks_param.as_deref() {
        input.get(param).and_then(Value::as_array)
    } else if let Some(param) = node.dynamic_fork_join_tasks_param.as_deref() {
        input
            .get(param)
            .and_then(|v| v.get("dynamicTasks"))
            .and_then(Value::as_array)
    } else {
        input.get("forkTaskInputs").and_then(Value::as_array)
    };
    let (count, limit) = (listed.map_or(0, Vec::len), st.limits.max_fork_branches);
    if count > limit {
        return Err(format!(
            "{FORK_LIMIT_REASON} of {limit} exceeded: {count} branches listed \
             (--max-fork-branches, BATON_MAX_FORK_BRANCHES); nothing was forked"
        ));
    }
    let mut out: Vec<WorkflowTask> = Vec::new();
    if let Some(param) = node.dynamic_fork_tasks_param.as_deref() {
        let list = input
            .get(param)
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        let tasks: Vec<WorkflowTask> = serde_json::from_value(list).map_err(|e| {
            format!("input '{param}' of FORK_JOIN_DYNAMIC must be a list of tasks: {e}")
        })?;
        let inputs_key = node
            .dynamic_fork_tasks_input_param_name
            .as_deref()
            .unwrap_or("dynamicTasksInputs");
        let inputs = match input.get(inputs_key) {
            None | Some(Value::Null) => JsonMap::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(format!(
                    "input '{inputs_key}' of FORK_JOIN_DYNAMIC must be a map of reference name to input"
                ))
            }
        };
        for mut t in tasks {
            match inputs.get(&t.task_reference_name) {
                Some(Value::Object(m)) => t.input_parameters = m.clone(),
                None | Some(Value::Null) => {}
                // Conductor fails the workflow on such an input too (it is no map to give the
                // task as its input).
                Some(other) => {
                    return Err(format!(
                        "input '{inputs_key}' of FORK_JOIN_DYNAMIC must map '{}' to an object, not {other}",
                        t.task_reference_name
                    ))
                }
            }
            out.push(t);
        }
    } else if let Some(param) = node.dynamic_fork_join_tasks_param.as_deref() {
        let list = input
            .get(param)
            .and_then(|v| v.get("dynamicTasks"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in list {
            let name = item
                .get("taskName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let reference = item
                .get("referenceName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ttype = item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or(sys::SIMPLE);
            let mut t = WorkflowTask::new(name, reference, ttype);
            if let Some(Value::Object(m)) = item.get("input") {
                t.input_parameters = m.clone();
            }
            out.push(t);
        }
    } else {
        let Some(items) = input.get("forkTaskInputs").and_then(Value::as_array) else {
            return Err(
                "FORK_JOIN_DYNAMIC needs dynamicForkTasksParam or input 'forkTaskInputs' (a list)"
                    .into(),
            );
        };
        let workflow = input.get("forkTaskWorkflow").and_then(Value::as_str);
        let name = input
            .get("forkTaskName")
            .and_then(Value::as_str)
            .or(workflow)
            .unwrap_or(&node.task_reference_name)
            .to_string();
        let ttype = if workflow.is_some() {
            sys::SUB_WORKFLOW
        } else {
            input
                .get("forkTaskType")
                .and_then(Value::as_str)
                .unwrap_or(sys::SIMPLE)
        };
        for (i, item) in items.iter().enumerate() {
            let mut t = WorkflowTask::new(&name, &format!("_{name}_{i}"), ttype);
            let mut task_input = match item {
                Value::Object(m) => m.clone(),
                other => {
                    let mut m = JsonMap::new();
                    m.insert("input".into(), other.clone());
                    m
                }
            };
            task_input.insert("__index".into(), json!(i));
            t.input_parameters = task_input;
            t.optional = node.optional;
            if let Some(wf) = workflow {
                t.sub_workflow_param = Some(baton_model::SubWorkflowParams {
                    name: wf.to_string(),
                    version: input.get("forkTaskWorkflowVersion").cloned(),
                    ..Default::default()
                });
            }
            out.push(t);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for t in &out {
        if t.task_reference_name.is_empty() {
            return Err("every dynamically forked task needs a taskReferenceName".into());
        }
        if !seen.insert(t.task_reference_name.clone())
            || st.index.location(&t.task_reference_name).is_some()
            || st.latest_by_ref(&t.task_reference_name).is_some()
        {
            return Err(format!(
                "dynamically forked task reference '{}' is not unique",
                t.task_reference_name
            ));
        }
    }
    Ok(out)
}
