//! [`ExecState`]: one workflow loaded for one decision, with a record of what changed.
//!
//! Every mutation goes through a method here so that nothing is forgotten at commit time:
//! changed task rows are marked dirty, status changes append history events, and queue
//! entries are pushed or removed alongside the task that needs them.

pub use crate::scope::task_object;
pub use crate::task_list::TaskList;
use baton_model::{
    HistoryEvent, JsonMap, QueueEntry, Task, TaskDef, TaskStatus, Workflow, WorkflowDef,
    WorkflowStatus, WorkflowTask,
};
use serde_json::Value;
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
    /// How many `${…}` expressions the definition's parameter maps hold (an upper bound on the
    /// references one decision resolves per node).
    pub expr_count: usize,
}

/// From this many expressions on, resolving a definition's inputs is not trivially cheap
/// (each reference copies its result, which may be large), so decisions leave the async
/// threads.
pub const HEAVY_EXPR_COUNT: usize = 64;

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
                "INLINE"
                    | "LAMBDA"
                    | "DO_WHILE"
                    | "WHILE"
                    | "JSON_JQ_TRANSFORM"
                    | "FORK_JOIN_DYNAMIC"
            ) || (t.task_type == "SWITCH"
                && t.evaluator_type.as_deref() != Some("value-param"))
                || (t.task_type == "DECISION" && t.case_expression.is_some());
        });
        let mut expr_count = count_exprs_in_map(&def.output_parameters);
        def.for_each_task(&mut |t| expr_count += count_exprs_in_map(&t.input_parameters));
        DefIndex {
            locations,
            has_scripts,
            expr_count,
        }
    }

    /// Whether a decision over this definition may take long enough (scripts, many
    /// expressions) that the runtime should run it off the async threads that serve requests.
    pub fn decides_slowly(&self) -> bool {
        self.has_scripts || self.expr_count >= HEAVY_EXPR_COUNT
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
    /// Most branches one FORK_JOIN_DYNAMIC may fork; more fail it for good, naming the limit.
    pub max_fork_branches: usize,
    /// Most tasks one workflow may hold (attempts included, tasks dropped by a loop's
    /// `keepLastN` not); a decision that goes over fails the workflow, naming the limit.
    pub max_tasks_per_workflow: usize,
    /// Largest task output a worker may report, in bytes of compact JSON; a larger one fails
    /// the task for good (FAILED_WITH_TERMINAL_ERROR) and is not stored.
    pub max_task_output_bytes: usize,
}

impl EngineLimits {
    /// Default of [`EngineLimits::max_loop_iterations`].
    pub const DEFAULT_MAX_LOOP_ITERATIONS: u32 = 10_000;
    /// Default of [`EngineLimits::max_fork_branches`].
    pub const DEFAULT_MAX_FORK_BRANCHES: usize = 10_000;
    /// Default of [`EngineLimits::max_tasks_per_workflow`].
    pub const DEFAULT_MAX_TASKS_PER_WORKFLOW: usize = 100_000;
    /// Default of [`EngineLimits::max_task_output_bytes`]: 3 MiB, as Conductor's threshold.
    pub const DEFAULT_MAX_TASK_OUTPUT_BYTES: usize = 3 * 1024 * 1024;
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            max_loop_iterations: Self::DEFAULT_MAX_LOOP_ITERATIONS,
            decision_time_budget: None,
            max_fork_branches: Self::DEFAULT_MAX_FORK_BRANCHES,
            max_tasks_per_workflow: Self::DEFAULT_MAX_TASKS_PER_WORKFLOW,
            max_task_output_bytes: Self::DEFAULT_MAX_TASK_OUTPUT_BYTES,
        }
    }
}

/// A workflow loaded for one decision.
#[derive(Debug, Clone)]
pub struct ExecState {
    pub workflow: Workflow,
    pub def: Arc<WorkflowDef>,
    pub index: Arc<DefIndex>,
    /// The task attempts, indexed (see [`TaskList`]).
    pub tasks: TaskList,
    /// The stored version this state was read at; None for a new workflow.
    pub version: Option<i64>,
    pub now: i64,
    pub queue_push: Vec<QueueEntry>,
    pub queue_remove: Vec<String>,
    pub removed_tasks: Vec<String>,
    pub history: Vec<HistoryEvent>,
    pub wake: Vec<(String, i64)>,
    pub effects: Vec<Effect>,
    pub next_wake_at: Option<i64>,
    /// Set when a decision stopped early (too much work in one go) and must continue soon.
    pub needs_more: bool,
    /// Set when an operation replaced the workflow's input (a rerun with new input), so the
    /// commit writes it; otherwise an update leaves the stored input as it is.
    pub input_changed: bool,
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
        Self::from_list(workflow, def, index, TaskList::new(tasks), version, now)
    }

    /// A state over an already indexed task list (kept by the runtime between decisions).
    pub fn from_list(
        workflow: Workflow,
        def: Arc<WorkflowDef>,
        index: Arc<DefIndex>,
        tasks: TaskList,
        version: Option<i64>,
        now: i64,
    ) -> Self {
        ExecState {
            workflow,
            def,
            index,
            tasks,
            version,
            now,
            queue_push: Vec::new(),
            queue_remove: Vec::new(),
            removed_tasks: Vec::new(),
            history: Vec::new(),
            wake: Vec::new(),
            effects: Vec::new(),
            next_wake_at: None,
            needs_more: false,
            input_changed: false,
            limits: EngineLimits::default(),
            registry: None,
            active_domains: None,
        }
    }

    /// The task rows that changed or were created.
    pub fn dirty_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.dirty()
    }

    pub fn is_dirty(&self, i: usize) -> bool {
        self.tasks.is_dirty(i)
    }

    pub fn mark_dirty(&mut self, i: usize) {
        self.tasks.mark_dirty(i);
    }

    /// A task to change in place (marked dirty; the decider looks at it again).
    pub fn task_mut(&mut self, i: usize) -> &mut Task {
        self.tasks.get_mut(i)
    }

    /// Replaces the task list (after deletions), with the dirty flag of each kept task.
    pub fn replace_tasks(&mut self, tasks: Vec<Task>, dirty: Vec<bool>) {
        self.tasks = TaskList::new(tasks);
        for (i, d) in dirty.into_iter().enumerate() {
            if d {
                self.tasks.mark_dirty(i);
            }
        }
    }

    pub fn find_task(&self, task_id: &str) -> Option<usize> {
        self.tasks.find(task_id)
    }

    /// The latest attempt with exactly this reference name.
    pub fn latest_by_ref(&self, reference: &str) -> Option<usize> {
        self.tasks.latest_by_ref(reference)
    }

    /// Appends a new task (SCHEDULED or already in its first status) and records history.
    pub fn add_task(&mut self, task: Task) -> usize {
        self.history.push(HistoryEvent::task(&task, self.now));
        self.tasks.push(task)
    }

    /// Changes a task's status, stamping times and recording history.
    pub fn set_status(&mut self, i: usize, status: TaskStatus) {
        let now = self.now;
        if self.tasks.get(i).is_none_or(|t| t.status == status) {
            return;
        }
        self.tasks.status_changing(i, status);
        let t = self.tasks.get_mut(i);
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
        self.tasks.dynamic_node(reference).map(Cow::Borrowed)
    }

    /// The TaskDef that governs a task: the one captured in the definition node at start,
    /// else the registered one (dynamic tasks), else Conductor's ad-hoc defaults.
    pub fn task_def_of(&self, task: &Task) -> Cow<'_, TaskDef> {
        match self.node_of(task) {
            Some(Cow::Borrowed(node)) => {
                if let Some(d) = &node.task_definition {
                    return Cow::Borrowed(d);
                }
            }
            Some(Cow::Owned(node)) => {
                if let Some(d) = node.task_definition {
                    return Cow::Owned(d);
                }
            }
            None => {}
        }
        if let Some(d) = self
            .registry
            .as_ref()
            .and_then(|r| r.get(&task.task_def_name))
        {
            return Cow::Borrowed(d);
        }
        Cow::Owned(TaskDef::ad_hoc(
            &task.task_def_name,
            crate::systask::is_system(&task.task_type),
        ))
    }
}

fn count_exprs_in_map(m: &JsonMap) -> usize {
    m.values().map(count_exprs).sum()
}

fn count_exprs(v: &Value) -> usize {
    match v {
        Value::String(s) => s.matches("${").count(),
        Value::Array(items) => items.iter().map(count_exprs).sum(),
        Value::Object(m) => count_exprs_in_map(m),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{Node, Scope};
    use crate::scope::{TASK_KEYS, WORKFLOW_KEYS};

    fn state_with_input(input: serde_json::Map<String, Value>) -> ExecState {
        let workflow = Workflow {
            workflow_id: "wf-1".into(),
            input,
            ..Workflow::default()
        };
        let def: WorkflowDef = serde_json::from_value(serde_json::json!({"name": "w"}))
            .unwrap_or_else(|e| panic!("{e}"));
        let task = Task {
            reference_task_name: "t__2".into(),
            output_data: serde_json::Map::from_iter([("o".to_owned(), Value::from(7))]),
            ..Task::default()
        };
        ExecState::new(workflow, Arc::new(def), Arc::default(), vec![task], None, 0)
    }

    #[test]
    fn fields_borrow_the_maps_they_hold() {
        let input = serde_json::Map::from_iter([("big".to_owned(), Value::from("x".repeat(1000)))]);
        let st = state_with_input(input);
        match st.field("workflow", "input") {
            Some(Node::Map(m)) => assert!(std::ptr::eq(m, &st.workflow.input)),
            other => panic!("workflow.input should be borrowed, got {other:?}"),
        }
        match st.field("t", "output") {
            Some(Node::Map(m)) => assert!(std::ptr::eq(m, &st.tasks[0].output_data)),
            other => panic!("t.output should be borrowed, got {other:?}"),
        }
        assert!(st.field("workflow", "nope").is_none());
        assert!(st.field("ghost", "output").is_none());
        // A resolved reference copies only its leaf.
        let v = crate::expr::resolve_str("${workflow.input.big}", &st, None);
        assert_eq!(v.as_str().map(str::len), Some(1000));
        assert_eq!(
            crate::expr::resolve_str("${t.output.o}", &st, None),
            Value::from(7)
        );
    }

    #[test]
    fn whole_objects_list_every_key_once() {
        let st = state_with_input(serde_json::Map::new());
        let w = st.workflow_object();
        let keys: Vec<&str> = w
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys, WORKFLOW_KEYS);
        assert_eq!(w["workflowId"], "wf-1");
        assert_eq!(w["parentWorkflowId"], Value::Null);
        assert_eq!(w["schemaVersion"], 2);
        let t = task_object(&st.tasks[0]);
        assert_eq!(t.as_object().map(|m| m.len()), Some(TASK_KEYS.len()));
        assert_eq!(t["referenceTaskName"], "t__2");
        assert_eq!(t["output"]["o"], 7);
    }

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
