//! The worker protocol: task updates, polls, task reads, logs, queue sizes and history.

use super::*;

impl Runtime {
    /// Applies a TaskResult (§4.2 update).
    pub async fn update_task(&self, r: TaskResult) -> Result<UpdateResponse> {
        self.update_task_starting(r, None).await
    }

    /// Applies a TaskResult and, in the same commit, starts `child` (a SUB_WORKFLOW task's
    /// new child): only if the update applies, so no child outlives a task that was
    /// cancelled (its parent terminated) before its start was recorded.
    pub(crate) async fn update_task_starting(
        &self,
        r: TaskResult,
        child: Option<Box<ExecState>>,
    ) -> Result<UpdateResponse> {
        if r.task_id.trim().is_empty() {
            return Err(Error::Invalid("taskId: cannot be empty".into()));
        }
        baton_model::duration::check_non_negative("callbackAfterSeconds", r.callback_after_seconds)
            .map_err(Error::Invalid)?;
        let workflow_id = if r.workflow_instance_id.trim().is_empty() {
            // Tolerate a missing workflow id by looking the task up.
            self.store
                .get_task(&r.task_id)
                .await?
                .map(|t| t.workflow_instance_id)
                .ok_or_else(|| {
                    Error::NotFound(format!("No such task found by id: {}", r.task_id))
                })?
        } else {
            r.workflow_instance_id.clone()
        };
        let logs: Vec<TaskExecLog> = r
            .logs
            .iter()
            .map(|l| TaskExecLog {
                task_id: Some(r.task_id.clone()),
                ..l.clone()
            })
            .collect();
        let also = child.map(|c| vec![*c]).unwrap_or_default();
        let result = self
            .mutate_with(&workflow_id, also, |st| {
                let outcome = engine::apply_result(st, &r);
                // Looked up when describing: a decision may move tasks (keepLastN removals).
                let describe = |st: &ExecState, stale: Option<String>| {
                    let t = st.find_task(&r.task_id).map(|i| &st.tasks[i]);
                    UpdateResponse {
                        task_id: r.task_id.clone(),
                        task_type: t.map(|t| t.task_type.clone()).unwrap_or_default(),
                        domain: t.and_then(|t| t.domain.clone()),
                        terminal: t.is_some_and(|t| t.status.is_terminal()),
                        stale,
                    }
                };
                match outcome {
                    UpdateOutcome::NotFound => Err(Error::NotFound(format!(
                        "No such task found by id: {}",
                        r.task_id
                    ))),
                    UpdateOutcome::Stale(why) => Ok(Mutation::Unchanged(describe(st, Some(why)))),
                    UpdateOutcome::Applied => {
                        // Also after a lease extension: the decision computes the workflow's
                        // next wake-up (the new lease end), which the commit stores.
                        engine::decide(st);
                        Ok(Mutation::Changed(describe(st, None), logs.clone()))
                    }
                }
            })
            .await;
        if let Ok(resp) = &result {
            if let Some(why) = &resp.stale {
                tracing::debug!(task = %resp.task_id, reason = %why, "ignored a stale task update");
            }
        }
        result
    }

    /// Long poll (§4.2): claims up to `count` tasks, waiting up to `timeout` for the first.
    pub async fn poll(
        &self,
        task_type: &str,
        worker_id: Option<&str>,
        domain: Option<&str>,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Task>> {
        let count = count.clamp(1, self.config.max_poll_count);
        let timeout = timeout.min(self.config.max_poll_timeout);
        let domain = domain.filter(|d| !d.is_empty());
        let queue = queue_name(task_type, domain);
        let asked = Instant::now();
        let deadline = asked + timeout;
        let notify = self.queues.get(&queue);
        let registered = self.task_defs().await?.contains_key(task_type);
        let limits = match self.task_defs().await?.get(task_type) {
            Some(def) => PollLimits {
                task_def_name: task_type.to_string(),
                concurrent_exec_limit: def.concurrent_exec_limit.filter(|l| *l > 0),
                rate_limit: def
                    .rate_limit_per_frequency
                    .filter(|p| *p > 0)
                    .map(|p| (p, def.rate_limit_frequency_in_seconds.unwrap_or(1).max(1))),
            },
            None => PollLimits::default(),
        };
        let system = baton_engine::systask::is_async_system(task_type);
        loop {
            // Looked up on every pass (cached): a system worker's poll is always waiting, and
            // a definition registered meanwhile must bind the tasks it hands out next.
            let def_limits = if system {
                self.system_limits(task_type).await?
            } else {
                None
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.now();
            let outcome = self
                .store
                .poll(PollRequest {
                    queue: queue.clone(),
                    count,
                    worker_id: worker_id.map(str::to_string),
                    domain: domain.map(str::to_string),
                    now,
                    limits: limits.clone(),
                    def_limits,
                    registered,
                    claim: baton_engine::claim::claim,
                })
                .await?;
            self.metrics
                .poll_queried(task_type, !outcome.tasks.is_empty());
            for task in &outcome.tasks {
                self.states.claimed(task);
            }
            if !outcome.tasks.is_empty() {
                self.changes.claimed(&outcome.tasks, now);
                if let Some(earliest) = outcome.wake_by {
                    if earliest < self.sweeper_next.load(Ordering::Relaxed) {
                        self.sweeper_nudge.notify_one();
                    }
                }
                self.metrics
                    .polled(task_type, &outcome.tasks, asked.elapsed(), now);
                return Ok(outcome.tasks);
            }
            let now_i = Instant::now();
            if now_i >= deadline {
                self.metrics.polled(task_type, &[], asked.elapsed(), now);
                return Ok(Vec::new());
            }
            let mut wake = deadline;
            if let Some(at) = outcome.next_visible_at {
                let ms = u64::try_from(at.saturating_sub(self.now())).unwrap_or(0);
                // A far-future entry (up to the ten-year duration cap) must not overflow Instant.
                if let Some(at_i) = now_i.checked_add(Duration::from_millis(ms)) {
                    wake = wake.min(at_i);
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// The limits a system task queue's poll applies by definition name: Conductor bounds a
    /// system task it runs asynchronously by the `concurrentExecLimit` of the task definition
    /// named like the task (`name` in the workflow), and an HTTP task by its rate limit too
    /// (Conductor's HTTP mapper copies the rate limit onto the task; the SUB_WORKFLOW,
    /// START_WORKFLOW and EVENT mappers do not). None when no definition has a limit.
    async fn system_limits(
        &self,
        task_type: &str,
    ) -> Result<Option<Arc<HashMap<String, PollLimits>>>> {
        let defs = self.task_defs().await?;
        let pick = |l: &SystemLimits| {
            if task_type == baton_engine::systask::HTTP {
                l.http.clone()
            } else {
                l.others.clone()
            }
        };
        if let Some(l) = &self.caches.lock().system_limits {
            if Arc::ptr_eq(&l.defs, &defs) {
                return Ok(pick(l));
            }
        }
        let built = SystemLimits::build(defs);
        let picked = pick(&built);
        self.caches.lock().system_limits = Some(built);
        Ok(picked)
    }

    pub async fn get_task(&self, task_id: &str) -> Result<Task> {
        self.store
            .get_task(task_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("No such task found by id: {task_id}")))
    }

    pub async fn add_task_log(&self, task_id: &str, line: String) -> Result<()> {
        self.get_task(task_id).await?;
        self.store
            .append_task_logs(vec![TaskExecLog {
                log: line,
                task_id: Some(task_id.to_string()),
                created_time: self.now(),
            }])
            .await?;
        Ok(())
    }

    pub async fn task_logs(&self, task_id: &str) -> Result<Vec<TaskExecLog>> {
        Ok(self.store.task_logs(task_id).await?)
    }

    pub async fn queue_sizes(&self) -> Result<Vec<(String, i64)>> {
        Ok(self.store.queue_sizes().await?)
    }

    /// Each queue's depth and the visibility time of its oldest claimable entry, now (one
    /// grouped read over the queue's index, as `queue_sizes`).
    pub async fn queue_stats(&self) -> Result<(Vec<baton_store::QueueStat>, i64)> {
        let now = self.now();
        Ok((self.store.queue_stats(now).await?, now))
    }

    pub async fn history(&self, workflow_id: &str) -> Result<Vec<HistoryEvent>> {
        Ok(self.store.history(workflow_id).await?)
    }
}

/// Limits by definition name for the system task queues, built from one registry.
pub(super) struct SystemLimits {
    defs: Arc<HashMap<String, TaskDef>>,
    http: Option<Arc<HashMap<String, PollLimits>>>,
    others: Option<Arc<HashMap<String, PollLimits>>>,
}

impl SystemLimits {
    fn build(defs: Arc<HashMap<String, TaskDef>>) -> SystemLimits {
        let mut http = HashMap::new();
        let mut others = HashMap::new();
        for (name, def) in defs.iter() {
            let concurrent_exec_limit = def.concurrent_exec_limit.filter(|l| *l > 0);
            let rate_limit = def
                .rate_limit_per_frequency
                .filter(|p| *p > 0)
                .map(|p| (p, def.rate_limit_frequency_in_seconds.unwrap_or(1).max(1)));
            if concurrent_exec_limit.is_some() || rate_limit.is_some() {
                let limits = PollLimits {
                    task_def_name: name.clone(),
                    concurrent_exec_limit,
                    rate_limit,
                };
                if concurrent_exec_limit.is_some() {
                    others.insert(
                        name.clone(),
                        PollLimits {
                            rate_limit: None,
                            ..limits.clone()
                        },
                    );
                }
                http.insert(name.clone(), limits);
            }
        }
        let some = |m: HashMap<String, PollLimits>| (!m.is_empty()).then(|| Arc::new(m));
        SystemLimits {
            defs,
            http: some(http),
            others: some(others),
        }
    }
}
