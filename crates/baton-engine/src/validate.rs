//! Definition validation at registration time. Every error names the field it is about, so a
//! client sees e.g. `tasks[2].taskReferenceName: duplicate reference name 'x'` and nothing is
//! stored.

use crate::expr;
use crate::systask as sys;
use baton_model::{TaskDef, WorkflowDef, WorkflowTask};
use serde_json::Value;
use std::collections::HashSet;

/// One problem with a definition.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationError {
    pub path: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_value: Option<Value>,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError {
        path: path.into(),
        message: message.into(),
        invalid_value: None,
    }
}

/// Rejects a name longer than the store indexes (`baton_model::limits::MAX_KEY_BYTES`).
fn key(out: &mut Vec<ValidationError>, path: String, field: &str, value: &str) {
    if let Err(message) = baton_model::limits::check_key(field, value) {
        out.push(err(path, message));
    }
}

/// Rejects a negative count or duration (the policy of [`baton_model::duration`]).
fn non_negative(out: &mut Vec<ValidationError>, path: String, field: &str, value: i64) {
    if let Err(message) = baton_model::duration::check_non_negative(field, value) {
        out.push(ValidationError {
            path,
            message,
            invalid_value: Some(Value::from(value)),
        });
    }
}

/// Checks a task definition (§3.1 rules).
pub fn validate_task_def(d: &TaskDef, path: &str) -> Vec<ValidationError> {
    let mut out = Vec::new();
    let p = |f: &str| format!("{path}{f}");
    if d.name.trim().is_empty() {
        out.push(err(p("name"), "TaskDef name cannot be null or empty"));
    }
    key(&mut out, p("name"), "name", &d.name);
    if d.retry_count < 0 {
        out.push(err(p("retryCount"), "retryCount must be >= 0"));
    }
    if d.response_timeout_seconds < 1 {
        out.push(err(
            p("responseTimeoutSeconds"),
            "responseTimeoutSeconds must be >= 1",
        ));
    }
    if d.timeout_seconds < 0 {
        out.push(err(p("timeoutSeconds"), "timeoutSeconds must be >= 0"));
    }
    if d.timeout_seconds > 0 && d.response_timeout_seconds > d.timeout_seconds {
        out.push(err(
            p("responseTimeoutSeconds"),
            format!(
                "responseTimeoutSeconds ({}) must be <= timeoutSeconds ({})",
                d.response_timeout_seconds, d.timeout_seconds
            ),
        ));
    }
    if d.total_timeout_seconds > 0
        && d.timeout_seconds > 0
        && d.total_timeout_seconds < d.timeout_seconds
    {
        out.push(err(
            p("totalTimeoutSeconds"),
            "totalTimeoutSeconds must be >= timeoutSeconds",
        ));
    }
    if d.retry_delay_seconds < 0 {
        out.push(err(
            p("retryDelaySeconds"),
            "retryDelaySeconds must be >= 0",
        ));
    }
    if d.backoff_scale_factor < 1 {
        out.push(err(
            p("backoffScaleFactor"),
            "backoffScaleFactor must be >= 1",
        ));
    }
    if d.poll_timeout_seconds.is_some_and(|v| v < 0) {
        out.push(err(
            p("pollTimeoutSeconds"),
            "pollTimeoutSeconds must be >= 0",
        ));
    }
    if d.rate_limit_per_frequency.is_some_and(|v| v < 0) {
        out.push(err(
            p("rateLimitPerFrequency"),
            "rateLimitPerFrequency must be >= 0",
        ));
    }
    if d.rate_limit_frequency_in_seconds.is_some_and(|v| v < 1) {
        out.push(err(
            p("rateLimitFrequencyInSeconds"),
            "rateLimitFrequencyInSeconds must be >= 1",
        ));
    }
    if d.concurrent_exec_limit.is_some_and(|v| v < 0) {
        out.push(err(
            p("concurrentExecLimit"),
            "concurrentExecLimit must be >= 0",
        ));
    }
    for (field, value) in [
        ("totalTimeoutSeconds", d.total_timeout_seconds),
        ("maxRetryDelaySeconds", i64::from(d.max_retry_delay_seconds)),
        ("backoffJitterMs", i64::from(d.backoff_jitter_ms)),
    ] {
        non_negative(&mut out, p(field), field, value);
    }
    out
}

/// Checks a workflow definition (§3.2 rules and the per-type checks of §5).
pub fn validate_workflow_def(def: &WorkflowDef) -> Vec<ValidationError> {
    let mut out = Vec::new();
    if def.name.trim().is_empty() {
        out.push(err("name", "WorkflowDef name cannot be null or empty"));
    }
    key(&mut out, "name".to_string(), "name", &def.name);
    if def.tasks.is_empty() {
        out.push(err("tasks", "WorkflowTask list cannot be empty"));
    }
    if def.schema_version != 2 {
        out.push(err("schemaVersion", "schemaVersion must be 2"));
    }
    if def.timeout_seconds < 0 {
        out.push(err("timeoutSeconds", "timeoutSeconds must be >= 0"));
    }
    let mut refs = HashSet::new();
    let mut has_dynamic = false;
    check_list(&def.tasks, "tasks", &mut refs, &mut has_dynamic, &mut out);
    if let Err(e) = expr::validate(&Value::Object(def.output_parameters.clone())) {
        out.push(err("outputParameters", e.to_string()));
    }
    // Expressions may only name the workflow or a task of this definition.
    if !has_dynamic {
        let mut check_roots = |v: &Value, path: String| {
            for root in expr::referenced_roots(v) {
                if root != "workflow" && !refs.contains(&root) {
                    out.push(err(
                        path.clone(),
                        format!("expression refers to '{root}', which is neither 'workflow' nor a taskReferenceName of this definition"),
                    ));
                }
            }
        };
        def.for_each_task(&mut |t| {
            check_roots(
                &Value::Object(t.input_parameters.clone()),
                format!("tasks[{}].inputParameters", t.task_reference_name),
            );
        });
        check_roots(
            &Value::Object(def.output_parameters.clone()),
            "outputParameters".to_string(),
        );
    }
    out
}

fn check_list(
    list: &[WorkflowTask],
    path: &str,
    refs: &mut HashSet<String>,
    has_dynamic: &mut bool,
    out: &mut Vec<ValidationError>,
) {
    for (i, t) in list.iter().enumerate() {
        let here = format!("{path}[{i}]");
        check_task(t, &here, refs, has_dynamic, out);
        if t.task_type == sys::FORK_JOIN || t.task_type == sys::FORK_JOIN_DYNAMIC {
            let next_is_join = list.get(i + 1).is_some_and(|n| n.task_type == sys::JOIN);
            if !next_is_join {
                out.push(err(
                    format!("{here}.type"),
                    format!(
                        "{} '{}' must be followed by a JOIN task",
                        t.task_type, t.task_reference_name
                    ),
                ));
            }
        }
    }
}

fn check_task(
    t: &WorkflowTask,
    path: &str,
    refs: &mut HashSet<String>,
    has_dynamic: &mut bool,
    out: &mut Vec<ValidationError>,
) {
    let p = |f: &str| format!("{path}.{f}");
    if t.name.trim().is_empty() {
        out.push(err(p("name"), "WorkflowTask name cannot be empty"));
    }
    key(out, p("name"), "name", &t.name);
    key(
        out,
        p("taskReferenceName"),
        "taskReferenceName",
        &t.task_reference_name,
    );
    if t.task_reference_name.trim().is_empty() {
        out.push(err(
            p("taskReferenceName"),
            "taskReferenceName cannot be empty",
        ));
    } else if !refs.insert(t.task_reference_name.clone()) {
        out.push(err(
            p("taskReferenceName"),
            format!("duplicate taskReferenceName '{}'", t.task_reference_name),
        ));
    }
    if let Err(e) = expr::validate(&Value::Object(t.input_parameters.clone())) {
        out.push(err(p("inputParameters"), e.to_string()));
    }
    if let Some(n) = t.retry_count {
        non_negative(out, p("retryCount"), "retryCount", i64::from(n));
    }
    non_negative(out, p("startDelay"), "startDelay", i64::from(t.start_delay));
    if let Some(td) = &t.task_definition {
        out.extend(validate_task_def(td, &format!("{path}.taskDefinition.")));
    }
    let ttype = t.task_type.as_str();
    if sys::UNSUPPORTED_TYPES.contains(&ttype) {
        out.push(err(
            p("type"),
            format!("task type {ttype} is not supported by Baton"),
        ));
    }
    let literal = |key: &str| t.input_parameters.get(key).and_then(Value::as_str);
    let is_expr = |s: &str| s.contains("${");
    match ttype {
        sys::SWITCH => {
            match t.evaluator_type.as_deref() {
                Some("value-param") | Some("javascript") | Some("graaljs") => {}
                Some(other) => out.push(err(
                    p("evaluatorType"),
                    format!("evaluatorType '{other}' is not supported (value-param, javascript, graaljs)"),
                )),
                None => out.push(err(p("evaluatorType"), "SWITCH needs an evaluatorType")),
            }
            match t.expression.as_deref() {
                None | Some("") => out.push(err(p("expression"), "SWITCH needs an expression")),
                Some(script) if t.evaluator_type.as_deref() != Some("value-param") => {
                    if let Err(e) = baton_script::check_js(script) {
                        out.push(err(p("expression"), e.to_string()));
                    }
                }
                _ => {}
            }
        }
        sys::DECISION if t.case_value_param.is_none() && t.case_expression.is_none() => {
            out.push(err(
                p("caseValueParam"),
                "DECISION needs caseValueParam or caseExpression",
            ));
        }
        sys::DO_WHILE | sys::WHILE => {
            match t.loop_condition.as_deref() {
                None | Some("") => out.push(err(
                    p("loopCondition"),
                    format!("{ttype} needs a loopCondition"),
                )),
                Some(script) => {
                    if let Err(e) = baton_script::check_js(script) {
                        out.push(err(p("loopCondition"), e.to_string()));
                    }
                }
            }
            if t.loop_over.is_empty() {
                out.push(err(
                    p("loopOver"),
                    format!("{ttype} needs a non-empty loopOver"),
                ));
            }
        }
        sys::SUB_WORKFLOW => match &t.sub_workflow_param {
            None => out.push(err(
                p("subWorkflowParam"),
                "SUB_WORKFLOW needs subWorkflowParam",
            )),
            Some(sp) => {
                if sp.name.trim().is_empty() && sp.workflow_definition.is_none() {
                    out.push(err(
                        p("subWorkflowParam.name"),
                        "subWorkflowParam needs a name or a workflowDefinition",
                    ));
                }
                if let Some(Value::String(s)) = &sp.workflow_definition {
                    if !s.trim_start().starts_with("${") {
                        out.push(err(
                            p("subWorkflowParam.workflowDefinition"),
                            "workflowDefinition must be an object or a ${...} expression",
                        ));
                    }
                }
            }
        },
        sys::TERMINATE => {
            // As Conductor 3.32's WorkflowTaskTypeConstraint: the status must be written out,
            // in capitals (no ${...} expression), and the message names only COMPLETED and
            // FAILED although TERMINATED is accepted too.
            if t.optional {
                out.push(err(
                    p("optional"),
                    format!("terminate task cannot be optional, taskName: {}", t.name),
                ));
            }
            let status = t.input_parameters.get("terminationStatus");
            if !status
                .and_then(Value::as_str)
                .is_some_and(sys::is_termination_status)
            {
                out.push(err(
                    p("inputParameters.terminationStatus"),
                    format!(
                        "terminate task must have an terminationStatus parameter and must be \
                         set to COMPLETED or FAILED, taskName: {}",
                        t.name
                    ),
                ));
            }
        }
        sys::JSON_JQ_TRANSFORM => match literal("queryExpression") {
            None => out.push(err(
                p("inputParameters.queryExpression"),
                "JSON_JQ_TRANSFORM needs a queryExpression",
            )),
            Some(q) if !is_expr(q) => {
                if let Err(e) = baton_script::check_jq(q) {
                    out.push(err(p("inputParameters.queryExpression"), e.to_string()));
                }
            }
            _ => {}
        },
        sys::INLINE => match literal("expression") {
            None => out.push(err(
                p("inputParameters.expression"),
                "INLINE needs a non-empty expression",
            )),
            Some(script) => {
                let evaluator = literal("evaluatorType").unwrap_or("javascript");
                if matches!(evaluator, "javascript" | "graaljs") && !is_expr(script) {
                    if let Err(e) = baton_script::check_js(script) {
                        out.push(err(p("inputParameters.expression"), e.to_string()));
                    }
                } else if !matches!(evaluator, "javascript" | "graaljs" | "value-param") {
                    out.push(err(
                        p("inputParameters.evaluatorType"),
                        format!("evaluatorType '{evaluator}' is not supported"),
                    ));
                }
            }
        },
        sys::HTTP => {
            let in_task_def = t.task_definition.as_ref().is_some_and(|d| {
                d.input_template.contains_key("http_request")
                    || d.input_template.contains_key("uri")
            });
            if !t.input_parameters.contains_key("http_request")
                && !t.input_parameters.contains_key("uri")
                && !in_task_def
            {
                out.push(err(
                    p("inputParameters.http_request"),
                    "HTTP task needs inputParameters.http_request (or uri)",
                ));
            }
        }
        sys::EVENT if t.sink.as_deref().is_none_or(|s| s.trim().is_empty()) => {
            out.push(err(p("sink"), "EVENT task needs a sink"));
        }
        sys::WAIT => {
            let d = literal("duration");
            let u = literal("until").or_else(|| literal("wait_until"));
            if d.is_some() && u.is_some() {
                out.push(err(
                    p("inputParameters"),
                    "WAIT cannot have both duration and until",
                ));
            }
            if let Some(d) = d.filter(|d| !is_expr(d)) {
                if sys::parse_duration(d).is_none() {
                    out.push(err(
                        p("inputParameters.duration"),
                        format!("'{d}' is not a valid duration (e.g. '30s', '1d 2h')"),
                    ));
                }
            }
            if let Some(u) = u.filter(|u| !is_expr(u)) {
                if sys::parse_until(u).is_none() {
                    out.push(err(
                        p("inputParameters.until"),
                        format!("'{u}' is not a valid time (yyyy-MM-dd HH:mm z)"),
                    ));
                }
            }
        }
        sys::DYNAMIC
            if t.dynamic_task_name_param
                .as_deref()
                .is_none_or(str::is_empty) =>
        {
            out.push(err(
                p("dynamicTaskNameParam"),
                "DYNAMIC needs dynamicTaskNameParam",
            ));
        }
        sys::FORK_JOIN_DYNAMIC => *has_dynamic = true,
        sys::FORK_JOIN if t.fork_tasks.is_empty() => {
            out.push(err(p("forkTasks"), "FORK_JOIN needs forkTasks"));
        }
        _ => {}
    }
    for (k, branch) in &t.decision_cases {
        check_list(
            branch,
            &format!("{path}.decisionCases.{k}"),
            refs,
            has_dynamic,
            out,
        );
    }
    check_list(
        &t.default_case,
        &format!("{path}.defaultCase"),
        refs,
        has_dynamic,
        out,
    );
    for (b, branch) in t.fork_tasks.iter().enumerate() {
        check_list(
            branch,
            &format!("{path}.forkTasks[{b}]"),
            refs,
            has_dynamic,
            out,
        );
    }
    check_list(
        &t.loop_over,
        &format!("{path}.loopOver"),
        refs,
        has_dynamic,
        out,
    );
}
