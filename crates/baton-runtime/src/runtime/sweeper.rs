//! Background deciding: due timers, woken parents, and the follow-up loop beside them.

use super::*;

impl Runtime {
    /// Re-runs the decider for a workflow (timers, woken parents). A parent's running
    /// SUB_WORKFLOW tasks first take the outcome of children that have ended.
    ///
    /// A decision that changes nothing (no task, history, queue, effect or workflow field)
    /// commits nothing: no version bump, no row rewrite. Only its next wake-up is stored, if
    /// it moved (see [`baton_store::Commit::reschedule`]), so a parent waiting on a long child
    /// costs one small update per safety-net wake instead of a full commit.
    pub async fn decide(&self, workflow_id: &str) -> Result<()> {
        let mut finished: Vec<(String, Workflow)> = Vec::new();
        // A pending wake (a child ended) is read before the children, and cleared after the
        // decision only if no other wake arrived meanwhile: a child that ends while this runs
        // leaves its wake pending, and the parent is decided again.
        let mut woken: Option<i64> = None;
        if let Some(state) = self.store.load_workflow(workflow_id).await? {
            woken = state.woken;
            for t in state
                .tasks
                .iter()
                .filter(|t| t.task_type == engine::systask::SUB_WORKFLOW && !t.status.is_terminal())
            {
                // The child's id is derived from the task, so it is found even before the
                // task recorded it.
                let child_id = t
                    .sub_workflow_id
                    .clone()
                    .unwrap_or_else(|| child_workflow_id(t));
                // The status row: status and output, not the child's input.
                if let Some(child) = self.store.get_workflow_status(&child_id).await? {
                    if child.status.is_terminal() {
                        finished.push((t.task_id.clone(), child));
                    }
                }
            }
        }
        let unchanged = self
            .mutate(workflow_id, |st| {
                let before = st.workflow.clone();
                for (task_id, child) in &finished {
                    let status = match child.status {
                        WorkflowStatus::Completed => TaskResultStatus::Completed,
                        WorkflowStatus::Terminated => TaskResultStatus::Canceled,
                        _ => TaskResultStatus::Failed,
                    };
                    let mut output = child.output.clone();
                    output.insert("subWorkflowId".into(), child.workflow_id.clone().into());
                    let mut r = TaskResult::new(&st.workflow.workflow_id, task_id, status);
                    r.output_data = Some(output);
                    r.reason_for_incompletion = child.reason_for_incompletion.clone();
                    r.sub_workflow_id = Some(child.workflow_id.clone());
                    let _ = engine::apply_result(st, &r);
                    if let Some(i) = st.find_task(task_id) {
                        // The change a restart, rerun or retry of the child announced is
                        // taken in.
                        if st.tasks[i].subworkflow_changed {
                            st.task_mut(i).subworkflow_changed = false;
                        }
                    }
                    if child.status == WorkflowStatus::TimedOut {
                        if let Some(i) = st.find_task(task_id) {
                            st.set_status(i, baton_model::TaskStatus::TimedOut);
                        }
                    }
                }
                engine::decide(st);
                match (st.version, decided_nothing(st, &before)) {
                    (Some(version), true) => {
                        Ok(Mutation::Unchanged(Some(baton_store::Reschedule {
                            workflow_id: st.workflow.workflow_id.clone(),
                            version,
                            next_wake_at: st.next_wake_at,
                        })))
                    }
                    _ => Ok(Mutation::Changed(None, Vec::new())),
                }
            })
            .await?;
        let unwake: Vec<(String, i64)> = woken
            .map(|seen| (workflow_id.to_string(), seen))
            .into_iter()
            .collect();
        if unchanged.is_some() || !unwake.is_empty() {
            let commit = Commit {
                reschedule: unchanged.into_iter().collect(),
                unwake,
                ..Commit::default()
            };
            match self.store.commit(commit).await {
                // Changed since it was read (another node, or a cached state behind a claim):
                // it is still due, and the next decision reads it afresh.
                Err(StoreError::Conflict(_)) => self.states.forget(workflow_id),
                other => other?,
            }
        }
        Ok(())
    }

    /// Runs the background work of executions until cancelled: due timers (below) and
    /// stored follow-ups ([`Runtime::run_follow_ups`]).
    pub async fn run_sweeper(self: Arc<Self>, cancel: CancellationToken) {
        tokio::join!(
            self.clone().sweep_timers(cancel.clone()),
            self.clone().follow_cluster(cancel.clone()),
            self.run_follow_ups(cancel)
        );
    }

    /// Decides every workflow whose wake-up time has passed by the runtime's clock, once, and
    /// returns how many it decided. The sweeper loop runs this; tests that move a manual clock
    /// call it to fire what became due, and can then assert on the result (or its absence).
    pub async fn fire_due_timers(self: &Arc<Self>) -> usize {
        let mut backoff = HashMap::new();
        let mut total = 0;
        loop {
            let decided = self.sweep_once(&mut backoff).await;
            total += decided;
            if decided < SWEEP_BATCH {
                return total;
            }
        }
    }

    /// One pass of the sweeper: decides up to [`SWEEP_BATCH`] due workflows, skipping those
    /// backed off after a failed decision. Answers how many it decided.
    async fn sweep_once(self: &Arc<Self>, backoff: &mut HashMap<String, i64>) -> usize {
        // Cached states unused for a while (workflows waiting for hours) give their memory
        // back; the check stops at the first entry in use.
        self.states.drop_idle();
        let now = self.now();
        backoff.retain(|_, until| *until > now);
        let due = match self
            .store
            .claim_due_workflows(
                now,
                SWEEP_BATCH + backoff.len(),
                i64::try_from(self.config.sweep_claim.as_millis()).unwrap_or(i64::MAX),
            )
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "sweeper could not list due workflows");
                Vec::new()
            }
        };
        let mut decided = 0usize;
        // Up to SWEEP_CONCURRENCY decisions at once, so their commits share group commits.
        let mut running = tokio::task::JoinSet::new();
        for id in due {
            if backoff.contains_key(&id) {
                continue;
            }
            decided += 1;
            if running.len() >= SWEEP_CONCURRENCY {
                if let Some(Ok(Err(id))) = running.join_next().await {
                    backoff.insert(id, self.now() + 30_000);
                }
            }
            let rt = self.clone();
            running.spawn(async move {
                match rt.decide(&id).await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        tracing::warn!(workflow = %id, error = %e, "sweeper could not decide workflow");
                        Err(id)
                    }
                }
            });
        }
        while let Some(joined) = running.join_next().await {
            if let Ok(Err(id)) = joined {
                backoff.insert(id, self.now() + 30_000);
            }
        }
        decided
    }

    /// Fires due timers until cancelled: decides every workflow whose wake-up time passed,
    /// then sleeps until the next one (at most a second) or a nudge.
    pub(super) async fn sweep_timers(self: Arc<Self>, cancel: CancellationToken) {
        // Workflows whose decision failed are left alone for a while, so one broken
        // execution cannot spin the sweeper.
        let mut backoff: HashMap<String, i64> = HashMap::new();
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let decided = self.sweep_once(&mut backoff).await;
            if decided >= SWEEP_BATCH {
                continue;
            }
            let now = self.now();
            let next = self.store.next_wake_at().await.ok().flatten();
            let mut sleep_ms = next.map_or(1000, |t| (t - now).clamp(0, 1000));
            if sleep_ms == 0 && decided > 0 {
                continue;
            }
            if decided == 0 {
                // Everything due is backed off (or the clock is at the boundary).
                sleep_ms = sleep_ms.max(if backoff.is_empty() { 2 } else { 1000 });
            }
            self.sweeper_next.store(now + sleep_ms, Ordering::Relaxed);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.sweeper_nudge.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
            }
        }
    }
}
