//! Event handlers (`CONDUCTOR-API.md` §2.11, §3.9) and the events Baton's own sink records.
//!
//! Payload keys of an action are snake_case (`start_workflow`, `complete_task`, …) as in
//! Conductor's `Action`; the fields inside them are camelCase.

use crate::JsonMap;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// `{"name", "event", "condition", "evaluatorType", "active", "actions": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventHandler {
    #[serde(default)]
    pub name: String,
    /// The queue the handler listens on, e.g. `conductor:<workflow>:<taskRef>`.
    #[serde(default)]
    pub event: String,
    /// A boolean expression over the message payload (JavaScript unless `evaluatorType`
    /// says otherwise); empty or absent = always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `javascript` (default, also `graaljs`) or `value-param`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator_type: Option<String>,
    /// Absent: inactive, as in Conductor (a handler fires only once switched on).
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub actions: Vec<EventAction>,
}

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventActionType {
    StartWorkflow,
    CompleteTask,
    FailTask,
    TerminateWorkflow,
    UpdateWorkflowVariables,
}

impl EventActionType {
    /// The wire name, which is also the name of the action's payload field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventActionType::StartWorkflow => "start_workflow",
            EventActionType::CompleteTask => "complete_task",
            EventActionType::FailTask => "fail_task",
            EventActionType::TerminateWorkflow => "terminate_workflow",
            EventActionType::UpdateWorkflowVariables => "update_workflow_variables",
        }
    }
}

/// One action of a handler: the type and the payload named after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventAction {
    pub action: EventActionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_workflow: Option<StartWorkflowAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_task: Option<TaskDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_task: Option<TaskDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminate_workflow: Option<TerminateWorkflowAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_workflow_variables: Option<UpdateWorkflowVariablesAction>,
    /// Parse string values of the payload that hold JSON objects or lists before the
    /// action's parameters are resolved.
    #[serde(rename = "expandInlineJSON", default, skip_serializing_if = "is_false")]
    pub expand_inline_json: bool,
}

/// `start_workflow {name, version, correlationId, input, taskToDomain}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StartWorkflowAction {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<JsonMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_to_domain: Option<IndexMap<String, String>>,
}

/// `complete_task` / `fail_task {workflowId, taskRefName, output, taskId,
/// reasonForIncompletion}`: the task is named by `taskId`, or by `workflowId` + `taskRefName`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ref_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<JsonMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_for_incompletion: Option<String>,
}

/// `terminate_workflow {workflowId, terminationReason}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TerminateWorkflowAction {
    #[serde(default)]
    pub workflow_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_reason: Option<String>,
}

/// `update_workflow_variables {workflowId, variables, appendArray}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWorkflowVariablesAction {
    #[serde(default)]
    pub workflow_id: String,
    #[serde(default)]
    pub variables: JsonMap,
    /// Append to list variables instead of replacing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_array: Option<bool>,
}

/// One message published to Baton's own event sink (a Baton extension, not Conductor's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedEvent {
    /// Store-assigned, increasing; 0 until written.
    #[serde(default)]
    pub id: i64,
    /// The message id (for an EVENT task, its task id).
    pub message_id: String,
    /// The queue name, e.g. `conductor:<workflow>:<taskRef>`.
    pub event: String,
    /// The payload.
    pub message: serde_json::Value,
    /// Epoch milliseconds.
    pub time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_conductor_shape() {
        let wire = json!({
            "name": "h", "event": "conductor:wf:ev", "condition": "$.x > 1",
            "active": false,
            "actions": [
                {"action": "start_workflow", "expandInlineJSON": true,
                 "start_workflow": {"name": "w", "version": 2, "input": {"a": "${x}"}}},
                {"action": "complete_task",
                 "complete_task": {"workflowId": "${wid}", "taskRefName": "wait", "output": {}}}
            ]
        });
        let h: EventHandler = serde_json::from_value(wire.clone()).unwrap();
        assert!(!h.active);
        assert_eq!(h.actions[0].action, EventActionType::StartWorkflow);
        assert!(h.actions[0].expand_inline_json);
        assert_eq!(serde_json::to_value(&h).unwrap(), wire);
        let minimal: EventHandler =
            serde_json::from_value(json!({"name": "n", "event": "e"})).unwrap();
        assert!(!minimal.active, "active defaults to false, as in Conductor");
    }
}
