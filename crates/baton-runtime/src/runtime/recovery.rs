//! Lookups and operator tools beside the main operations: executions by correlation id, a
//! workflow's tasks page by page, workflows found through their tasks, removal with or
//! without the audit trail, reset callbacks and requeue.

use super::*;
use baton_model::TaskStatus;
use baton_store::{TaskQuery, WorkflowQuery};
use indexmap::IndexMap;

impl Runtime {
    /// Executions of `name` started with each correlation id, newest first; only RUNNING and
    /// PAUSED ones unless `include_closed`.
    pub async fn correlated(
        &self,
        name: &str,
        correlation_ids: &[String],
        include_closed: bool,
        include_tasks: bool,
    ) -> Result<IndexMap<String, Vec<Workflow>>> {
        let mut out = IndexMap::new();
        for cid in correlation_ids {
            if out.contains_key(cid) {
                continue;
            }
            let query = WorkflowQuery {
                workflow_types: vec![name.to_string()],
                correlation_ids: vec![cid.clone()],
                statuses: if include_closed {
                    Vec::new()
                } else {
                    vec![WorkflowStatus::Running, WorkflowStatus::Paused]
                },
                limit: self.config().max_correlated_executions,
                // A lookup: every execution of the id is returned, so none is counted.
                skip_total: true,
                ..WorkflowQuery::default()
            };
            let (_, found) = self.store.search_workflows(&query).await?;
            let mut list = Vec::with_capacity(found.len());
            for mut w in found {
                if include_tasks {
                    match self.get_workflow(&w.workflow_id, true).await {
                        Ok(full) => w = full,
                        // Removed between the search and the read.
                        Err(Error::NotFound(_)) => continue,
                        Err(e) => return Err(e),
                    }
                } else {
                    w.tasks.clear();
                }
                list.push(w);
            }
            out.insert(cid.clone(), list);
        }
        Ok(out)
    }

    /// One page of a workflow's task attempts in order, optionally only those in `statuses`;
    /// with the number of attempts that match.
    pub async fn workflow_tasks(
        &self,
        workflow_id: &str,
        start: usize,
        count: usize,
        statuses: &[TaskStatus],
    ) -> Result<(i64, Vec<Task>)> {
        let w = self.get_workflow(workflow_id, true).await?;
        let matching: Vec<Task> = w
            .tasks
            .into_iter()
            .filter(|t| statuses.is_empty() || statuses.contains(&t.status))
            .collect();
        let total = matching.len() as i64;
        Ok((
            total,
            matching.into_iter().skip(start).take(count).collect(),
        ))
    }

    /// Workflows of the task attempts matching `tasks`, paged over the attempts as Conductor
    /// pages them (`start`, `size`; each workflow once per page), within the newest
    /// [`RuntimeConfig::search_by_tasks_scan_limit`] matches; the total is the matching
    /// attempts, counted up to [`RuntimeConfig::search_count_limit`], less the page's repeats.
    pub async fn search_by_tasks(
        &self,
        tasks: &TaskQuery,
        start: usize,
        size: usize,
    ) -> Result<(i64, Vec<Workflow>)> {
        let query = TaskQuery {
            offset: 0,
            limit: self.config().search_by_tasks_scan_limit,
            count_limit: self.config().search_count_limit,
            ..tasks.clone()
        };
        // Only the workflow ids of the page's attempts are read, never their documents.
        Ok(self
            .store
            .search_workflows_by_tasks(&query, start, size)
            .await?)
    }

    /// Deletes an execution. With `archive` its audit trail (`/history`) is kept, as
    /// Conductor keeps an archived execution in its index; without, it goes too.
    pub async fn remove_workflow_archiving(&self, workflow_id: &str, archive: bool) -> Result<()> {
        self.remove_workflow(workflow_id).await?;
        if !archive {
            self.store.delete_history(workflow_id).await?;
        }
        Ok(())
    }

    /// Terminates an execution that is still open, then removes it.
    pub async fn terminate_remove(
        &self,
        workflow_id: &str,
        reason: Option<String>,
        archive: bool,
    ) -> Result<()> {
        let w = self.get_workflow(workflow_id, false).await?;
        if !w.status.is_terminal() {
            self.terminate(workflow_id, reason, false).await?;
        }
        self.remove_workflow_archiving(workflow_id, archive).await
    }

    /// Makes every scheduled worker task of a workflow that waits out a
    /// `callbackAfterSeconds` pollable now. 409 if the workflow has ended.
    pub async fn reset_callbacks(&self, workflow_id: &str) -> Result<()> {
        self.mutate(workflow_id, |st| {
            if st.workflow.status.is_terminal() {
                return Err(Error::Conflict(format!(
                    "Workflow {workflow_id} is in terminal state {} and has no callbacks to reset",
                    st.workflow.status.as_str()
                )));
            }
            let mut changed = false;
            for i in st.tasks.open() {
                let t = &st.tasks[i];
                if t.status == TaskStatus::Scheduled
                    && t.callback_after_seconds > 0
                    && !engine::systask::is_system(&t.task_type)
                {
                    let now = st.now;
                    st.task_mut(i).callback_after_seconds = 0;
                    st.enqueue(i, now);
                    changed = true;
                }
            }
            Ok(if changed {
                Mutation::Changed((), Vec::new())
            } else {
                Mutation::Unchanged(())
            })
        })
        .await
    }

    /// Puts every scheduled task of `task_type` (in any domain) back into its queue, keeping
    /// its due time; answers how many. The queue is written with the state, so this finds
    /// nothing missing; it is kept for Conductor's operators and their scripts.
    pub async fn requeue_pending(&self, task_type: &str) -> Result<usize> {
        let query = TaskQuery {
            task_def_names: vec![task_type.to_string()],
            statuses: vec![TaskStatus::Scheduled],
            limit: self.config().max_requeue_tasks,
            ..TaskQuery::default()
        };
        let (_, found) = self.store.search_tasks(&query).await?;
        let mut by_workflow: IndexMap<String, Vec<String>> = IndexMap::new();
        for t in found.into_iter().filter(|t| t.task_type == task_type) {
            by_workflow
                .entry(t.workflow_instance_id)
                .or_default()
                .push(t.task_id);
        }
        let mut count = 0;
        for (workflow_id, task_ids) in by_workflow {
            let pushed = self
                .mutate(&workflow_id, |st| {
                    let mut n = 0;
                    for id in &task_ids {
                        let Some(i) = st.find_task(id) else { continue };
                        let t = &st.tasks[i];
                        if t.status != TaskStatus::Scheduled {
                            continue;
                        }
                        let due = t.scheduled_time + t.callback_after_seconds.saturating_mul(1000);
                        st.enqueue(i, due);
                        n += 1;
                    }
                    Ok(if n > 0 {
                        Mutation::Changed(n, Vec::new())
                    } else {
                        Mutation::Unchanged(0)
                    })
                })
                .await;
            match pushed {
                Ok(n) => count += n,
                // Removed since the search.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }

    /// Scheduled and in-progress attempts of a task type, oldest first, one page of them.
    pub async fn pending_tasks(
        &self,
        task_type: &str,
        start: usize,
        count: usize,
    ) -> Result<Vec<Task>> {
        let query = TaskQuery {
            task_def_names: vec![task_type.to_string()],
            statuses: vec![TaskStatus::Scheduled, TaskStatus::InProgress],
            offset: start,
            limit: count,
            ..TaskQuery::default()
        };
        Ok(self.store.search_tasks(&query).await?.1)
    }
}
