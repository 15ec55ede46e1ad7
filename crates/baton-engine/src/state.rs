//! [`ExecState`]: one workflow loaded for one decision, with a record of what changed.
//!
//! Every mutation goes through a method here so that nothing is forgotten at commit time:
//! changed task rows are marked dirty, status changes append history events, and queue
//! entries are pushed or removed alongside the task that needs them.

use crate::expr::Scope;
use baton_model::{
    HistoryEvent, JsonMap, QueueEntry, Task, TaskDef, TaskStatus, Workflow, WorkflowDef,
    WorkflowStatus, WorkflowTask,
};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Where a node sits in its definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Top,
    Case(String),
    Default,
    Branch(usize),
    Loop,
}

#[derive(Debug, Clone)]
pub struct Location {
    /// Reference name of the node owning the list this node is in (None at top level).
    pub parent: Option<String>,
    pub step: Step,
    pub index: usize,
}

/// Reference name → position of every node of a definition, for walking to successors.
#[derive(Debug, Clone, Default)]
pub struct DefIndex {
    locations: HashMap<String, Location>,
    /// Whether deciding may run a script (JavaScript or jq), which can take up to its time
    /// limit; the runtime then decides off the async threads.
    pub has_scripts: bool,
}

impl DefIndex {
    pub fn build(def: &WorkflowDef) -> Self {
        fn walk(
            list: &[WorkflowTask],
            parent: Option<&str>,
            step: Step,
            out: &mut HashMap<String, Location>,
        ) {
            for (index, t) in list.iter().enumerate() {
                out.insert(
                    t.task_reference_name.clone(),
                    Location {
                        parent: parent.map(str::to_string),
                        step: step.clone(),
                        index,
                    },
                );
                let me = Some(t.task_reference_name.as_str());
                for (k, branch) in &t.decision_cases {
                    walk(branch, me, Step::Case(k.clone()), out);
                }
                walk(&t.default_case, me, Step::Default, out);
                for (b, branch) in t.fork_tasks.iter().enumerate() {
                    walk(branch, me, Step::Branch(b), out);
                }
                walk(&t.loop_over, me, Step::Loop, out);
            }
        }
        let mut locations = HashMap::new();
        walk(&def.tasks, None, Step::Top, &mut locations);
        let mut has_scripts = false;
        def.for_each_task(&mut |t| {
            has_scripts |= matches!(
                t.task_type.as_str(),
                "INLINE" | "LAMBDA" | "DO_WHILE" | "JSON_JQ_TRANSFORM" | "FORK_JOIN_DYNAMIC"
            ) || (t.task_type == "SWITCH"
                && t.evaluator_type.as_deref() != Some("value-param"))
                || (t.task_type == "DECISION" && t.case_expression.is_some());
        });
        DefIndex {
            locations,
            has_scripts,
        }
    }

    pub fn location(&self, reference: &str) -> Option<&Location> {
        self.locations.get(reference)
    }

    /// The list a location points into.
    pub fn list<'d>(&self, def: &'d WorkflowDef, loc: &Location) -> Option<&'d [WorkflowTask]> {
        let Some(parent) = &loc.parent else {
            return Some(&def.tasks);
        };
        let owner = self.node(def, parent)?;
        match &loc.step {
            Step::Top => Some(&def.tasks),
            Step::Case(k) => owner.decision_cases.get(k).map(Vec::as_slice),
            Step::Default => Some(&owner.default_case),
            Step::Branch(b) => owner.fork_tasks.get(*b).map(Vec::as_slice),
            Step::Loop => Some(&owner.loop_over),
        }
    }

    /// The definition node with this reference name (loop suffixes must be stripped first).
    pub fn node<'d>(&self, def: &'d WorkflowDef, reference: &str) -> Option<&'d WorkflowTask> {
        let loc = self.locations.get(reference)?;
        self.list(def, loc)?.get(loc.index)
    }

    /// Reference names of every node under `owner` (its branches or loop body), recursively.
    pub fn descendants(&self, def: &WorkflowDef, owner: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(node) = self.node(def, owner) {
            for list in node.children() {
                for t in list {
                    out.push(t.task_reference_name.clone());
                    out.extend(self.descendants(def, &t.task_reference_name));
                }
            }
        }
        out
    }
}

/// Strips a DO_WHILE iteration suffix: `check__2` → `check`.
pub fn base_ref(reference: &str) -> &str {
    match reference.rfind("__") {
        Some(pos)
            if pos > 0
                && reference[pos + 2..].chars().all(|c| c.is_ascii_digit())
                && pos + 2 < reference.len() =>
        {
            &reference[..pos]
        }
        _ => reference,
    }
}

/// Something the runtime must do to *other* workflows because of this commit. The runtime
/// stores each one with the commit (a durable follow-up) and carries it out afterwards, so
/// a crash cannot lose it; carrying one out twice is harmless.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Effect {
    /// Start the definition's failure workflow for this failed workflow.
    StartFailureWorkflow {
        /// Chosen by the decider and recorded in the failed workflow's output
        /// (`conductor.failure_workflow`) in the same commit.
        workflow_id: String,
        name: String,
        version: Option<i32>,
        input: JsonMap,
        correlation_id: Option<String>,
        task_to_domain: indexmap::IndexMap<String, String>,
    },
    /// Terminate a workflow (a running child of a workflow that ended).
    TerminateWorkflow { workflow_id: String, reason: String },
}

/// Limits the decider enforces, set by the runtime from its configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineLimits {
    /// Most iterations one DO_WHILE task may run; the next one fails it for good.
    pub max_loop_iterations: u32,
    /// Wall time one decision may spend before it yields (the rest continues right after,
    /// as a new decision), so that an operation waiting for the workflow (a terminate, a
    /// task update) gets its turn within about this long. `None`: only the step bound.
    pub decision_time_budget: Option<std::time::Duration>,
}

impl EngineLimits {
    /// Default of [`EngineLimits::max_loop_iterations`].
    pub const DEFAULT_MAX_LOOP_ITERATIONS: u32 = 10_000;
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            max_loop_iterations: Self::DEFAULT_MAX_LOOP_ITERATIONS,
            decision_time_budget: None,
        }
    }
}

/// A workflow loaded for one decision.
#[derive(Debug, Clone)]
pub struct ExecState {
    pub workflow: Workflow,
    pub def: Arc<WorkflowDef>,
    pub index: Arc<DefIndex>,
    pub tasks: Vec<Task>,
    /// The stored version this state was read at; None for a new workflow.
    pub version: Option<i64>,
    pub now: i64,
    dirty: Vec<bool>,
    pub queue_push: Vec<QueueEntry>,
    pub queue_remove: Vec<String>,
    pub removed_tasks: Vec<String>,
    pub history: Vec<HistoryEvent>,
    pub wake: Vec<(String, i64)>,
    pub effects: Vec<Effect>,
    pub next_wake_at: Option<i64>,
    /// Set when a decision stopped early (too much work in one go) and must continue soon.
    pub needs_more: bool,
    /// Limits the decider enforces on this workflow.
    pub limits: EngineLimits,
    /// Registered task definitions, for tasks whose node does not carry one (DYNAMIC and
    /// dynamically forked tasks).
    pub registry: Option<Arc<HashMap<String, TaskDef>>>,
    /// (task type, domain) pairs a worker polled lately, for choosing among the domains of a
    /// `taskToDomain` list; supplied by the runtime from poll data.
    pub active_domains: Option<Arc<std::collections::HashSet<(String, String)>>>,
}

impl ExecState {
    pub fn new(
        workflow: Workflow,
        def: Arc<WorkflowDef>,
        index: Arc<DefIndex>,
        tasks: Vec<Task>,
        version: Option<i64>,
        now: i64,
    ) -> Self {
        let dirty = vec![false; tasks.len()];
        ExecState {
            workflow,
            def,
            index,
            tasks,
            version,
            now,
            dirty,
            queue_push: Vec::new(),
            queue_remove: Vec::new(),
            removed_tasks: Vec::new(),
            history: Vec::new(),
            wake: Vec::new(),
            effects: Vec::new(),
            next_wake_at: None,
            needs_more: false,
            limits: EngineLimits::default(),
            registry: None,
            active_domains: None,
        }
    }

    /// The task rows that changed or were created.
    pub fn dirty_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks
            .iter()
            .zip(self.dirty.iter())
            .filter(|(_, d)| **d)
            .map(|(t, _)| t)
    }

    pub fn is_dirty(&self, i: usize) -> bool {
        self.dirty.get(i).copied().unwrap_or(false)
    }

    pub fn mark_dirty(&mut self, i: usize) {
        if let Some(d) = self.dirty.get_mut(i) {
            *d = true;
        }
    }

    /// Replaces the task list (after deletions), with the dirty flag of each kept task.
    pub fn replace_tasks(&mut self, tasks: Vec<Task>, dirty: Vec<bool>) {
        self.tasks = tasks;
        self.dirty = dirty;
        self.dirty.resize(self.tasks.len(), false);
    }

    pub fn find_task(&self, task_id: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.task_id == task_id)
    }

    /// The latest non-retried attempt with exactly this reference name.
    pub fn latest_by_ref(&self, reference: &str) -> Option<usize> {
        self.tasks
            .iter()
            .rposition(|t| t.reference_task_name == reference)
    }

    /// Appends a new task (SCHEDULED or already in its first status) and records history.
    pub fn add_task(&mut self, task: Task) -> usize {
        self.history.push(HistoryEvent::task(&task, self.now));
        self.tasks.push(task);
        self.dirty.push(true);
        self.tasks.len() - 1
    }

    /// Changes a task's status, stamping times and recording history.
    pub fn set_status(&mut self, i: usize, status: TaskStatus) {
        let now = self.now;
        let Some(t) = self.tasks.get_mut(i) else {
            return;
        };
        if t.status == status {
            return;
        }
        // Only a SCHEDULED task has a queue entry (a poll removes it when it claims the task).
        let queued = t.status == TaskStatus::Scheduled;
        t.status = status;
        t.update_time = now;
        if status.is_terminal() && t.end_time == 0 {
            t.end_time = now;
        }
        if status == TaskStatus::InProgress && t.start_time == 0 {
            t.start_time = now;
        }
        let ev = HistoryEvent::task(t, now);
        self.history.push(ev);
        self.mark_dirty(i);
        if status.is_terminal() && queued {
            let id = self.tasks[i].task_id.clone();
            self.queue_remove.push(id);
        }
    }

    pub fn set_workflow_status(&mut self, status: WorkflowStatus, reason: Option<String>) {
        self.workflow.status = status;
        self.workflow.update_time = self.now;
        if status.is_terminal() {
            self.workflow.end_time = self.now;
        }
        if reason.is_some() {
            self.workflow.reason_for_incompletion = reason.clone();
        }
        self.history.push(HistoryEvent::workflow(
            &self.workflow.workflow_id,
            status.as_str(),
            self.now,
            reason,
        ));
    }

    /// Puts a task in its queue, pollable from `visible_at`.
    pub fn enqueue(&mut self, i: usize, visible_at: i64) {
        let t = &self.tasks[i];
        self.queue_push.push(QueueEntry {
            queue: t.queue_name(),
            task_id: t.task_id.clone(),
            workflow_id: t.workflow_instance_id.clone(),
            priority: self.workflow.priority,
            visible_at,
        });
    }

    /// Wakes the workflow at `at` at the latest.
    pub fn wake_at(&mut self, at: i64) {
        self.next_wake_at = Some(self.next_wake_at.map_or(at, |w| w.min(at)));
    }

    /// The definition node of a task (loop suffix stripped). Tasks forked dynamically are
    /// not in the definition; their nodes are kept in the input of the FORK that made them.
    pub fn node_of(&self, task: &Task) -> Option<Cow<'_, WorkflowTask>> {
        let reference = base_ref(&task.reference_task_name);
        if let Some(node) = self.index.node(&self.def, reference) {
            return Some(Cow::Borrowed(node));
        }
        self.tasks
            .iter()
            .filter(|t| t.task_type == crate::systask::FORK)
            .filter_map(|t| t.input_data.get("forkedTaskDefs"))
            .filter_map(|v| v.as_array())
            .flatten()
            .find(|v| v.get("taskReferenceName").and_then(Value::as_str) == Some(reference))
            .and_then(|v| serde_json::from_value::<WorkflowTask>(v.clone()).ok())
            .map(Cow::Owned)
    }

    /// The TaskDef that governs a task: the one captured in the definition node at start,
    /// else the registered one (dynamic tasks), else Conductor's ad-hoc defaults.
    pub fn task_def_of(&self, task: &Task) -> TaskDef {
        if let Some(d) = self.node_of(task).and_then(|n| n.task_definition.clone()) {
            return d;
        }
        if let Some(d) = self
            .registry
            .as_ref()
            .and_then(|r| r.get(&task.task_def_name))
        {
            return d.clone();
        }
        TaskDef::ad_hoc(
            &task.task_def_name,
            crate::systask::is_system(&task.task_type),
        )
    }

    /// The expression document's `workflow` object.
    pub fn workflow_object(&self) -> Value {
        let w = &self.workflow;
        json!({
            "input": w.input,
            "output": w.output,
            "variables": w.variables,
            "status": w.status.as_str(),
            "workflowId": w.workflow_id,
            "parentWorkflowId": w.parent_workflow_id,
            "parentWorkflowTaskId": w.parent_workflow_task_id,
            "workflowType": w.workflow_name,
            "version": w.workflow_version,
            "correlationId": w.correlation_id,
            "reasonForIncompletion": w.reason_for_incompletion,
            "schemaVersion": 2,
            "createTime": w.create_time,
            "taskToDomain": w.task_to_domain,
            "priority": w.priority,
        })
    }
}

/// A task as the expression document presents it under its reference name.
pub fn task_object(t: &Task) -> Value {
    json!({
        "input": t.input_data,
        "output": t.output_data,
        "taskType": t.task_type,
        "status": t.status.as_str(),
        "referenceTaskName": t.reference_task_name,
        "retryCount": t.retry_count,
        "correlationId": t.correlation_id,
        "pollCount": t.poll_count,
        "taskDefName": t.task_def_name,
        "scheduledTime": t.scheduled_time,
        "startTime": t.start_time,
        "endTime": t.end_time,
        "workflowInstanceId": t.workflow_instance_id,
        "taskId": t.task_id,
        "reasonForIncompletion": t.reason_for_incompletion,
        "callbackAfterSeconds": t.callback_after_seconds,
        "workerId": t.worker_id,
        "iteration": t.iteration,
        "domain": t.domain,
    })
}

impl Scope for ExecState {
    fn lookup(&self, root: &str) -> Option<Cow<'_, Value>> {
        if root == "workflow" {
            return Some(Cow::Owned(self.workflow_object()));
        }
        // Latest attempt; loop tasks answer to their base name (latest iteration wins).
        self.tasks
            .iter()
            .rev()
            .find(|t| t.reference_task_name == root || base_ref(&t.reference_task_name) == root)
            .map(|t| Cow::Owned(task_object(t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_ref_strips_iteration_suffix_only() {
        assert_eq!(base_ref("check__2"), "check");
        assert_eq!(base_ref("check__12"), "check");
        assert_eq!(base_ref("my__task"), "my__task");
        assert_eq!(base_ref("task__"), "task__");
        assert_eq!(base_ref("__3"), "__3");
        assert_eq!(base_ref("plain"), "plain");
    }
}
