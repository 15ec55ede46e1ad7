//! Definitions: `TaskDef`, `WorkflowDef` and the `WorkflowTask` nodes of a definition (§3.1–3.4).

use crate::{JsonMap, RetryLogic, TimeoutPolicy, WorkflowTimeoutPolicy};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn default_true() -> bool {
    true
}
fn default_retry_count() -> i32 {
    3
}
fn default_retry_delay() -> i32 {
    60
}
fn default_response_timeout() -> i64 {
    3600
}
fn default_one() -> i32 {
    1
}
fn default_schema_version() -> i32 {
    2
}
fn default_simple() -> String {
    "SIMPLE".to_string()
}

/// A registered task type: retry, timeout and rate-limit settings (§3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDef {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "default_retry_count")]
    pub retry_count: i32,
    #[serde(default)]
    pub timeout_seconds: i64,
    #[serde(default)]
    pub input_keys: Vec<String>,
    #[serde(default)]
    pub output_keys: Vec<String>,
    /// Keys of server-side metadata handed to the worker (newer Conductor); kept and
    /// returned, always emitted (`[]` by default) as Conductor does.
    #[serde(
        default,
        skip_serializing_if = "crate::wire::skip_empty_vec",
        deserialize_with = "crate::lenient::null_as_default"
    )]
    pub runtime_metadata: Vec<String>,
    #[serde(default)]
    pub timeout_policy: TimeoutPolicy,
    #[serde(default)]
    pub retry_logic: RetryLogic,
    #[serde(default = "default_retry_delay")]
    pub retry_delay_seconds: i32,
    #[serde(default = "default_response_timeout")]
    pub response_timeout_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_exec_limit: Option<i32>,
    #[serde(default)]
    pub input_template: JsonMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_frequency: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_frequency_in_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_name_space: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_timeout_seconds: Option<i32>,
    #[serde(default = "default_one")]
    pub backoff_scale_factor: i32,
    #[serde(default)]
    pub max_retry_delay_seconds: i32,
    #[serde(default)]
    pub backoff_jitter_ms: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_type: Option<String>,
    #[serde(default)]
    pub total_timeout_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(default)]
    pub enforce_schema: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_app: Option<String>,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub update_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Conductor's listener flag (true by default there); kept and returned, not acted on.
    #[serde(default = "default_true")]
    pub task_status_listener_enabled: bool,
    /// Free-form metadata, kept as given.
    #[serde(default, skip_serializing_if = "JsonMap::is_empty")]
    pub metadata: JsonMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

impl TaskDef {
    /// A TaskDef with every field at its Conductor default.
    pub fn named(name: impl Into<String>) -> Self {
        let mut def: TaskDef = serde_json::from_value(serde_json::json!({}))
            .expect("an empty object deserialises with defaults");
        def.name = name.into();
        def
    }

    /// The in-memory definition Conductor creates for an unregistered task: worker tasks get
    /// every default, system tasks get no retries and no response timeout (§4.1).
    pub fn ad_hoc(name: &str, is_system: bool) -> Self {
        let mut def = TaskDef::named(name);
        if is_system {
            def.retry_count = 0;
            def.response_timeout_seconds = 0;
        }
        def
    }
}

/// Parameters of a SUB_WORKFLOW node (§3.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SubWorkflowParams {
    /// A name, or a `${...}` expression resolved when the task is scheduled.
    #[serde(default)]
    pub name: String,
    /// A number, a numeric string, or a `${...}` expression yielding one (Conductor accepts
    /// all three); kept as given. Absent: the latest version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_to_domain: Option<IndexMap<String, String>>,
    /// An inline WorkflowDef object, or a `${...}` expression yielding one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_definition: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_strategy: Option<crate::IdempotencyStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Value>,
}

/// One node of a workflow definition (§3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowTask {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub task_reference_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub input_parameters: JsonMap,
    #[serde(
        rename = "type",
        alias = "workflowTaskType",
        default = "default_simple"
    )]
    pub task_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_task_name_param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_value_param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_expression: Option<String>,
    #[serde(default, skip_serializing_if = "crate::wire::skip_empty_index_map")]
    pub decision_cases: IndexMap<String, Vec<WorkflowTask>>,
    #[serde(default, skip_serializing_if = "crate::wire::skip_empty_vec")]
    pub default_case: Vec<WorkflowTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_fork_tasks_param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_fork_tasks_input_param_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_fork_join_tasks_param: Option<String>,
    #[serde(default, skip_serializing_if = "crate::wire::skip_empty_vec")]
    pub fork_tasks: Vec<Vec<WorkflowTask>>,
    #[serde(default, skip_serializing_if = "crate::wire::skip_empty_vec")]
    pub join_on: Vec<String>,
    #[serde(default)]
    pub start_delay: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_workflow_param: Option<SubWorkflowParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<TaskDef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited: Option<bool>,
    #[serde(default, skip_serializing_if = "crate::wire::skip_empty_vec")]
    pub default_exclusive_join_task: Vec<String>,
    #[serde(default)]
    pub async_complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_condition: Option<String>,
    #[serde(default, skip_serializing_if = "crate::wire::skip_empty_vec")]
    pub loop_over: Vec<WorkflowTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// `{"onScheduled,onStart": [{"type", "payload"}]}`; kept and returned (`{}` by default).
    #[serde(
        default,
        skip_serializing_if = "crate::wire::skip_empty_map",
        deserialize_with = "crate::lenient::null_as_default"
    )]
    pub on_state_change: JsonMap,
    #[serde(default, skip_serializing_if = "crate::wire::skip_false")]
    pub permissive: bool,
    /// An Orkes field Conductor's model carries; kept and returned, not acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_config: Option<Value>,
    #[serde(default, skip_serializing_if = "crate::wire::skip_empty_map")]
    pub metadata: JsonMap,
}

impl WorkflowTask {
    /// A node of the given type with every other field at its default.
    pub fn new(name: &str, reference: &str, task_type: &str) -> Self {
        let mut t: WorkflowTask = serde_json::from_value(serde_json::json!({}))
            .expect("an empty object deserialises with defaults");
        t.name = name.to_string();
        t.task_reference_name = reference.to_string();
        t.task_type = task_type.to_string();
        t
    }

    /// The nested task lists this node owns (branches, loop body), in definition order.
    pub fn children(&self) -> Vec<&Vec<WorkflowTask>> {
        let mut out: Vec<&Vec<WorkflowTask>> = Vec::new();
        out.extend(self.decision_cases.values());
        if !self.default_case.is_empty() {
            out.push(&self.default_case);
        }
        out.extend(self.fork_tasks.iter());
        if !self.loop_over.is_empty() {
            out.push(&self.loop_over);
        }
        out
    }
}

/// A workflow definition (§3.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDef {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "default_one")]
    pub version: i32,
    #[serde(default)]
    pub tasks: Vec<WorkflowTask>,
    #[serde(default)]
    pub input_parameters: Vec<String>,
    #[serde(default)]
    pub output_parameters: JsonMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_workflow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_workflow_version: Option<i32>,
    #[serde(default = "default_schema_version")]
    pub schema_version: i32,
    #[serde(default = "default_true")]
    pub restartable: bool,
    #[serde(default)]
    pub workflow_status_listener_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_status_listener_sink: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    #[serde(default)]
    pub timeout_policy: WorkflowTimeoutPolicy,
    #[serde(default)]
    pub timeout_seconds: i64,
    #[serde(default)]
    pub variables: JsonMap,
    #[serde(default)]
    pub input_template: JsonMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(default = "default_true")]
    pub enforce_schema: bool,
    #[serde(default)]
    pub metadata: JsonMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_config: Option<Value>,
    #[serde(default)]
    pub masked_fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_app: Option<String>,
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub update_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl WorkflowDef {
    /// Conductor's classifier of a definition, from its `metadata`: an explicit non-blank
    /// `classifier` string; else `agent` when an agent SDK stamped it (`agent_sdk` or
    /// `agentDef` present); else `workflow`.
    pub fn classifier(&self) -> &str {
        match self.metadata.get("classifier") {
            Some(Value::String(c)) if !c.trim().is_empty() => c,
            _ if ["agent_sdk", "agentDef"]
                .iter()
                .any(|k| self.metadata.get(*k).is_some_and(|v| !v.is_null())) =>
            {
                "agent"
            }
            _ => "workflow",
        }
    }

    /// Visits every node of the definition, depth first, in definition order.
    pub fn for_each_task<'a>(&'a self, f: &mut dyn FnMut(&'a WorkflowTask)) {
        fn walk<'a>(list: &'a [WorkflowTask], f: &mut dyn FnMut(&'a WorkflowTask)) {
            for t in list {
                f(t);
                for child in t.children() {
                    walk(child, f);
                }
            }
        }
        walk(&self.tasks, f);
    }

    /// Mutable variant of [`WorkflowDef::for_each_task`].
    pub fn for_each_task_mut(&mut self, f: &mut dyn FnMut(&mut WorkflowTask)) {
        fn walk(list: &mut [WorkflowTask], f: &mut dyn FnMut(&mut WorkflowTask)) {
            for t in list {
                f(t);
                for branch in t.decision_cases.values_mut() {
                    walk(branch, f);
                }
                walk(&mut t.default_case, f);
                for branch in t.fork_tasks.iter_mut() {
                    walk(branch, f);
                }
                walk(&mut t.loop_over, f);
            }
        }
        walk(&mut self.tasks, f);
    }
}

/// Name, version and audit times of one stored definition version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDefSummary {
    pub name: String,
    pub version: i32,
    pub create_time: i64,
    pub update_time: i64,
}
