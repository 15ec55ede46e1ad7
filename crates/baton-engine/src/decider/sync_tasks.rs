//! Synchronous system tasks, executed as they are scheduled (SWITCH/DECISION cases, INLINE,
//! SET_VARIABLE, TERMINATE, …).

use super::*;

/// The case a SWITCH/DECISION selects.
pub(super) fn evaluate_case(node: &WorkflowTask, input: &JsonMap) -> Result<String, String> {
    let input_value = Value::Object(input.clone());
    if node.task_type == sys::DECISION {
        if let Some(param) = &node.case_value_param {
            return Ok(sys::case_string(input.get(param).unwrap_or(&Value::Null)));
        }
        if let Some(script) = &node.case_expression {
            return baton_script::eval_js(script, &input_value, &sys::script_limits())
                .map(|v| sys::case_string(&v))
                .map_err(|e| format!("DECISION caseExpression failed: {e}"));
        }
        return Err("DECISION needs caseValueParam or caseExpression".into());
    }
    let expression = node.expression.as_deref().unwrap_or_default();
    match node.evaluator_type.as_deref().unwrap_or("value-param") {
        "value-param" => Ok(sys::case_string(
            input.get(expression).unwrap_or(&Value::Null),
        )),
        "javascript" | "graaljs" => {
            baton_script::eval_js(expression, &input_value, &sys::script_limits())
                .map(|v| sys::case_string(&v))
                .map_err(|e| format!("SWITCH expression failed: {e}"))
        }
        other => Err(format!("SWITCH evaluatorType '{other}' is not supported")),
    }
}

/// Executes a synchronous system task that was just added at `idx`.
pub(super) fn run_sync_into(st: &mut ExecState, idx: usize, node: &WorkflowTask) {
    let input = st.tasks[idx].input_data.clone();
    let result: SyncResult = match node.task_type.as_str() {
        sys::NOOP => SyncResult {
            status: TaskStatus::Completed,
            output: JsonMap::new(),
            reason: None,
        },
        sys::SET_VARIABLE => {
            let mut vars = st.workflow.variables.clone();
            for (k, v) in &input {
                vars.insert(k.clone(), v.clone());
            }
            let size = serde_json::to_vec(&vars)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            // Conductor's default limit, and its message (clients and its tests match on it).
            const LIMIT_KB: usize = 256;
            if size > LIMIT_KB * 1024 {
                SyncResult {
                    status: TaskStatus::FailedWithTerminalError,
                    output: JsonMap::new(),
                    reason: Some(format!(
                        "The variables payload size: {size} of workflow: {} is greater than \
                         the permissible limit: {LIMIT_KB} kilobytes",
                        st.workflow.workflow_id
                    )),
                }
            } else {
                st.workflow.variables = vars;
                SyncResult {
                    status: TaskStatus::Completed,
                    output: JsonMap::new(),
                    reason: None,
                }
            }
        }
        // Sets the workflow's correlation id (searchable at once); the output names it.
        sys::SET_CORRELATION_ID => match input.get("correlationId").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => {
                st.workflow.correlation_id = Some(id.to_string());
                SyncResult {
                    status: TaskStatus::Completed,
                    output: obj(json!({ "correlationId": id })),
                    reason: None,
                }
            }
            _ => SyncResult {
                status: TaskStatus::FailedWithTerminalError,
                output: JsonMap::new(),
                reason: Some(
                    "A non-empty String value must be provided for 'correlationId'".into(),
                ),
            },
        },
        sys::INLINE => sys::run_inline(&input, None),
        // Conductor's definitions put the script in `inputParameters.scriptExpression`;
        // Baton also takes it from the node itself.
        sys::LAMBDA => {
            let script = node
                .script_expression
                .clone()
                .filter(|s| !s.trim().is_empty())
                .or_else(|| {
                    input
                        .get("scriptExpression")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            sys::run_inline(&input, Some(&script))
        }
        sys::JSON_JQ_TRANSFORM => sys::run_jq(&input),
        sys::TERMINATE => {
            run_terminate(st, idx, &input);
            return;
        }
        _ => return,
    };
    let t = st.task_mut(idx);
    t.output_data = result.output;
    t.reason_for_incompletion = result.reason.map(|r| truncate(&r));
    st.set_status(idx, result.status);
}

/// TERMINATE: completes itself, then ends the workflow with the requested status (§5.12).
pub(super) fn run_terminate(st: &mut ExecState, idx: usize, input: &JsonMap) {
    let status = input
        .get("terminationStatus")
        .and_then(Value::as_str)
        .unwrap_or("");
    // Exactly these spellings, as Conductor's Terminate.validateInputStatus
    // (sys::is_termination_status).
    let wf_status = match status {
        "COMPLETED" => WorkflowStatus::Completed,
        "FAILED" => WorkflowStatus::Failed,
        "TERMINATED" => WorkflowStatus::Terminated,
        _ => {
            // Conductor's wording. Definitions are checked when registered or started with
            // the same rule, so only a TERMINATE that check never saw gets here.
            st.task_mut(idx).reason_for_incompletion =
                Some("given termination status is not valid".to_string());
            st.set_status(idx, TaskStatus::Failed);
            return;
        }
    };
    let output = match input.get("workflowOutput") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) | None => JsonMap::new(),
        Some(other) => obj(json!({ "output": other })),
    };
    st.task_mut(idx).output_data = output.clone();
    st.set_status(idx, TaskStatus::Completed);
    st.task_mut(idx).executed = true;
    let reason = input
        .get("terminationReason")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "Workflow is {} by TERMINATE task: {}",
                wf_status.as_str(),
                st.tasks[idx].task_id
            )
        });
    if let Some(reason) = failed_permissive_reason(st) {
        // As in Conductor, a failed permissive task fails the workflow whatever status the
        // TERMINATE asks for.
        fail_workflow_with_output(st, WorkflowStatus::Failed, reason, None, Some(output));
    } else if wf_status == WorkflowStatus::Completed {
        complete_workflow(st, Some(output));
        // Conductor records why even a COMPLETED workflow ended early.
        st.workflow.reason_for_incompletion = Some(reason);
    } else {
        let task_index = Some(idx);
        fail_workflow_with_output(st, wf_status, reason, task_index, Some(output));
    }
}
