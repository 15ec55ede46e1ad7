//! `POST /api/workflow/test`: runs a definition with mocked task outputs, no workers.
//!
//! The execution is real (stored, visible in search and history) but its tasks are put in a
//! domain of its own, so no worker ever polls them; each open worker task, WAIT or HUMAN
//! task takes the next mock of its reference name. It stops when the workflow ends, when an
//! open task has no mock left, or when nothing moves for a while.

use super::*;
use serde::Deserialize;

/// Task types the engine carries out itself; they take no mock.
const OPERATORS: &[&str] = &[
    engine::systask::JOIN,
    engine::systask::EXCLUSIVE_JOIN,
    engine::systask::DO_WHILE,
    engine::systask::WHILE,
    engine::systask::SET_VARIABLE,
    engine::systask::SET_CORRELATION_ID,
    engine::systask::FORK,
    engine::systask::FORK_JOIN,
    engine::systask::FORK_JOIN_DYNAMIC,
    engine::systask::INLINE,
    engine::systask::LAMBDA,
    engine::systask::JSON_JQ_TRANSFORM,
    engine::systask::TERMINATE,
    engine::systask::DECISION,
    engine::systask::SWITCH,
    engine::systask::DYNAMIC,
    engine::systask::SUB_WORKFLOW,
    engine::systask::START_WORKFLOW,
    engine::systask::NOOP,
];

/// Most mocked updates one test run applies (all sub-workflows together).
const MAX_TEST_STEPS: usize = 20_000;

/// How long a test run waits for the engine to move (a sub-workflow to start, a system task
/// to finish) before it answers the execution as it stands.
const IDLE_WAIT: Duration = Duration::from_secs(2);

/// One mocked result of a task.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMock {
    #[serde(default = "completed")]
    pub status: TaskResultStatus,
    #[serde(default)]
    pub output: JsonMap,
    /// Accepted for Conductor's clients; Baton records real times.
    #[serde(default)]
    pub execution_time: i64,
    #[serde(default)]
    pub queue_wait_time: i64,
}

fn completed() -> TaskResultStatus {
    TaskResultStatus::Completed
}

/// Conductor's `WorkflowTestRequest`: a start request plus the mocks.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowTestRequest {
    #[serde(flatten)]
    pub start: StartWorkflowRequest,
    /// Reference name → the results its attempts take, in order.
    #[serde(default)]
    pub task_ref_to_mock_output: HashMap<String, Vec<TaskMock>>,
    /// SUB_WORKFLOW reference name → the mocks of the child it starts.
    #[serde(default)]
    pub sub_workflow_test_request: HashMap<String, WorkflowTestRequest>,
}

impl Runtime {
    /// Starts the test execution and drives it with the mocks; answers it as it ends up.
    pub async fn test_workflow(&self, mut req: WorkflowTestRequest) -> Result<Workflow> {
        // A domain of its own: no worker polls it, so only the mocks end its tasks.
        let domain = format!("test-{}", uuid::Uuid::new_v4());
        req.start.task_to_domain.insert("*".into(), domain);
        let id = self.start_workflow(req.start.clone()).await?;
        let mut steps = 0;
        // Each pending run: (workflow id, its mocks). Sub-workflows join as they start.
        let mut runs: Vec<(String, WorkflowTestRequest)> = vec![(id.clone(), req)];
        let mut started_children: HashSet<String> = HashSet::new();
        let watch = self.waiters.watch(&id);
        loop {
            let notified = watch.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut progressed = false;
            let mut stuck = false;
            let mut i = 0;
            while i < runs.len() {
                let w = self.get_workflow(&runs[i].0, true).await?;
                for t in w.tasks.iter().filter(|t| {
                    t.task_type == engine::systask::SUB_WORKFLOW && !t.status.is_terminal()
                }) {
                    let (Some(child), Some(sub)) = (
                        t.sub_workflow_id.clone(),
                        runs[i]
                            .1
                            .sub_workflow_test_request
                            .get(engine::state::base_ref(&t.reference_task_name))
                            .cloned(),
                    ) else {
                        continue;
                    };
                    if started_children.insert(child.clone()) {
                        runs.push((child, sub));
                    }
                }
                if w.status.is_terminal() {
                    i += 1;
                    continue;
                }
                for t in w.tasks.iter().filter(|t| {
                    !t.status.is_terminal() && !OPERATORS.contains(&t.task_type.as_str())
                }) {
                    // Loop iterations (`ref__2`) take the mocks of their base reference.
                    let table = &mut runs[i].1.task_ref_to_mock_output;
                    let has = |k: &str, table: &HashMap<String, Vec<TaskMock>>| {
                        table.get(k).is_some_and(|m| !m.is_empty())
                    };
                    let key = if has(&t.reference_task_name, table) {
                        t.reference_task_name.as_str()
                    } else if has(engine::state::base_ref(&t.reference_task_name), table) {
                        engine::state::base_ref(&t.reference_task_name)
                    } else {
                        stuck = true;
                        continue;
                    };
                    let Some(mocks) = table.get_mut(key) else {
                        continue;
                    };
                    if steps >= MAX_TEST_STEPS {
                        return self.get_workflow(&id, true).await;
                    }
                    let mock = mocks.remove(0);
                    let mut r = TaskResult::new(&w.workflow_id, &t.task_id, mock.status);
                    r.output_data = Some(mock.output);
                    r.worker_id = Some("workflow-test".into());
                    self.update_task(r).await?;
                    steps += 1;
                    progressed = true;
                }
                i += 1;
            }
            let root = self.get_workflow(&id, true).await?;
            if root.status.is_terminal() || (stuck && !progressed) {
                return Ok(root);
            }
            if !progressed {
                // A parent learns of its mocked child's end when it is decided; do that now
                // rather than at its next safety-net wake-up.
                for (run_id, _) in &runs {
                    match self.decide(run_id).await {
                        Ok(()) | Err(Error::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                // Wait for the engine (a system task, a child starting), bounded.
                let woke = tokio::select! {
                    _ = &mut notified => true,
                    _ = tokio::time::sleep(IDLE_WAIT) => false,
                };
                if !woke {
                    return self.get_workflow(&id, true).await;
                }
            }
        }
    }
}
