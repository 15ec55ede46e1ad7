//! Restart, rerun and retry across a tree of sub-workflows (Conductor's hierarchical specs).
//!
//! An operation on a child re-opens its ancestors first: each parent's SUB_WORKFLOW task
//! waits again for the same child and the parent runs. Parents go first so that a crash in
//! between heals itself: a re-opened parent whose child is still FAILED sees that at its next
//! check and fails again, whereas a child running under a parent that stayed FAILED would
//! finish unnoticed. A rerun from a task found in a child re-runs each workflow on the path
//! down to it, outermost first, for the same reason.

use super::*;

/// What a re-opened parent answers: its own parent link, to go on up.
type ParentLink = Option<(String, String)>;

fn parent_link(w: &Workflow) -> ParentLink {
    match (&w.parent_workflow_id, &w.parent_workflow_task_id) {
        (Some(p), Some(t)) if !p.is_empty() && !t.is_empty() => Some((p.clone(), t.clone())),
        _ => None,
    }
}

impl Runtime {
    /// Re-opens the ancestors of `workflow_id` (innermost first) whose SUB_WORKFLOW task
    /// ended with this child, each with a task log naming the operation; stops at the first
    /// parent that is gone or that [`ops::reopen_for_child`] leaves alone. Bounded by the
    /// configured sub-workflow depth.
    pub(super) async fn reopen_ancestors(&self, workflow_id: &str, operation: &str) -> Result<()> {
        let Some(w) = self.store.get_workflow(workflow_id).await? else {
            return Ok(());
        };
        let mut link = parent_link(&w);
        let mut child = workflow_id.to_string();
        let mut path = child.clone();
        for _ in 0..=self.config.max_workflow_depth {
            let Some((parent, task_id)) = link.take() else {
                break;
            };
            let now = self.now();
            let log = TaskExecLog {
                log: format!("Sub workflow {path} {operation}."),
                task_id: Some(task_id.clone()),
                created_time: now,
            };
            let reopened = self
                .mutate(&parent, |st| {
                    if ops::reopen_for_child(st, &task_id, &child).map_err(op_error)? {
                        let next = parent_link(&st.workflow);
                        Ok(Mutation::Changed(Some(next), vec![log.clone()]))
                    } else {
                        Ok(Mutation::Unchanged(None))
                    }
                })
                .await;
            match reopened {
                Ok(Some(next)) => link = next,
                Ok(None) | Err(Error::NotFound(_)) => break,
                Err(e) => return Err(e),
            }
            path = format!("{parent} -> {path}");
            child = parent;
        }
        Ok(())
    }

    /// The path from `workflow_id` down to the child holding task `task_id`: each workflow
    /// on the way with its SUB_WORKFLOW task that leads on, and last the workflow holding the
    /// task. `None` if no workflow of the tree (searched depth first, latest children first,
    /// to the configured depth) holds it.
    pub(super) async fn path_to_task(
        &self,
        workflow_id: &str,
        task_id: &str,
    ) -> Result<Option<(Vec<(String, String)>, String)>> {
        // (workflow, depth, path of (workflow, SUB_WORKFLOW task) leading to it)
        let mut stack = vec![(workflow_id.to_string(), 0usize, Vec::new())];
        let mut visited = 0usize;
        while let Some((id, depth, path)) = stack.pop() {
            visited += 1;
            if visited > MAX_TREE_SEARCH {
                return Err(Error::Invalid(format!(
                    "Task {task_id} was not found in the first {MAX_TREE_SEARCH} workflows \
                     under {workflow_id}"
                )));
            }
            let Some(state) = self.store.load_workflow(&id).await? else {
                continue;
            };
            if state.tasks.iter().any(|t| t.task_id == task_id) {
                return Ok(Some((path, id)));
            }
            if depth >= self.config.max_workflow_depth {
                continue;
            }
            for t in state.tasks.iter().filter(|t| {
                t.task_type == engine::systask::SUB_WORKFLOW && t.sub_workflow_id.is_some()
            }) {
                let mut next = path.clone();
                next.push((id.clone(), t.task_id.clone()));
                let child = t.sub_workflow_id.clone().unwrap_or_default();
                stack.push((child, depth + 1, next));
            }
        }
        Ok(None)
    }
}

/// Most workflows a rerun searches for a task id that is not in the workflow itself.
const MAX_TREE_SEARCH: usize = 10_000;
