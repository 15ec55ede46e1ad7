//! Operations on executions: reads, pause, resume, terminate, restart,
//! retry, rerun, skip, remove, update by reference and search.

use super::*;

impl Runtime {
    pub async fn get_workflow(&self, workflow_id: &str, include_tasks: bool) -> Result<Workflow> {
        if !include_tasks {
            let mut w = self.store.get_workflow(workflow_id).await?.ok_or_else(|| {
                Error::NotFound(format!("Workflow with id: {workflow_id} not found."))
            })?;
            w.tasks.clear();
            return Ok(w);
        }
        let s = self.load_or_404(workflow_id).await?;
        Ok(render_workflow(s))
    }

    /// A workflow's row without its tasks, input or definition: for status summaries, which
    /// clients poll while they wait (its input can be its largest value).
    pub async fn workflow_status(&self, workflow_id: &str) -> Result<Workflow> {
        self.store
            .get_workflow_status(workflow_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("Workflow with id: {workflow_id} not found.")))
    }

    /// Terminates a workflow (§4.9): 409 if it COMPLETED, a no-op if already TERMINATED.
    pub async fn terminate(
        &self,
        workflow_id: &str,
        reason: Option<String>,
        trigger_failure_workflow: bool,
    ) -> Result<()> {
        self.mutate(workflow_id, |st| match st.workflow.status {
            WorkflowStatus::Completed => Err(Error::Conflict(format!(
                "Workflow {workflow_id} is in terminal state COMPLETED and cannot be terminated"
            ))),
            WorkflowStatus::Terminated => Ok(Mutation::Unchanged(())),
            _ => {
                engine::terminate_workflow(st, reason.clone(), trigger_failure_workflow);
                Ok(Mutation::Changed((), Vec::new()))
            }
        })
        .await
    }

    pub async fn pause(&self, workflow_id: &str) -> Result<()> {
        self.mutate(workflow_id, |st| {
            match ops::pause(st).map_err(op_error)? {
                true => Ok(Mutation::Changed((), Vec::new())),
                false => Ok(Mutation::Unchanged(())),
            }
        })
        .await
    }

    pub async fn resume(&self, workflow_id: &str) -> Result<()> {
        self.mutate(workflow_id, |st| {
            ops::resume(st).map_err(op_error)?;
            Ok(Mutation::Changed((), Vec::new()))
        })
        .await
    }

    /// Restarts a terminal workflow from its first task, with the same id; a child's
    /// ancestors are re-opened to wait for it (see `hierarchy.rs`).
    pub async fn restart(&self, workflow_id: &str, use_latest_definitions: bool) -> Result<()> {
        let state = self.load_or_404(workflow_id).await?;
        ops::check_restart(&state.workflow, &state.def).map_err(op_error)?;
        let latest = if use_latest_definitions {
            Some(
                self.resolve_def(&state.workflow.workflow_name, None)
                    .await?,
            )
        } else {
            None
        };
        self.reopen_ancestors(workflow_id, "restarted").await?;
        self.mutate(workflow_id, |st| {
            ops::restart(st, latest.clone()).map_err(op_error)?;
            Ok(Mutation::Changed((), Vec::new()))
        })
        .await
    }

    /// Retries a terminal workflow (§4.9). With `resume_sub_workflows`, a failed
    /// SUB_WORKFLOW task is not replaced by a new child: its child is retried in place (and so
    /// on down), and the task waits for it again. A retried child's ancestors wait for it
    /// again too.
    pub async fn retry(&self, workflow_id: &str, resume_sub_workflows: bool) -> Result<()> {
        let mut chain: Vec<(String, String)> = Vec::new();
        let mut current = workflow_id.to_string();
        if resume_sub_workflows {
            // Walk down to the deepest failed child (bounded: nesting is finite, but a
            // corrupted store must not loop us forever).
            for _ in 0..32 {
                let Some(state) = self.store.load_workflow(&current).await? else {
                    break;
                };
                let failed_sub = state.tasks.iter().rev().find(|t| {
                    t.task_type == engine::systask::SUB_WORKFLOW
                        && !t.retried
                        && !t.status.is_successful()
                        && t.sub_workflow_id.is_some()
                });
                let Some(task) = failed_sub else { break };
                let child = task.sub_workflow_id.clone().unwrap_or_default();
                chain.push((current.clone(), task.task_id.clone()));
                current = child;
            }
        }
        self.mutate(&current, |st| {
            ops::retry(st).map_err(op_error)?;
            Ok(Mutation::Changed((), Vec::new()))
        })
        .await?;
        // Re-open the SUB_WORKFLOW task in each ancestor, innermost first.
        for (parent, task_id) in chain.into_iter().rev() {
            self.mutate(&parent, |st| {
                ops::resume_sub_workflow_task(st, &task_id).map_err(op_error)?;
                Ok(Mutation::Changed((), Vec::new()))
            })
            .await?;
        }
        // Then the retried workflow's own ancestors (a child retried directly).
        self.reopen_ancestors(workflow_id, "retried").await
    }

    pub async fn rerun(
        &self,
        workflow_id: &str,
        from_task_id: Option<String>,
        task_input: Option<JsonMap>,
        workflow_input: Option<JsonMap>,
        correlation_id: Option<String>,
    ) -> Result<()> {
        let state = self.load_or_404(workflow_id).await?;
        ops::check_rerun(&state.workflow).map_err(op_error)?;
        // A task id that is not the workflow's own is looked for in its sub-workflows: each
        // workflow on the way down waits again for its child, which reruns from the task.
        let mut path = Vec::new();
        let mut target = workflow_id.to_string();
        if let Some(task_id) = from_task_id.as_deref() {
            if !state.tasks.iter().any(|t| t.task_id == task_id) {
                let (down, holder) =
                    self.path_to_task(workflow_id, task_id)
                        .await?
                        .ok_or_else(|| {
                            Error::NotFound(format!(
                                "Task {task_id} is not part of workflow {workflow_id} or of its sub-workflows"
                            ))
                        })?;
                path = down;
                target = holder;
            }
        }
        // Every workflow below that reruns must be able to, before anything changes.
        for id in path.iter().skip(1).map(|(id, _)| id).chain([&target]) {
            if id != workflow_id {
                let w = self.get_workflow(id, false).await?;
                ops::check_rerun(&w).map_err(op_error)?;
            }
        }
        self.reopen_ancestors(workflow_id, "reran").await?;
        let (mut workflow_input, mut correlation_id) = (workflow_input, correlation_id);
        for (id, sub_task) in &path {
            // The new workflow input and correlation id are the top workflow's.
            let (input, correlation) = (workflow_input.take(), correlation_id.take());
            self.mutate(id, |st| {
                ops::rerun_into_sub_workflow(st, sub_task, input.clone(), correlation.clone())
                    .map_err(op_error)?;
                Ok(Mutation::Changed((), Vec::new()))
            })
            .await?;
        }
        self.mutate(&target, |st| {
            ops::rerun(
                st,
                from_task_id.as_deref(),
                task_input.clone(),
                workflow_input.clone(),
                correlation_id.clone(),
            )
            .map_err(op_error)?;
            Ok(Mutation::Changed((), Vec::new()))
        })
        .await
    }

    pub async fn skip_task(
        &self,
        workflow_id: &str,
        reference: &str,
        input: Option<JsonMap>,
        output: Option<JsonMap>,
    ) -> Result<()> {
        self.mutate(workflow_id, |st| {
            ops::skip_task(st, reference, input.clone(), output.clone()).map_err(op_error)?;
            Ok(Mutation::Changed((), Vec::new()))
        })
        .await
    }

    pub async fn remove_workflow(&self, workflow_id: &str) -> Result<()> {
        self.states.forget(workflow_id);
        self.store
            .remove_workflow(workflow_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    Error::NotFound(format!("Workflow with id: {workflow_id} not found."))
                }
                other => Error::Store(other),
            })
    }

    /// Updates the first non-terminal task with this reference name (loop iterations match
    /// by base name) — how HUMAN and WAIT tasks are completed from outside.
    pub async fn update_task_by_ref(
        &self,
        workflow_id: &str,
        reference: &str,
        status: baton_model::TaskResultStatus,
        output: JsonMap,
        worker_id: Option<String>,
    ) -> Result<Option<String>> {
        let state = self.load_or_404(workflow_id).await?;
        let Some(task) = state.tasks.iter().find(|t| {
            !t.status.is_terminal()
                && (t.reference_task_name == reference
                    || baton_engine::state::base_ref(&t.reference_task_name) == reference)
        }) else {
            return Ok(None);
        };
        let mut merged = task.output_data.clone();
        merged.extend(output);
        let mut r = TaskResult::new(workflow_id, &task.task_id, status);
        r.output_data = Some(merged);
        r.worker_id = worker_id;
        let resp = self.update_task(r).await?;
        Ok(Some(resp.task_id))
    }

    /// A task search; its total counts at most [`RuntimeConfig::search_count_limit`]
    /// matches.
    pub async fn search_tasks(&self, query: &baton_store::TaskQuery) -> Result<(i64, Vec<Task>)> {
        let query = baton_store::TaskQuery {
            count_limit: self.config().search_count_limit,
            ..query.clone()
        };
        Ok(self.store.search_tasks(&query).await?)
    }

    pub async fn poll_data(&self) -> Result<Vec<baton_model::PollData>> {
        Ok(self.store.poll_data().await?)
    }

    /// A workflow search; a total counted by reading the matches counts at most
    /// [`RuntimeConfig::search_count_limit`] of them.
    pub async fn search(&self, query: &baton_store::WorkflowQuery) -> Result<(i64, Vec<Workflow>)> {
        let query = baton_store::WorkflowQuery {
            count_limit: self.config().search_count_limit,
            ..query.clone()
        };
        Ok(self.store.search_workflows(&query).await?)
    }
}
