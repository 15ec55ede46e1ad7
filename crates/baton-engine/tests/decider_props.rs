//! Property tests of the decider through the engine's public API only (no store, no HTTP):
//! random definitions of SIMPLE tasks (random retry budgets and `optional` flags), nested
//! SWITCH (value-param) and FORK_JOIN/JOIN, and DO_WHILE loops, driven by simulated workers
//! that report random terminal results.

use baton_engine::{apply_result, decide, new_execution, ExecState, NewExecution};
use baton_model::{TaskResult, TaskResultStatus, TaskStatus, WorkflowDef, WorkflowStatus};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Abstract shape of a generated node (rendered to JSON with unique references).
#[derive(Debug, Clone)]
enum Node {
    Simple {
        retries: i32,
        optional: bool,
    },
    /// `selector` picks the case taken (index into `cases`, or the default when out of range).
    Switch {
        selector: usize,
        cases: Vec<Vec<Node>>,
        default: Vec<Node>,
    },
    Fork {
        branches: Vec<Vec<Node>>,
    },
    Loop {
        times: u32,
        body: Vec<Node>,
    },
}

fn simple() -> impl Strategy<Value = Node> {
    (0..=3i32, prop::bool::weighted(0.25))
        .prop_map(|(retries, optional)| Node::Simple { retries, optional })
}

/// Nodes allowed anywhere (SWITCH and FORK nest up to `depth`).
fn nested(depth: u32) -> BoxedStrategy<Node> {
    if depth == 0 {
        return simple().boxed();
    }
    let inner = || prop::collection::vec(nested(depth - 1), 1..=3);
    prop_oneof![
        4 => simple(),
        1 => (0..4usize, prop::collection::vec(inner(), 1..=3), prop::collection::vec(nested(depth - 1), 0..=2))
            .prop_map(|(selector, cases, default)| Node::Switch { selector, cases, default }),
        1 => prop::collection::vec(inner(), 1..=3).prop_map(|branches| Node::Fork { branches }),
    ]
    .boxed()
}

/// Top-level nodes: anything nested, or a DO_WHILE whose body holds nested nodes.
fn top() -> BoxedStrategy<Node> {
    prop_oneof![
        5 => nested(2),
        1 => (1..=3u32, prop::collection::vec(nested(1), 1..=3))
            .prop_map(|(times, body)| Node::Loop { times, body }),
    ]
    .boxed()
}

/// Renders nodes to definition JSON; `budgets` collects each SIMPLE ref's retry count.
struct Render {
    next: usize,
    budgets: HashMap<String, i32>,
}

impl Render {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_{}", self.next)
    }

    fn list(&mut self, nodes: &[Node]) -> Vec<Value> {
        let mut out = Vec::new();
        for n in nodes {
            out.extend(self.node(n));
        }
        out
    }

    /// One node (a FORK_JOIN renders as the fork plus its JOIN).
    fn node(&mut self, n: &Node) -> Vec<Value> {
        match n {
            Node::Simple { retries, optional } => {
                let r = self.fresh("t");
                self.budgets.insert(r.clone(), *retries);
                vec![json!({
                    "name": format!("task_{}", r),
                    "taskReferenceName": r,
                    "type": "SIMPLE",
                    "optional": optional,
                    "taskDefinition": {
                        "name": format!("task_{}", r),
                        "retryCount": retries,
                        "retryDelaySeconds": 0,
                        "timeoutSeconds": 0,
                        "responseTimeoutSeconds": 3600,
                    },
                })]
            }
            Node::Switch {
                selector,
                cases,
                default,
            } => {
                let r = self.fresh("sw");
                let mut decision_cases = serde_json::Map::new();
                for (i, c) in cases.iter().enumerate() {
                    decision_cases.insert(format!("c{i}"), Value::Array(self.list(c)));
                }
                let default = self.list(default);
                vec![json!({
                    "name": r,
                    "taskReferenceName": r,
                    "type": "SWITCH",
                    "evaluatorType": "value-param",
                    "expression": "which",
                    "inputParameters": {"which": format!("c{selector}")},
                    "decisionCases": decision_cases,
                    "defaultCase": default,
                })]
            }
            Node::Fork { branches } => {
                let r = self.fresh("fork");
                let rendered: Vec<Vec<Value>> = branches.iter().map(|b| self.list(b)).collect();
                let join_on: Vec<Value> = rendered
                    .iter()
                    .filter_map(|b| b.last().map(|t| t["taskReferenceName"].clone()))
                    .collect();
                let j = self.fresh("join");
                vec![
                    json!({
                        "name": r,
                        "taskReferenceName": r,
                        "type": "FORK_JOIN",
                        "forkTasks": rendered,
                    }),
                    json!({
                        "name": j,
                        "taskReferenceName": j,
                        "type": "JOIN",
                        "joinOn": join_on,
                    }),
                ]
            }
            Node::Loop { times, body } => {
                let r = self.fresh("loop");
                let body = self.list(body);
                vec![json!({
                    "name": r,
                    "taskReferenceName": r,
                    "type": "DO_WHILE",
                    "loopCondition": format!("$.{r}['iteration'] < {times}"),
                    "loopOver": body,
                })]
            }
        }
    }
}

/// A tiny deterministic generator for the simulated workers' choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn is_worker_task(t: &baton_model::Task) -> bool {
    !baton_engine::systask::is_system(&t.task_type)
}

fn base(reference: &str) -> &str {
    baton_engine::state::base_ref(reference)
}

/// Runs one generated workflow to the end; returns a description of a violated property.
fn run_case(nodes: &[Node], seed: u64) -> Result<(), String> {
    run_case_checking(nodes, seed, false)
}

/// Marks a decided state committed (as the runtime does), decides it again and reports
/// anything that second decision changed: it must change nothing.
fn check_redecide_is_a_no_op(st: &mut ExecState, def_json: &Value) -> Result<(), String> {
    st.history.clear();
    st.queue_push.clear();
    st.queue_remove.clear();
    st.removed_tasks.clear();
    st.effects.clear();
    st.wake.clear();
    st.tasks.clear_dirty();
    let before_tasks = serde_json::to_value(st.tasks.to_vec()).map_err(|e| e.to_string())?;
    let before_workflow = serde_json::to_value(&st.workflow).map_err(|e| e.to_string())?;
    let wake = st.next_wake_at;
    decide(st);
    let dirty: Vec<String> = st
        .dirty_tasks()
        .map(|t| t.reference_task_name.clone())
        .collect();
    let changed = !dirty.is_empty()
        || !st.history.is_empty()
        || !st.queue_push.is_empty()
        || !st.queue_remove.is_empty()
        || !st.removed_tasks.is_empty()
        || !st.effects.is_empty()
        || !st.wake.is_empty()
        || st.next_wake_at != wake
        || serde_json::to_value(st.tasks.to_vec()).ok() != Some(before_tasks)
        || serde_json::to_value(&st.workflow).ok() != Some(before_workflow);
    if changed {
        return Err(format!(
            "deciding a decided state changed it: dirty {dirty:?}, {} history events, {} queue pushes, {} queue removals\n{def_json:#}",
            st.history.len(),
            st.queue_push.len(),
            st.queue_remove.len()
        ));
    }
    Ok(())
}

fn run_case_checking(nodes: &[Node], seed: u64, redecide: bool) -> Result<(), String> {
    let mut render = Render {
        next: 0,
        budgets: HashMap::new(),
    };
    let tasks = render.list(nodes);
    let def_json = json!({
        "name": "prop_wf",
        "version": 1,
        "schemaVersion": 2,
        "tasks": tasks,
    });
    let def: WorkflowDef =
        serde_json::from_value(def_json.clone()).map_err(|e| format!("bad def JSON: {e}"))?;
    let problems = baton_engine::validate::validate_workflow_def(&def);
    if !problems.is_empty() {
        return Err(format!(
            "generated def is invalid: {problems:?}\n{def_json:#}"
        ));
    }
    let mut now = 1_700_000_000_000i64;
    let mut st: ExecState = new_execution(NewExecution::new("wf-prop", Arc::new(def), now));
    let mut rng = Rng(seed | 1);
    let max_steps = 2_000;
    let mut steps = 0;
    let mut idle_decides = 0;
    while !st.workflow.status.is_terminal() {
        steps += 1;
        if steps > max_steps {
            return Err(format!(
                "not terminal after {max_steps} steps; status {:?}\n{def_json:#}",
                st.workflow.status
            ));
        }
        check_attempts(&st, &render.budgets, &def_json)?;
        let ready: Vec<usize> = st
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.retried && t.status == TaskStatus::Scheduled && is_worker_task(t))
            .map(|(i, _)| i)
            .collect();
        now += 1_000;
        st.now = now;
        if ready.is_empty() {
            // Nothing for a worker: only the clock could move the workflow on.
            idle_decides += 1;
            if idle_decides > 3 {
                let pending: Vec<String> = st
                    .tasks
                    .iter()
                    .filter(|t| !t.status.is_terminal())
                    .map(|t| format!("{}:{}:{:?}", t.reference_task_name, t.task_type, t.status))
                    .collect();
                return Err(format!(
                    "stuck: workflow {:?} has no worker task to run; pending {pending:?}\n{def_json:#}",
                    st.workflow.status
                ));
            }
            decide(&mut st);
            continue;
        }
        idle_decides = 0;
        let i = ready[rng.below(ready.len())];
        let status = match rng.below(10) {
            0..=5 => TaskResultStatus::Completed,
            6..=8 => TaskResultStatus::Failed,
            _ => TaskResultStatus::FailedWithTerminalError,
        };
        let task_id = st.tasks[i].task_id.clone();
        let mut r = TaskResult::new("wf-prop", &task_id, status);
        r.output_data = Some(
            json!({"by": task_id})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        if status != TaskResultStatus::Completed {
            r.reason_for_incompletion = Some("simulated failure".into());
        }
        let outcome = apply_result(&mut st, &r);
        if outcome != baton_engine::UpdateOutcome::Applied {
            return Err(format!(
                "result for SCHEDULED task {task_id} was not applied: {outcome:?}"
            ));
        }
        decide(&mut st);
        if redecide {
            check_redecide_is_a_no_op(&mut st, &def_json)?;
        }
    }
    check_attempts(&st, &render.budgets, &def_json)?;

    // Terminal: nothing is left waiting.
    if let Some(t) = st
        .tasks
        .iter()
        .find(|t| matches!(t.status, TaskStatus::Scheduled | TaskStatus::InProgress))
    {
        return Err(format!(
            "workflow {:?} but task {} ({}) is {:?}\n{def_json:#}",
            st.workflow.status, t.reference_task_name, t.task_type, t.status
        ));
    }

    // Completed: every top-level node's latest attempt succeeded.
    if st.workflow.status == WorkflowStatus::Completed {
        for node in def_json["tasks"].as_array().into_iter().flatten() {
            let r = node["taskReferenceName"].as_str().unwrap_or_default();
            let latest = st
                .tasks
                .iter()
                .filter(|t| t.reference_task_name == r)
                .max_by_key(|t| (t.retry_count, t.seq));
            match latest {
                Some(t) if t.status.is_successful() => {}
                Some(t) => {
                    return Err(format!(
                        "COMPLETED workflow but top-level {r} ended {:?}\n{def_json:#}",
                        t.status
                    ))
                }
                None => {
                    return Err(format!(
                        "COMPLETED workflow but top-level {r} never ran; tasks {:?}\n{def_json:#}",
                        summary(&st)
                    ))
                }
            }
        }
    }
    Ok(())
}

/// `ref:type:status` of every attempt, for failure messages.
fn summary(st: &ExecState) -> Vec<String> {
    st.tasks
        .iter()
        .map(|t| {
            format!(
                "{}:{}:{:?}{}",
                t.reference_task_name,
                t.task_type,
                t.status,
                if t.retried { ":retried" } else { "" }
            )
        })
        .collect()
}

/// No reference has more attempts than its retry budget allows.
fn check_attempts(
    st: &ExecState,
    budgets: &HashMap<String, i32>,
    def_json: &Value,
) -> Result<(), String> {
    let mut counts: HashMap<&str, i32> = HashMap::new();
    for t in &st.tasks {
        *counts.entry(t.reference_task_name.as_str()).or_default() += 1;
    }
    for (reference, n) in counts {
        let allowed = budgets.get(base(reference)).copied().unwrap_or(0) + 1;
        if n > allowed {
            return Err(format!(
                "{reference} has {n} attempts, more than retryCount + 1 = {allowed}\n{def_json:#}"
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn random_workflows_reach_a_consistent_end(
        nodes in prop::collection::vec(top(), 1..=5),
        seed in any::<u64>(),
    ) {
        if let Err(problem) = run_case(&nodes, seed) {
            prop_assert!(false, "{}", problem);
        }
    }

    /// Deciding a state that was just decided (and committed) changes nothing: no dirty
    /// task, no history, no queue entry, the same wake-up time.
    #[test]
    fn deciding_a_decided_state_changes_nothing(
        nodes in prop::collection::vec(top(), 1..=5),
        seed in any::<u64>(),
    ) {
        if let Err(problem) = run_case_checking(&nodes, seed, true) {
            prop_assert!(false, "{}", problem);
        }
    }
}

/// A fixed case that needs every retry: the worker fails each attempt but the last.
#[test]
fn retries_are_bounded_and_then_succeed() {
    let def: WorkflowDef = serde_json::from_value(json!({
        "name": "retry_wf", "version": 1, "schemaVersion": 2,
        "tasks": [{
            "name": "a", "taskReferenceName": "a", "type": "SIMPLE",
            "taskDefinition": {"name": "a", "retryCount": 2, "retryDelaySeconds": 0,
                               "responseTimeoutSeconds": 3600},
        }],
    }))
    .unwrap();
    let mut st = new_execution(NewExecution::new("wf-r", Arc::new(def), 1));
    for attempt in 0..3 {
        let t = st
            .tasks
            .iter()
            .find(|t| t.status == TaskStatus::Scheduled)
            .expect("a scheduled attempt")
            .clone();
        assert_eq!(t.retry_count, attempt);
        let status = if attempt < 2 {
            TaskResultStatus::Failed
        } else {
            TaskResultStatus::Completed
        };
        st.now += 1000;
        assert_eq!(
            apply_result(&mut st, &TaskResult::new("wf-r", &t.task_id, status)),
            baton_engine::UpdateOutcome::Applied
        );
        decide(&mut st);
    }
    assert_eq!(st.workflow.status, WorkflowStatus::Completed);
    assert_eq!(st.tasks.len(), 3);
}

fn start(def: Value) -> ExecState {
    let def: WorkflowDef = serde_json::from_value(def).unwrap();
    new_execution(NewExecution::new("wf-x", Arc::new(def), 1_000))
}

/// Reports `status` for the first SCHEDULED worker task and decides.
fn report(st: &mut ExecState, status: TaskResultStatus) -> String {
    let t = st
        .tasks
        .iter()
        .find(|t| !t.retried && t.status == TaskStatus::Scheduled && is_worker_task(t))
        .expect("a scheduled worker task")
        .clone();
    st.now += 1000;
    assert_eq!(
        apply_result(st, &TaskResult::new("wf-x", &t.task_id, status)),
        baton_engine::UpdateOutcome::Applied
    );
    decide(st);
    t.reference_task_name
}

fn loop_then_task(body_retries: i32) -> Value {
    json!({
        "name": "loop_wf", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
             "loopCondition": "$.loop['iteration'] < 1",
             "loopOver": [{"name": "body", "taskReferenceName": "body", "type": "SIMPLE",
                           "taskDefinition": {"name": "body", "retryCount": body_retries,
                                              "retryDelaySeconds": 0, "responseTimeoutSeconds": 3600}}]},
            {"name": "after", "taskReferenceName": "after", "type": "SIMPLE",
             "taskDefinition": {"name": "after", "retryCount": 0, "retryDelaySeconds": 0,
                                "responseTimeoutSeconds": 3600}}
        ]
    })
}

/// The node after a DO_WHILE is a top-level node: its reference carries no `__N` suffix.
#[test]
fn node_after_a_loop_keeps_its_plain_reference() {
    let mut st = start(loop_then_task(0));
    assert_eq!(report(&mut st, TaskResultStatus::Completed), "body__1");
    assert_eq!(
        report(&mut st, TaskResultStatus::Completed),
        "after",
        "{:?}",
        summary(&st)
    );
    assert_eq!(st.workflow.status, WorkflowStatus::Completed);
}

/// A body task with `retryCount: 0` in its taskDefinition is not retried.
#[test]
fn loop_body_task_without_retries_fails_the_workflow() {
    let mut st = start(loop_then_task(0));
    report(&mut st, TaskResultStatus::Failed);
    assert_eq!(
        st.workflow.status,
        WorkflowStatus::Failed,
        "{:?}",
        summary(&st)
    );
    assert_eq!(
        st.tasks
            .iter()
            .filter(|t| t.reference_task_name == "body__1")
            .count(),
        1
    );
}
