//! Event handlers (`CONDUCTOR-API.md` §2.11, §3.9) and Baton's own event sink (§5.16).
//!
//! An EVENT task publishes its output to the sink: the message is recorded in the store's
//! append-only event log, then every active handler listening on the queue name is evaluated
//! in name order. A handler whose `condition` is absent, or true for the payload, runs its
//! actions in order; each action's string parameters are `${…}` expressions resolved against
//! the payload. A failing condition or action is logged and skipped; it never fails the
//! EVENT task or stops the other actions and handlers.

use crate::error::{Error, Result};
use crate::runtime::{Mutation, Runtime};
use baton_engine::expr::{resolve_value, to_text};
use baton_engine::validate::ValidationError;
use baton_model::{
    EventAction, EventActionType, EventHandler, JsonMap, PublishedEvent, StartWorkflowRequest,
    TaskDetails, TaskResult, TaskResultStatus,
};
use baton_store::StoreError;
use serde_json::Value;

/// The worker id recorded on task updates made by event handlers.
const EVENT_WORKER_ID: &str = "baton-event-handler";

/// The evaluator types a condition may name; JavaScript when absent.
const EVALUATORS: &[&str] = &["javascript", "graaljs", "value-param"];

impl Runtime {
    // ------------------------------------------------------------------ handler CRUD

    /// `POST /api/event`: 409 if a handler with the name exists.
    pub async fn create_event_handler(&self, handler: EventHandler) -> Result<()> {
        validate_handler(&handler)?;
        let name = handler.name.clone();
        self.store()
            .put_event_handler(handler, true)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => {
                    Error::Conflict(format!("EventHandler with name {name} already exists!"))
                }
                other => Error::Store(other),
            })
    }

    /// `PUT /api/event`: 404 if there is no handler with the name.
    pub async fn update_event_handler(&self, handler: EventHandler) -> Result<()> {
        validate_handler(&handler)?;
        let name = handler.name.clone();
        self.store()
            .put_event_handler(handler, false)
            .await
            .map_err(|e| handler_not_found(e, &name))
    }

    pub async fn list_event_handlers(&self) -> Result<Vec<EventHandler>> {
        Ok(self.store().list_event_handlers().await?)
    }

    /// The handlers listening on `event` (a queue name such as `conductor:<wf>:<ref>`).
    pub async fn event_handlers_for(
        &self,
        event: &str,
        active_only: bool,
    ) -> Result<Vec<EventHandler>> {
        Ok(self.store().event_handlers_for(event, active_only).await?)
    }

    /// `DELETE /api/event/{name}`: 404 if there is none.
    pub async fn delete_event_handler(&self, name: &str) -> Result<()> {
        self.store()
            .delete_event_handler(name)
            .await
            .map_err(|e| handler_not_found(e, name))
    }

    /// Messages published to Baton's own sink, newest first (at most `limit`, ≤ 1000).
    pub async fn published_events(
        &self,
        event: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PublishedEvent>> {
        Ok(self.store().published_events(event, limit).await?)
    }

    // ------------------------------------------------------------------ publishing

    /// Publishes `payload` to `queue` under a fresh message id; see [`Runtime::publish_message`].
    pub async fn publish_event(&self, queue: &str, payload: Value) -> Result<()> {
        self.publish_message(queue, &uuid::Uuid::new_v4().to_string(), payload)
            .await
    }

    /// Records the message in the event log (an error here is the only failure reported),
    /// then runs the active handlers listening on `queue`.
    pub async fn publish_message(
        &self,
        queue: &str,
        message_id: &str,
        payload: Value,
    ) -> Result<()> {
        self.store()
            .record_event(PublishedEvent {
                id: 0,
                message_id: message_id.to_string(),
                event: queue.to_string(),
                message: payload.clone(),
                time: self.now(),
            })
            .await?;
        let handlers = match self.store().event_handlers_for(queue, true).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(event = %queue, error = %e, "could not list event handlers");
                return Ok(());
            }
        };
        for handler in handlers {
            self.run_handler(&handler, queue, message_id, &payload)
                .await;
        }
        Ok(())
    }

    async fn run_handler(
        &self,
        handler: &EventHandler,
        queue: &str,
        message_id: &str,
        payload: &Value,
    ) {
        match condition_holds(handler, payload).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(handler = %handler.name, event = %queue, "event handler condition is false; skipped");
                return;
            }
            Err(e) => {
                tracing::warn!(handler = %handler.name, event = %queue, error = %e, "event handler condition failed; skipped");
                return;
            }
        }
        for (i, action) in handler.actions.iter().enumerate() {
            let scope = if action.expand_inline_json {
                expand_inline_json(payload.clone())
            } else {
                payload.clone()
            };
            if let Err(e) = self.run_action(action, queue, message_id, &scope).await {
                tracing::warn!(
                    handler = %handler.name,
                    event = %queue,
                    action = i,
                    kind = action.action.as_str(),
                    error = %e,
                    "event handler action failed"
                );
            }
        }
    }

    async fn run_action(
        &self,
        action: &EventAction,
        queue: &str,
        message_id: &str,
        scope: &Value,
    ) -> Result<()> {
        let missing = || {
            Error::Invalid(format!(
                "{}: missing for action {}",
                action.action.as_str(),
                action.action.as_str()
            ))
        };
        let stamp = |map: &mut JsonMap| {
            map.insert("conductor.event.messageId".into(), message_id.into());
            map.insert("conductor.event.name".into(), queue.into());
        };
        match action.action {
            EventActionType::StartWorkflow => {
                let spec = action.start_workflow.as_ref().ok_or_else(missing)?;
                let mut input = spec
                    .input
                    .as_ref()
                    .map(|m| resolve_map(m, scope))
                    .unwrap_or_default();
                stamp(&mut input);
                let req = StartWorkflowRequest {
                    name: resolve_text(&spec.name, scope).unwrap_or_default(),
                    version: spec.version,
                    correlation_id: spec
                        .correlation_id
                        .as_deref()
                        .and_then(|c| resolve_text(c, scope)),
                    input,
                    task_to_domain: spec
                        .task_to_domain
                        .as_ref()
                        .map(|m| {
                            m.iter()
                                .filter_map(|(k, v)| Some((k.clone(), resolve_text(v, scope)?)))
                                .collect()
                        })
                        .unwrap_or_default(),
                    ..StartWorkflowRequest::default()
                };
                let id = self.start_workflow(req).await?;
                tracing::debug!(event = %queue, workflow = %id, "event handler started a workflow");
                Ok(())
            }
            EventActionType::CompleteTask => {
                let spec = action.complete_task.as_ref().ok_or_else(missing)?;
                self.finish_task(spec, TaskResultStatus::Completed, scope, &stamp)
                    .await
            }
            EventActionType::FailTask => {
                let spec = action.fail_task.as_ref().ok_or_else(missing)?;
                self.finish_task(spec, TaskResultStatus::Failed, scope, &stamp)
                    .await
            }
            EventActionType::TerminateWorkflow => {
                let spec = action.terminate_workflow.as_ref().ok_or_else(missing)?;
                let id = resolve_text(&spec.workflow_id, scope)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        Error::Invalid("terminate_workflow.workflowId: resolved to nothing".into())
                    })?;
                let reason = spec
                    .termination_reason
                    .as_deref()
                    .and_then(|r| resolve_text(r, scope))
                    .unwrap_or_else(|| format!("Terminated by an event handler on {queue}"));
                self.terminate(&id, Some(reason), false).await
            }
            EventActionType::UpdateWorkflowVariables => {
                let spec = action
                    .update_workflow_variables
                    .as_ref()
                    .ok_or_else(missing)?;
                let id = resolve_text(&spec.workflow_id, scope)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        Error::Invalid(
                            "update_workflow_variables.workflowId: resolved to nothing".into(),
                        )
                    })?;
                let variables = resolve_map(&spec.variables, scope);
                self.update_workflow_variables(&id, variables, spec.append_array.unwrap_or(false))
                    .await
            }
        }
    }

    /// complete_task / fail_task: the task named by `taskId`, or else the first non-terminal
    /// task of `workflowId` with reference `taskRefName` (loop iterations match by base name).
    /// The resolved `output` is merged into the task's output.
    async fn finish_task(
        &self,
        spec: &TaskDetails,
        status: TaskResultStatus,
        scope: &Value,
        stamp: &(dyn Fn(&mut JsonMap) + Sync),
    ) -> Result<()> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .and_then(|s| resolve_text(s, scope))
                .filter(|s| !s.is_empty())
        };
        let task_id = text(&spec.task_id);
        let workflow_id = text(&spec.workflow_id);
        let reference = text(&spec.task_ref_name);
        let task = match (task_id, workflow_id, reference) {
            (Some(id), _, _) => self.get_task(&id).await?,
            (None, Some(wf), Some(reference)) => {
                let state =
                    self.store().load_workflow(&wf).await?.ok_or_else(|| {
                        Error::NotFound(format!("Workflow with id: {wf} not found."))
                    })?;
                state
                    .tasks
                    .into_iter()
                    .find(|t| {
                        !t.status.is_terminal()
                            && (t.reference_task_name == reference
                                || baton_engine::state::base_ref(&t.reference_task_name)
                                    == reference)
                    })
                    .ok_or_else(|| {
                        Error::NotFound(format!(
                            "No running task '{reference}' found in workflow {wf}"
                        ))
                    })?
            }
            _ => {
                return Err(Error::Invalid(
                    "the task is named by neither taskId nor workflowId + taskRefName".into(),
                ))
            }
        };
        let mut output = task.output_data.clone();
        if let Some(extra) = &spec.output {
            output.extend(resolve_map(extra, scope));
        }
        stamp(&mut output);
        let mut r = TaskResult::new(&task.workflow_instance_id, &task.task_id, status);
        r.output_data = Some(output);
        r.worker_id = Some(EVENT_WORKER_ID.to_string());
        if status == TaskResultStatus::Failed {
            r.reason_for_incompletion = text(&spec.reason_for_incompletion)
                .or_else(|| Some("Failed by an event handler".to_string()));
        }
        let resp = self.update_task(r).await?;
        if let Some(why) = resp.stale {
            tracing::debug!(task = %resp.task_id, reason = %why, "event handler update was stale");
        }
        Ok(())
    }

    /// Sets variables on a running (or paused) workflow. With `append_array`, a value given
    /// for a variable that holds a list is appended to it (a list given is concatenated).
    pub async fn update_workflow_variables(
        &self,
        workflow_id: &str,
        variables: JsonMap,
        append_array: bool,
    ) -> Result<()> {
        self.mutate(workflow_id, |st| {
            if st.workflow.status.is_terminal() {
                return Err(Error::Conflict(format!(
                    "Workflow {workflow_id} is in terminal state {:?}; its variables cannot be updated",
                    st.workflow.status
                )));
            }
            for (k, v) in &variables {
                match (append_array, st.workflow.variables.get_mut(k)) {
                    (true, Some(Value::Array(existing))) => match v {
                        Value::Array(more) => existing.extend(more.iter().cloned()),
                        one => existing.push(one.clone()),
                    },
                    _ => {
                        st.workflow.variables.insert(k.clone(), v.clone());
                    }
                }
            }
            Ok(Mutation::Changed((), Vec::new()))
        })
        .await
    }
}

fn handler_not_found(e: StoreError, name: &str) -> Error {
    match e {
        StoreError::NotFound(_) => {
            Error::NotFound(format!("EventHandler with name {name} not found!"))
        }
        other => Error::Store(other),
    }
}

/// Name, event and at least one action; each action carries the payload named after it,
/// and that payload names its target.
fn validate_handler(h: &EventHandler) -> Result<()> {
    let mut errors = Vec::new();
    let mut err = |path: String, message: &str| {
        errors.push(ValidationError {
            path,
            message: message.to_string(),
            invalid_value: None,
        })
    };
    if h.name.trim().is_empty() {
        err("name".into(), "Missing event handler name");
    }
    if h.event.trim().is_empty() {
        err("event".into(), "Missing event location");
    }
    if h.actions.is_empty() {
        err(
            "actions".into(),
            "No actions specified. Please specify at-least one action",
        );
    }
    if let Some(t) = h.evaluator_type.as_deref().filter(|t| !t.is_empty()) {
        if !EVALUATORS.contains(&t) {
            err(
                "evaluatorType".into(),
                "must be javascript, graaljs or value-param",
            );
        }
    }
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
    for (i, a) in h.actions.iter().enumerate() {
        let p = |f: &str| format!("actions[{i}].{f}");
        let kind = a.action.as_str();
        match a.action {
            EventActionType::StartWorkflow => match &a.start_workflow {
                None => err(p(kind), "missing for action start_workflow"),
                Some(s) if s.name.trim().is_empty() => {
                    err(p("start_workflow.name"), "cannot be empty")
                }
                Some(_) => {}
            },
            EventActionType::CompleteTask | EventActionType::FailTask => {
                let spec = if a.action == EventActionType::CompleteTask {
                    &a.complete_task
                } else {
                    &a.fail_task
                };
                match spec {
                    None => err(p(kind), &format!("missing for action {kind}")),
                    Some(t)
                        if blank(&t.task_id)
                            && (blank(&t.workflow_id) || blank(&t.task_ref_name)) =>
                    {
                        err(
                            p(&format!("{kind}.taskId")),
                            "name the task by taskId, or by workflowId and taskRefName",
                        )
                    }
                    Some(_) => {}
                }
            }
            EventActionType::TerminateWorkflow => match &a.terminate_workflow {
                None => err(p(kind), "missing for action terminate_workflow"),
                Some(t) if t.workflow_id.trim().is_empty() => {
                    err(p("terminate_workflow.workflowId"), "cannot be empty")
                }
                Some(_) => {}
            },
            EventActionType::UpdateWorkflowVariables => match &a.update_workflow_variables {
                None => err(p(kind), "missing for action update_workflow_variables"),
                Some(t) if t.workflow_id.trim().is_empty() => {
                    err(p("update_workflow_variables.workflowId"), "cannot be empty")
                }
                Some(_) => {}
            },
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// Whether the handler's condition holds for the payload (no condition: yes). JavaScript
/// runs on the blocking pool with the configured script limits; `value-param` reads the payload
/// key the condition names. Truthiness as Conductor's: true, or a number above zero.
async fn condition_holds(handler: &EventHandler, payload: &Value) -> Result<bool, String> {
    let Some(condition) = handler
        .condition
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    else {
        return Ok(true);
    };
    let result = match handler.evaluator_type.as_deref().unwrap_or("javascript") {
        "value-param" => payload.get(condition).cloned().unwrap_or(Value::Null),
        "" | "javascript" | "graaljs" => {
            let (script, input) = (condition.to_string(), payload.clone());
            tokio::task::spawn_blocking(move || {
                baton_script::eval_js(&script, &input, &baton_engine::systask::script_limits())
            })
            .await
            .map_err(|e| format!("condition evaluation did not finish: {e}"))?
            .map_err(|e| e.to_string())?
        }
        other => return Err(format!("unknown evaluatorType '{other}'")),
    };
    Ok(baton_engine::systask::truthy(&result))
}

/// A parameter map with every `${…}` resolved against the payload.
fn resolve_map(map: &JsonMap, scope: &Value) -> JsonMap {
    match resolve_value(&Value::Object(map.clone()), scope, None) {
        Value::Object(m) => m,
        _ => JsonMap::new(),
    }
}

/// A string parameter resolved against the payload; null is `None`, other values their text.
fn resolve_text(s: &str, scope: &Value) -> Option<String> {
    match resolve_value(&Value::String(s.to_string()), scope, None) {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(to_text(&other)),
    }
}

/// `expandInlineJSON`: string values that hold a JSON object or list become that value,
/// recursively.
fn expand_inline_json(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, expand_inline_json(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(expand_inline_json).collect()),
        Value::String(s) => {
            let t = s.trim_start();
            if t.starts_with('{') || t.starts_with('[') {
                match serde_json::from_str::<Value>(&s) {
                    Ok(parsed) => expand_inline_json(parsed),
                    Err(_) => Value::String(s),
                }
            } else {
                Value::String(s)
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn handler(v: Value) -> EventHandler {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn validation_names_the_field() {
        let e = validate_handler(&handler(json!({"name": "", "event": "e", "actions": []})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("name") && e.contains("actions"), "{e}");
        let e = validate_handler(&handler(json!({
            "name": "n", "event": "e",
            "actions": [{"action": "complete_task"}]
        })))
        .unwrap_err()
        .to_string();
        assert!(e.contains("actions[0].complete_task"), "{e}");
        validate_handler(&handler(json!({
            "name": "n", "event": "e",
            "actions": [{"action": "complete_task",
                         "complete_task": {"workflowId": "${w}", "taskRefName": "x"}}]
        })))
        .unwrap();
    }

    #[test]
    fn resolves_against_the_payload() {
        let payload = json!({"workflowInstanceId": "w1", "n": 3, "o": {"x": [1]}});
        assert_eq!(
            resolve_text("${workflowInstanceId}", &payload).as_deref(),
            Some("w1")
        );
        assert_eq!(resolve_text("${n}", &payload).as_deref(), Some("3"));
        assert_eq!(resolve_text("${missing}", &payload), None);
        let m = resolve_map(
            json!({"a": "${o.x}", "b": "id-${workflowInstanceId}"})
                .as_object()
                .unwrap(),
            &payload,
        );
        assert_eq!(Value::Object(m), json!({"a": [1], "b": "id-w1"}));
    }

    #[test]
    fn expands_inline_json() {
        let v = expand_inline_json(json!({"a": "{\"b\": \"[1,2]\"}", "c": "{not json", "d": 1}));
        assert_eq!(v, json!({"a": {"b": [1, 2]}, "c": "{not json", "d": 1}));
    }

    #[tokio::test]
    async fn conditions() {
        let payload = json!({"x": 2, "flag": true});
        let mk = |cond: &str, ev: Option<&str>| EventHandler {
            condition: Some(cond.into()),
            evaluator_type: ev.map(str::to_string),
            ..handler(json!({"name": "n", "event": "e"}))
        };
        assert!(condition_holds(&mk("$.x > 1", None), &payload)
            .await
            .unwrap());
        assert!(!condition_holds(&mk("$.x > 5", None), &payload)
            .await
            .unwrap());
        assert!(condition_holds(&mk("flag", Some("value-param")), &payload)
            .await
            .unwrap());
        assert!(condition_holds(&mk("syntax error (", None), &payload)
            .await
            .is_err());
        assert!(condition_holds(&mk("", None), &payload).await.unwrap());
    }
}
