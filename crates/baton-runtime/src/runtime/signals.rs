//! Waiting for a workflow to block or end, and signals: completing the task a workflow waits
//! on without knowing its id. These serve Conductor's synchronous `execute`, the task
//! `signal` routes and the `…/{status}/sync` update.

use super::*;

/// A workflow as it stood when a wait for it ended.
#[derive(Debug, Clone)]
pub struct Blocking {
    /// The workflow waited on (with its tasks).
    pub target: Workflow,
    /// The workflow (the target or one of its sub-workflows) holding the first blocking task.
    pub blocking_workflow: Option<Workflow>,
    /// Tasks the workflow waits on: WAIT tasks without a duration or end time and HUMAN
    /// tasks that are not done, and tasks named in the wait's references that are done.
    pub blocking_tasks: Vec<Task>,
    /// The wait ended at its deadline, not because the workflow blocked or ended.
    pub timed_out: bool,
}

/// A task that stays open until someone outside the engine ends it.
fn waits_for_outside(t: &Task) -> bool {
    !t.status.is_terminal()
        && (t.task_type == engine::systask::HUMAN
            || (t.task_type == engine::systask::WAIT
                && !t.input_data.contains_key("duration")
                && !t.input_data.contains_key("until")))
}

/// A task a signal may end: an open task that no engine code ends by itself.
fn signalable(t: &Task) -> bool {
    !t.status.is_terminal()
        && (t.task_type == engine::systask::HUMAN
            || t.task_type == engine::systask::WAIT
            || !engine::systask::is_system(&t.task_type))
}

fn matches_ref(t: &Task, refs: &[String]) -> bool {
    refs.iter().any(|r| {
        *r == t.reference_task_name || *r == engine::state::base_ref(&t.reference_task_name)
    })
}

impl Runtime {
    /// The workflows of a tree, the root first and each sub-workflow after its parent (open
    /// SUB_WORKFLOW tasks only), at most `max_workflow_depth` levels and 1000 workflows.
    async fn open_tree(&self, root: Workflow) -> Result<Vec<Workflow>> {
        const MAX_TREE: usize = 1000;
        let mut out = Vec::new();
        let mut stack: Vec<(Workflow, usize)> = vec![(root, 0)];
        while let Some((w, depth)) = stack.pop() {
            let children: Vec<String> = w
                .tasks
                .iter()
                .filter(|t| t.task_type == engine::systask::SUB_WORKFLOW && !t.status.is_terminal())
                .filter_map(|t| t.sub_workflow_id.clone())
                .collect();
            out.push(w);
            if out.len() >= MAX_TREE || depth >= self.config.max_workflow_depth {
                continue;
            }
            for child in children.into_iter().rev() {
                match self.get_workflow(&child, true).await {
                    Ok(c) => stack.push((c, depth + 1)),
                    // A child not (yet) stored has nothing to wait on.
                    Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }

    /// The blocking tasks of a workflow tree (see [`Blocking::blocking_tasks`]) and the
    /// workflow holding the first of them.
    async fn find_blocking(
        &self,
        root: &Workflow,
        refs: &[String],
    ) -> Result<(Vec<Task>, Option<Workflow>)> {
        let mut tasks = Vec::new();
        let mut holder = None;
        for w in self.open_tree(root.clone()).await? {
            let found: Vec<Task> = w
                .tasks
                .iter()
                .filter(|t| {
                    waits_for_outside(t) || (t.status.is_terminal() && matches_ref(t, refs))
                })
                .cloned()
                .collect();
            if !found.is_empty() && holder.is_none() {
                holder = Some(w.clone());
            }
            tasks.extend(found);
        }
        Ok((tasks, holder))
    }

    /// Waits (at most `wait`) until the workflow ends or blocks (see [`Blocking`]).
    pub async fn await_blocking(
        &self,
        workflow_id: &str,
        refs: &[String],
        wait: Duration,
    ) -> Result<Blocking> {
        let deadline = Instant::now() + wait;
        let watch = self.waiters.watch(workflow_id);
        loop {
            let notified = watch.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let w = self.get_workflow(workflow_id, true).await?;
            let (blocking_tasks, blocking_workflow) = self.find_blocking(&w, refs).await?;
            if w.status.is_terminal() || !blocking_tasks.is_empty() {
                return Ok(Blocking {
                    target: w,
                    blocking_workflow,
                    blocking_tasks,
                    timed_out: false,
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Blocking {
                    blocking_workflow: Some(w.clone()),
                    target: w,
                    blocking_tasks: Vec::new(),
                    timed_out: true,
                });
            }
            // Commits of this workflow wake the check; the short tick covers its
            // sub-workflows and commits made by other nodes.
            let tick = (deadline - now).min(Duration::from_millis(100));
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }

    /// Starts a workflow and waits (bounded) until it ends, one of `wait_refs` ends, or it
    /// blocks on a WAIT/HUMAN task, also inside its sub-workflows.
    pub async fn execute(
        &self,
        req: StartWorkflowRequest,
        wait_refs: &[String],
        wait: Duration,
    ) -> Result<Blocking> {
        let id = self.start_workflow(req).await?;
        self.await_blocking(&id, wait_refs, wait).await
    }

    /// Ends the task a workflow waits on (Conductor's task signal): the first open WAIT,
    /// HUMAN or worker task, searching sub-workflows where the parent waits on them. The
    /// output is merged into the task's output. Answers the updated task's workflow id and
    /// task id, or None when nothing waits (an ended workflow included), as Conductor does.
    pub async fn signal(
        &self,
        workflow_id: &str,
        status: TaskResultStatus,
        output: JsonMap,
    ) -> Result<Option<(String, String)>> {
        let root = self.get_workflow(workflow_id, true).await?;
        if root.status.is_terminal() {
            return Ok(None);
        }
        let tree = self.open_tree(root).await?;
        let Some(task) = tree
            .iter()
            .flat_map(|w| w.tasks.iter())
            .find(|t| signalable(t))
            .cloned()
        else {
            return Ok(None);
        };
        let mut merged = task.output_data.clone();
        merged.extend(output);
        let mut r = TaskResult::new(&task.workflow_instance_id, &task.task_id, status);
        r.output_data = Some(merged);
        self.update_task(r).await?;
        Ok(Some((task.workflow_instance_id, task.task_id)))
    }
}
