//! The hot path of every change: take the workflow's turn, apply and decide, commit once,
//! then wake pollers, waiters and the sweeper, and carry out the follow-ups the commit left.

use super::*;
use crate::metrics::CommitObservation;

impl Runtime {
    /// Takes in the tasks polls claimed while this workflow's turn held it, where the copy
    /// has not seen them yet and the decision left them alone. One the decision changed
    /// makes the commit conflict (the store sees the copy is older than the claim), and the
    /// turn re-reads the workflow.
    pub(super) fn absorb_claims(&self, st: &mut ExecState) {
        for task in self.states.take_claims(&st.workflow.workflow_id) {
            let newer = st
                .find_task(&task.task_id)
                .is_some_and(|i| st.tasks[i].poll_count < task.poll_count);
            if newer {
                engine::absorb_claim(st, task);
            }
        }
    }

    pub(super) fn cached_exec_state(&self, c: CachedState, now: i64) -> ExecState {
        let mut st =
            ExecState::from_list(c.workflow, c.def, c.index, c.tasks, Some(c.version), now);
        st.limits = self.engine_limits();
        st
    }

    pub(super) fn exec_state(&self, s: WorkflowState, now: i64) -> ExecState {
        let index = self.index_for(&s.def);
        let mut st = ExecState::new(s.workflow, s.def, index, s.tasks, Some(s.version), now);
        st.limits = self.engine_limits();
        st
    }

    /// Writes decided states in one commit, then wakes pollers and the sweeper. What the
    /// states require of other workflows (their effects) is stored in the same commit as
    /// durable follow-ups, which are returned to be carried out now; `done` names follow-ups
    /// this commit carries out (deleted with it).
    pub(crate) async fn commit_states(
        &self,
        mut states: Vec<ExecState>,
        logs: Vec<TaskExecLog>,
        done: Vec<String>,
    ) -> Result<Vec<FollowUp>> {
        let mut commit = Commit {
            logs,
            follow_ups_done: done,
            ..Commit::default()
        };
        // Queues to wake, with how many tasks each may now hand out.
        let mut queues: Vec<(String, usize)> = Vec::new();
        let mut wake = |queue: &str| match queues.iter_mut().find(|(q, _)| q == queue) {
            Some((_, n)) => *n += 1,
            None => queues.push((queue.to_string(), 1)),
        };
        let mut earliest: Option<i64> = None;
        let now = self.now();
        for st in &mut states {
            for q in &st.queue_push {
                wake(&q.queue);
            }
            // A task that ended frees a slot under its definition's concurrency limit, if it
            // has one; otherwise no poll waits for it (without a registry, wake anyway).
            let limited = |t: &Task| {
                st.registry.as_ref().is_none_or(|defs| {
                    [&t.task_def_name, &t.task_type]
                        .into_iter()
                        .filter_map(|name| defs.get(name.as_str()))
                        .any(|d| d.concurrent_exec_limit.is_some_and(|l| l > 0))
                })
            };
            for t in st
                .dirty_tasks()
                .filter(|t| t.status.is_terminal() && limited(t))
            {
                wake(&t.queue_name());
            }
            if let Some(w) = st.next_wake_at {
                earliest = Some(earliest.map_or(w, |e: i64| e.min(w)));
            }
            for (_, at) in &st.wake {
                earliest = Some(earliest.map_or(*at, |e: i64| e.min(*at)));
            }
            commit.wake.extend(st.wake.iter().cloned());
            for effect in std::mem::take(&mut st.effects) {
                commit.follow_ups.push(crate::follow_ups::to_follow_up(
                    &st.workflow.workflow_id,
                    &effect,
                    now,
                )?);
            }
        }
        let mut observed = CommitObservation::default();
        let text_bytes = self.store.task_text_bytes();
        for st in &mut states {
            observed.add(st);
            commit.workflows.push(into_write(st, text_bytes)?);
        }
        let follow_ups = commit.follow_ups.clone();
        let started = Instant::now();
        let changes = self.changes.describe(&commit.workflows);
        if let Err(e) = self.store.commit(commit).await {
            let conflict = matches!(e, StoreError::Conflict(_));
            self.metrics.commit_failed(conflict);
            if let StoreError::Conflict(id) = &e {
                self.states.forget(id);
            }
            return Err(e.into());
        }
        self.metrics
            .committed(observed, states.len(), started.elapsed());
        for st in states {
            self.waiters.committed(&st.workflow.workflow_id);
            self.states.committed(st);
        }
        self.changes.publish(changes);
        for (q, tasks) in &queues {
            self.queues.wake_for(q, *tasks);
        }
        if let Some(at) = earliest {
            if at < self.sweeper_next.load(Ordering::Relaxed) || at <= self.now() {
                self.sweeper_nudge.notify_one();
            }
        }
        Ok(follow_ups)
    }

    /// Loads, changes with `f`, decides and commits one workflow, re-reading on conflicts;
    /// then carries out the follow-ups the commit left.
    pub(crate) async fn mutate<R>(
        &self,
        workflow_id: &str,
        f: impl FnMut(&mut ExecState) -> Result<Mutation<R>>,
    ) -> Result<R> {
        self.mutate_with(workflow_id, Vec::new(), f).await
    }

    /// [`Runtime::mutate`] that also commits the states `also` (new workflows) with the
    /// change, and only with it: when `f` changes nothing or fails, they are not written.
    pub(crate) async fn mutate_with<R>(
        &self,
        workflow_id: &str,
        also: Vec<ExecState>,
        f: impl FnMut(&mut ExecState) -> Result<Mutation<R>>,
    ) -> Result<R> {
        let (result, follow_ups) = self.mutate_inner(workflow_id, Vec::new(), also, f).await?;
        self.drain(follow_ups).await;
        Ok(result)
    }

    /// [`Runtime::mutate`] without carrying out the follow-ups (returned instead). `done`:
    /// follow-ups this change carries out, deleted in its commit (or alone, if `f` changes
    /// nothing).
    pub(crate) async fn mutate_raw<R>(
        &self,
        workflow_id: &str,
        done: Vec<String>,
        f: impl FnMut(&mut ExecState) -> Result<Mutation<R>>,
    ) -> Result<(R, Vec<FollowUp>)> {
        self.mutate_inner(workflow_id, done, Vec::new(), f).await
    }

    async fn mutate_inner<R>(
        &self,
        workflow_id: &str,
        done: Vec<String>,
        also: Vec<ExecState>,
        mut f: impl FnMut(&mut ExecState) -> Result<Mutation<R>>,
    ) -> Result<(R, Vec<FollowUp>)> {
        let _turn = self.locks.lock(workflow_id).await;
        // Dropped before the turn: an entry this turn took out and did not give back goes.
        let _hold = self.states.hold(workflow_id);
        // On a database other nodes write too, a cached copy may predate their commits: an
        // answer that no commit checks (an error, a stale update ignored) is then given only
        // from a fresh read.
        let mut trust_cache = true;
        for _ in 0..MAX_CONFLICT_RETRIES {
            // The cached entry is handed over for the turn (no copy) and comes back with
            // the commit; without one, the workflow is read from the store.
            let cached = self.states.take(workflow_id).filter(|_| trust_cache);
            let from_cache = cached.is_some();
            let unverified = from_cache && self.store.shared();
            let mut st = match cached {
                Some(cached) => self.cached_exec_state(cached, self.now()),
                None => {
                    let state = self.load_or_404(workflow_id).await?;
                    self.exec_state(state, self.now())
                }
            };
            st.registry = Some(self.task_defs().await?);
            if !st.workflow.task_to_domain.is_empty() {
                st.active_domains = Some(self.active_domains().await);
            }
            let slow = st.index.decides_slowly();
            let outcome = off_async_threads(slow, || f(&mut st));
            self.absorb_claims(&mut st);
            let (result, logs) = match outcome {
                Err(_) | Ok(Mutation::Unchanged(_)) if unverified => {
                    // Dropped, not put back: the next round reads the store.
                    trust_cache = false;
                    continue;
                }
                // A cached copy that lacks what the request names (a task a worker was just
                // handed) is not the last word: read the store once before answering 404.
                // (A start that cached its state after a faster turn did so left exactly such
                // a copy; starts no longer replace entries, and this stays as a safety net.)
                Err(Error::NotFound(_)) if from_cache => {
                    trust_cache = false;
                    continue;
                }
                Err(e) => {
                    self.states.put_back(st);
                    return Err(e);
                }
                Ok(Mutation::Unchanged(r)) => {
                    self.states.put_back(st);
                    if !done.is_empty() {
                        self.commit_states(Vec::new(), Vec::new(), done).await?;
                    }
                    return Ok((r, Vec::new()));
                }
                Ok(Mutation::Changed(r, logs)) => (r, logs),
            };
            let mut states = vec![st];
            // Cloned: a conflict re-decides this workflow and commits them again.
            states.extend(also.iter().cloned());
            match self.commit_states(states, logs, done.clone()).await {
                Ok(effects) => return Ok((result, effects)),
                Err(Error::Store(StoreError::Conflict(_))) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "workflow {workflow_id} is changing too fast; try again"
        )))
    }
}

/// What a mutation closure decided.
pub(crate) enum Mutation<R> {
    /// Nothing to write.
    Unchanged(R),
    /// Commit the state, with these task logs.
    Changed(R, Vec<TaskExecLog>),
}

/// Whether a decision of `st` (which was `before`) changed nothing that must be committed:
/// no task row, history, queue entry, wake of another workflow, effect or workflow field.
/// Its next wake-up may differ; the caller stores that alone.
pub(super) fn decided_nothing(st: &ExecState, before: &Workflow) -> bool {
    st.dirty_tasks().next().is_none()
        && st.history.is_empty()
        && st.queue_push.is_empty()
        && st.queue_remove.is_empty()
        && st.removed_tasks.is_empty()
        && st.wake.is_empty()
        && st.effects.is_empty()
        && !st.needs_more
        && st.workflow == *before
}

/// The commit for a decided state. The state keeps its workflow and tasks (for the cache);
/// the queue, history and wake-up records move into the write. Changed tasks are written
/// from the state's own copies, not cloned (ADR 39); `text_bytes` bounds their search
/// documents.
pub(super) fn into_write(
    st: &mut ExecState,
    text_bytes: usize,
) -> Result<WorkflowWrite, StoreError> {
    st.workflow.update_time = st.now;
    let id = st.workflow.workflow_id.as_str();
    let tasks = st
        .dirty_tasks()
        .map(|t| TaskWrite::new(t, id, text_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    // An update leaves the stored input alone unless an operation replaced it: the input can
    // be the workflow's largest field, and copying and rewriting it on every commit made the
    // cost of an update grow with it.
    let keep_input = st.version.is_some() && !st.input_changed;
    let input = if keep_input {
        std::mem::take(&mut st.workflow.input)
    } else {
        JsonMap::new()
    };
    let mut workflow = st.workflow.clone();
    if keep_input {
        st.workflow.input = input;
    }
    // `input_changed` stays set for the state cache, which then measures the new input.
    workflow.workflow_definition = None;
    Ok(WorkflowWrite {
        workflow,
        def: st.def.clone(),
        expected_version: st.version,
        tasks,
        removed_tasks: std::mem::take(&mut st.removed_tasks),
        queue_push: std::mem::take(&mut st.queue_push),
        queue_remove: std::mem::take(&mut st.queue_remove),
        history: std::mem::take(&mut st.history),
        next_wake_at: st.next_wake_at,
        keep_input,
    })
}
