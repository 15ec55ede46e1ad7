//! How a workflow presents itself to expressions: the `workflow` object and each task's
//! object under its reference name, built key by key so that a path into them borrows
//! instead of copying the whole document.

use crate::expr::{Node, Scope};
use crate::state::ExecState;
use baton_model::{Task, Workflow};
use serde_json::Value;
use std::borrow::Cow;

/// The keys of the expression document's `workflow` object, in the order it lists them.
pub(crate) const WORKFLOW_KEYS: &[&str] = &[
    "input",
    "output",
    "variables",
    "status",
    "workflowId",
    "parentWorkflowId",
    "parentWorkflowTaskId",
    "workflowType",
    "version",
    "correlationId",
    "reasonForIncompletion",
    "schemaVersion",
    "createTime",
    "taskToDomain",
    "priority",
];

/// The keys of a task as the expression document presents it.
pub(crate) const TASK_KEYS: &[&str] = &[
    "input",
    "output",
    "taskType",
    "status",
    "referenceTaskName",
    "retryCount",
    "correlationId",
    "pollCount",
    "taskDefName",
    "scheduledTime",
    "startTime",
    "endTime",
    "workflowInstanceId",
    "taskId",
    "reasonForIncompletion",
    "callbackAfterSeconds",
    "workerId",
    "iteration",
    "domain",
];

fn object_of<'a>(keys: &[&str], field: impl Fn(&str) -> Option<Node<'a>>) -> Value {
    Value::Object(
        keys.iter()
            .filter_map(|k| Some(((*k).to_owned(), field(k)?.into_value())))
            .collect(),
    )
}

fn owned(v: impl Into<Value>) -> Option<Node<'static>> {
    Some(Node::Owned(v.into()))
}

/// One key of the `workflow` object: the maps borrowed, scalars built.
fn workflow_field<'a>(w: &'a Workflow, key: &str) -> Option<Node<'a>> {
    match key {
        "input" => Some(Node::Map(&w.input)),
        "output" => Some(Node::Map(&w.output)),
        "variables" => Some(Node::Map(&w.variables)),
        "status" => owned(w.status.as_str()),
        "workflowId" => owned(w.workflow_id.as_str()),
        "parentWorkflowId" => owned(w.parent_workflow_id.clone()),
        "parentWorkflowTaskId" => owned(w.parent_workflow_task_id.clone()),
        "workflowType" => owned(w.workflow_name.as_str()),
        "version" => owned(w.workflow_version),
        "correlationId" => owned(w.correlation_id.clone()),
        "reasonForIncompletion" => owned(w.reason_for_incompletion.clone()),
        "schemaVersion" => owned(2),
        "createTime" => owned(w.create_time),
        "taskToDomain" => owned(Value::Object(
            w.task_to_domain
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )),
        "priority" => owned(w.priority),
        _ => None,
    }
}

/// One key of a task's object: input and output borrowed, scalars built.
fn task_field<'a>(t: &'a Task, key: &str) -> Option<Node<'a>> {
    match key {
        "input" => Some(Node::Map(&t.input_data)),
        "output" => Some(Node::Map(&t.output_data)),
        "taskType" => owned(t.task_type.as_str()),
        "status" => owned(t.status.as_str()),
        "referenceTaskName" => owned(t.reference_task_name.as_str()),
        "retryCount" => owned(t.retry_count),
        "correlationId" => owned(t.correlation_id.clone()),
        "pollCount" => owned(t.poll_count),
        "taskDefName" => owned(t.task_def_name.as_str()),
        "scheduledTime" => owned(t.scheduled_time),
        "startTime" => owned(t.start_time),
        "endTime" => owned(t.end_time),
        "workflowInstanceId" => owned(t.workflow_instance_id.as_str()),
        "taskId" => owned(t.task_id.as_str()),
        "reasonForIncompletion" => owned(t.reason_for_incompletion.clone()),
        "callbackAfterSeconds" => owned(t.callback_after_seconds),
        "workerId" => owned(t.worker_id.clone()),
        "iteration" => owned(t.iteration),
        "domain" => owned(t.domain.clone()),
        _ => None,
    }
}

/// A task as the expression document presents it under its reference name.
pub fn task_object(t: &Task) -> Value {
    object_of(TASK_KEYS, |k| task_field(t, k))
}

impl ExecState {
    /// The expression document's `workflow` object (built whole only for `${workflow}`
    /// itself; paths into it go through [`Scope::field`]).
    pub fn workflow_object(&self) -> Value {
        object_of(WORKFLOW_KEYS, |k| workflow_field(&self.workflow, k))
    }

    /// The task a reference names: the latest attempt; loop tasks answer to their base name
    /// (latest iteration wins).
    fn task_for_ref(&self, root: &str) -> Option<&Task> {
        self.tasks.latest_by_root(root).map(|i| &self.tasks[i])
    }
}

impl Scope for ExecState {
    fn lookup(&self, root: &str) -> Option<Cow<'_, Value>> {
        if root == "workflow" {
            return Some(Cow::Owned(self.workflow_object()));
        }
        self.task_for_ref(root).map(|t| Cow::Owned(task_object(t)))
    }

    fn field(&self, root: &str, key: &str) -> Option<Node<'_>> {
        if root == "workflow" {
            return workflow_field(&self.workflow, key);
        }
        task_field(self.task_for_ref(root)?, key)
    }
}
