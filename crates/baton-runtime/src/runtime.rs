use crate::error::{Error, Result};
use crate::waiters::CommitWaiters;
use crate::wakers::QueueWakers;
use baton_engine::ops;
use baton_engine::state::TaskList;
use baton_engine::validate::{validate_task_def, validate_workflow_def};
use baton_engine::{self as engine, DefIndex, ExecState, NewExecution, UpdateOutcome};
use baton_model::{
    queue_name, BulkResponse, HistoryEvent, IdempotencyStrategy, JsonMap, StartWorkflowRequest,
    Task, TaskDef, TaskExecLog, TaskResult, TaskResultStatus, Workflow, WorkflowDef,
    WorkflowStatus,
};
use baton_store::{
    Commit, FollowUp, PollLimits, PollRequest, Store, StoreError, WorkflowState, WorkflowWrite,
};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// (task type, domain) pairs with a worker polling lately.
type ActiveDomains = Arc<HashSet<(String, String)>>;

/// Wall-clock epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A start decided but not yet committed, or the execution an idempotency key already names.
enum Started {
    Existing(String),
    New(Box<ExecState>),
}

/// How many times an operation re-reads and re-decides after losing a race to another writer.
const MAX_CONFLICT_RETRIES: usize = 64;

/// Due workflows the sweeper decides at once (so their commits share group commits).
const SWEEP_CONCURRENCY: usize = 32;

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Upper bound for a batch poll's `count`.
    pub max_poll_count: usize,
    /// Upper bound for a long poll's wait (Conductor rejects more than 5000 ms).
    pub max_poll_timeout: Duration,
    /// Deepest chain of workflows started by workflows: sub-workflows inside sub-workflows,
    /// and failure workflows of failure workflows. A SUB_WORKFLOW past it fails (terminal);
    /// a failure workflow past it is not started. Stops runaway recursion.
    pub max_workflow_depth: usize,
    /// Most iterations of one DO_WHILE task; the next fails it for good, naming the limit.
    pub max_loop_iterations: u32,
    /// Wall time one decision may take before it yields and continues as a new one, so an
    /// operation waiting for that workflow (terminate, an update) gets its turn.
    pub decision_time_budget: Duration,
    /// Most branches one FORK_JOIN_DYNAMIC may fork; more fail it for good.
    pub max_fork_branches: usize,
    /// Largest HTTP system-task response body read; a larger one fails the task (FAILED,
    /// so the task definition's retries apply), naming the limit.
    pub max_http_task_response_bytes: usize,
    /// Most system-task executions (HTTP calls, sub-workflow starts, ...) in flight at once;
    /// the system workers poll no more than they have room for.
    pub max_system_tasks_in_flight: usize,
}

impl RuntimeConfig {
    /// Default of [`RuntimeConfig::max_workflow_depth`].
    pub const DEFAULT_MAX_WORKFLOW_DEPTH: usize = 32;
    /// Default of [`RuntimeConfig::max_loop_iterations`].
    pub const DEFAULT_MAX_LOOP_ITERATIONS: u32 = engine::EngineLimits::DEFAULT_MAX_LOOP_ITERATIONS;
    /// Default of [`RuntimeConfig::decision_time_budget`].
    pub const DEFAULT_DECISION_TIME_BUDGET: Duration = Duration::from_millis(200);
    /// Default of [`RuntimeConfig::max_fork_branches`].
    pub const DEFAULT_MAX_FORK_BRANCHES: usize = engine::EngineLimits::DEFAULT_MAX_FORK_BRANCHES;
    /// Default of [`RuntimeConfig::max_http_task_response_bytes`]: 1 MiB.
    pub const DEFAULT_MAX_HTTP_TASK_RESPONSE_BYTES: usize = 1024 * 1024;
    /// Default of [`RuntimeConfig::max_system_tasks_in_flight`].
    pub const DEFAULT_MAX_SYSTEM_TASKS_IN_FLIGHT: usize = 256;
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_poll_count: 1000,
            max_poll_timeout: Duration::from_millis(5000),
            max_workflow_depth: Self::DEFAULT_MAX_WORKFLOW_DEPTH,
            max_loop_iterations: engine::EngineLimits::DEFAULT_MAX_LOOP_ITERATIONS,
            decision_time_budget: Self::DEFAULT_DECISION_TIME_BUDGET,
            max_fork_branches: Self::DEFAULT_MAX_FORK_BRANCHES,
            max_http_task_response_bytes: Self::DEFAULT_MAX_HTTP_TASK_RESPONSE_BYTES,
            max_system_tasks_in_flight: Self::DEFAULT_MAX_SYSTEM_TASKS_IN_FLIGHT,
        }
    }
}

/// The answer to a task update.
#[derive(Debug, Clone)]
pub struct UpdateResponse {
    pub task_id: String,
    /// The task's type and domain, for `update-v2`'s follow-up poll.
    pub task_type: String,
    pub domain: Option<String>,
    /// True when the task is terminal after the update.
    pub terminal: bool,
    /// Set when the update was for an attempt that is no longer current; nothing changed.
    pub stale: Option<String>,
}

/// Caches that spare the hot path from re-reading definitions.
#[derive(Default)]
struct Caches {
    /// (name, version or latest) → definition with task definitions filled in.
    workflow_defs: HashMap<(String, Option<i32>), Arc<WorkflowDef>>,
    task_defs: Option<Arc<HashMap<String, TaskDef>>>,
    /// Definition pointer → its index. The Arc is kept so the pointer is never reused.
    indexes: HashMap<usize, (Arc<WorkflowDef>, Arc<DefIndex>)>,
}

pub struct Runtime {
    store: Arc<dyn Store>,
    config: RuntimeConfig,
    queues: QueueWakers,
    sweeper_nudge: Notify,
    sweeper_next: AtomicI64,
    /// Wakes synchronous executions when their workflow is committed.
    waiters: CommitWaiters,
    /// Workflows as this node last committed them (see [`StateCache`]).
    states: StateCache,
    /// One lock per workflow being changed on this node (see [`WorkflowLocks`]).
    locks: WorkflowLocks,
    /// Recently polled (task type, domain) pairs, refreshed at most once a second.
    active_domains: Mutex<(Option<Instant>, ActiveDomains)>,
    caches: Mutex<Caches>,
    /// Wakes the follow-up loop: follow-ups are pending beyond what their cause carried out.
    pub(crate) follow_ups_nudge: Notify,
}

impl Runtime {
    pub fn new(store: Arc<dyn Store>, config: RuntimeConfig) -> Arc<Self> {
        Arc::new(Runtime {
            store,
            config,
            queues: QueueWakers::default(),
            sweeper_nudge: Notify::new(),
            sweeper_next: AtomicI64::new(0),
            waiters: CommitWaiters::default(),
            states: StateCache::default(),
            locks: WorkflowLocks::default(),
            active_domains: Mutex::new((None, Arc::new(HashSet::new()))),
            caches: Mutex::new(Caches::default()),
            follow_ups_nudge: Notify::new(),
        })
    }

    /// The stored workflow, or the Conductor-style 404 naming its id.
    async fn load_or_404(&self, workflow_id: &str) -> Result<WorkflowState> {
        self.store
            .load_workflow(workflow_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("No such workflow found by id: {workflow_id}")))
    }

    pub(crate) fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    fn engine_limits(&self) -> engine::EngineLimits {
        engine::EngineLimits {
            max_loop_iterations: self.config.max_loop_iterations,
            decision_time_budget: Some(self.config.decision_time_budget),
            max_fork_branches: self.config.max_fork_branches,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Sizes of the in-memory maps keyed by request-chosen names, to check their bounds in
    /// tests: (queue wake-ups, workflows with a synchronous execution waiting).
    #[doc(hidden)]
    pub fn wakeup_map_sizes(&self) -> (usize, usize) {
        (self.queues.len(), self.waiters.len())
    }

    fn invalidate_defs(&self) {
        let mut c = self.caches.lock();
        c.workflow_defs.clear();
        c.task_defs = None;
    }

    // ------------------------------------------------------------------ metadata

    pub async fn register_task_defs(&self, mut defs: Vec<TaskDef>) -> Result<()> {
        if defs.is_empty() {
            return Err(Error::Invalid(
                "the list of task definitions is empty".into(),
            ));
        }
        let mut errors = Vec::new();
        for (i, d) in defs.iter().enumerate() {
            errors.extend(validate_task_def(d, &format!("[{i}].")));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let now = now_ms();
        for d in &mut defs {
            d.create_time = now;
            d.update_time = 0;
        }
        self.store.put_task_defs(defs).await?;
        self.invalidate_defs();
        Ok(())
    }

    pub async fn update_task_def(&self, mut def: TaskDef) -> Result<()> {
        let errors = validate_task_def(&def, "");
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let existing = self.store.get_task_def(&def.name).await?.ok_or_else(|| {
            Error::NotFound(format!("No such taskType found by name: {}", def.name))
        })?;
        def.create_time = existing.create_time;
        def.created_by = existing.created_by;
        def.update_time = now_ms();
        self.store.update_task_def(def).await.map_err(not_found)?;
        self.invalidate_defs();
        Ok(())
    }

    pub async fn get_task_def(&self, name: &str) -> Result<TaskDef> {
        self.store
            .get_task_def(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("No such taskType found by name: {name}")))
    }

    pub async fn list_task_defs(&self) -> Result<Vec<TaskDef>> {
        Ok(self.store.list_task_defs().await?)
    }

    pub async fn delete_task_def(&self, name: &str) -> Result<()> {
        self.store.delete_task_def(name).await.map_err(not_found)?;
        self.invalidate_defs();
        Ok(())
    }

    pub fn validate_workflow_def(&self, def: &WorkflowDef) -> Result<()> {
        let errors = validate_workflow_def(def);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }

    pub async fn register_workflow_def(&self, mut def: WorkflowDef, overwrite: bool) -> Result<()> {
        self.validate_workflow_def(&def)?;
        let now = now_ms();
        if def.create_time == 0 {
            def.create_time = now;
        }
        if overwrite {
            def.update_time = now;
        }
        let (name, version) = (def.name.clone(), def.version);
        self.store
            .put_workflow_def(def, overwrite)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => {
                    Error::Conflict(format!("Workflow with {name}.{version} already exists!"))
                }
                other => Error::Store(other),
            })?;
        self.invalidate_defs();
        Ok(())
    }

    /// `PUT /api/metadata/workflow`: upsert each; validation failures fail the whole request.
    pub async fn update_workflow_defs(&self, defs: Vec<WorkflowDef>) -> Result<BulkResponse> {
        let mut errors = Vec::new();
        for (i, d) in defs.iter().enumerate() {
            for mut e in validate_workflow_def(d) {
                e.path = format!("[{i}].{}", e.path);
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let mut out = BulkResponse::default();
        for mut d in defs {
            let name = d.name.clone();
            d.update_time = now_ms();
            match self.store.put_workflow_def(d, true).await {
                Ok(()) => out.bulk_successful_results.push(name),
                Err(e) => {
                    out.bulk_error_results.insert(name, e.to_string());
                }
            }
        }
        self.invalidate_defs();
        Ok(out)
    }

    pub async fn get_workflow_def(&self, name: &str, version: Option<i32>) -> Result<WorkflowDef> {
        self.store
            .get_workflow_def(name, version)
            .await?
            .ok_or_else(|| Error::NotFound(no_such_workflow(name, version)))
    }

    pub async fn list_workflow_defs(&self) -> Result<Vec<WorkflowDef>> {
        Ok(self.store.list_workflow_defs().await?)
    }

    pub async fn delete_workflow_def(&self, name: &str, version: i32) -> Result<()> {
        self.store
            .delete_workflow_def(name, version)
            .await
            .map_err(not_found)?;
        self.invalidate_defs();
        Ok(())
    }

    /// (task type, domain) pairs polled in the last 10 s (Conductor's
    /// `activeWorkerLastPollTimeout`), cached for a second.
    async fn active_domains(&self) -> ActiveDomains {
        {
            let cached = self.active_domains.lock();
            if cached
                .0
                .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
            {
                return cached.1.clone();
            }
        }
        let now = now_ms();
        let set: HashSet<(String, String)> = match self.store.poll_data().await {
            Ok(rows) => rows
                .into_iter()
                .filter(|p| now - p.last_poll_time <= 10_000)
                .filter_map(|p| {
                    p.domain
                        .filter(|d| !d.is_empty())
                        .map(|d| (p.queue_name, d))
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read poll data for domain selection");
                HashSet::new()
            }
        };
        let set = Arc::new(set);
        *self.active_domains.lock() = (Some(Instant::now()), set.clone());
        set
    }

    async fn task_defs(&self) -> Result<Arc<HashMap<String, TaskDef>>> {
        if let Some(t) = self.caches.lock().task_defs.clone() {
            return Ok(t);
        }
        let all = self.store.list_task_defs().await?;
        let map: Arc<HashMap<String, TaskDef>> =
            Arc::new(all.into_iter().map(|d| (d.name.clone(), d)).collect());
        self.caches.lock().task_defs = Some(map.clone());
        Ok(map)
    }

    /// Fills `taskDefinition` into every node from the registry, so that the execution keeps
    /// the exact settings it started with (§4.1 step 2).
    async fn populate(&self, mut def: WorkflowDef) -> Result<WorkflowDef> {
        let registry = self.task_defs().await?;
        def.for_each_task_mut(&mut |node| {
            if node.task_definition.is_none() {
                if let Some(td) = registry.get(&node.name) {
                    node.task_definition = Some(td.clone());
                }
            }
        });
        Ok(def)
    }

    async fn resolve_def(&self, name: &str, version: Option<i32>) -> Result<Arc<WorkflowDef>> {
        let key = (name.to_string(), version);
        if let Some(d) = self.caches.lock().workflow_defs.get(&key).cloned() {
            return Ok(d);
        }
        let def = self
            .store
            .get_workflow_def(name, version)
            .await?
            .ok_or_else(|| Error::NotFound(no_such_workflow(name, version)))?;
        let def = Arc::new(self.populate(def).await?);
        self.caches.lock().workflow_defs.insert(key, def.clone());
        Ok(def)
    }

    fn index_for(&self, def: &Arc<WorkflowDef>) -> Arc<DefIndex> {
        let key = Arc::as_ptr(def) as usize;
        let mut c = self.caches.lock();
        if let Some((_, idx)) = c.indexes.get(&key) {
            return idx.clone();
        }
        if c.indexes.len() > 4096 {
            c.indexes.clear();
        }
        let idx = Arc::new(DefIndex::build(def));
        c.indexes.insert(key, (def.clone(), idx.clone()));
        idx
    }

    /// Polls that claimed tasks of this workflow while its turn held it left their versions;
    /// taking them in (in order, while each is the next version and its task untouched by
    /// the decision) lets the commit pass instead of conflicting and re-reading the workflow.
    fn absorb_claims(&self, st: &mut ExecState) {
        for (task, version) in self.states.take_claims(&st.workflow.workflow_id) {
            if st.version.map(|v| v + 1) != Some(version) || !engine::absorb_claim(st, task) {
                break;
            }
            st.version = Some(version);
        }
    }

    fn cached_exec_state(&self, c: CachedState, now: i64) -> ExecState {
        let mut st =
            ExecState::from_list(c.workflow, c.def, c.index, c.tasks, Some(c.version), now);
        st.limits = self.engine_limits();
        st
    }

    fn exec_state(&self, s: WorkflowState, now: i64) -> ExecState {
        let index = self.index_for(&s.def);
        let mut st = ExecState::new(s.workflow, s.def, index, s.tasks, Some(s.version), now);
        st.limits = self.engine_limits();
        st
    }

    // ------------------------------------------------------------------ executions

    /// Starts a workflow and runs its first decision; returns the new id.
    pub async fn start_workflow(&self, req: StartWorkflowRequest) -> Result<String> {
        let (id, effects) = self.start_child(req, None, None).await?;
        self.drain(effects).await;
        Ok(id)
    }

    /// Starts a workflow under a caller-chosen id (the scheduler's deterministic run ids);
    /// fails with a store AlreadyExists if that id is taken.
    pub(crate) async fn start_workflow_with_id(
        &self,
        req: StartWorkflowRequest,
        workflow_id: String,
    ) -> Result<String> {
        let (id, effects) = self
            .start_with_id(req, workflow_id, None, None, Vec::new())
            .await?;
        self.drain(effects).await;
        Ok(id)
    }

    async fn start_child(
        &self,
        req: StartWorkflowRequest,
        parent: Option<String>,
        parent_task: Option<String>,
    ) -> Result<(String, Vec<FollowUp>)> {
        self.start_with_id(
            req,
            uuid::Uuid::now_v7().to_string(),
            parent,
            parent_task,
            Vec::new(),
        )
        .await
    }

    /// Starts a workflow under `workflow_id`; `done` names follow-ups the start carries out
    /// (deleted in its commit).
    pub(crate) async fn start_with_id(
        &self,
        req: StartWorkflowRequest,
        workflow_id: String,
        parent: Option<String>,
        parent_task: Option<String>,
        done: Vec<String>,
    ) -> Result<(String, Vec<FollowUp>)> {
        match self
            .build_start(req, workflow_id, parent, parent_task)
            .await?
        {
            Started::Existing(id) => {
                if !done.is_empty() {
                    self.commit_states(Vec::new(), Vec::new(), done).await?;
                }
                Ok((id, Vec::new()))
            }
            Started::New(st) => {
                let id = st.workflow.workflow_id.clone();
                let follow_ups = self.commit_states(vec![*st], Vec::new(), done).await?;
                Ok((id, follow_ups))
            }
        }
    }

    /// Decides a new execution without committing it (or finds the one its idempotency key
    /// names).
    async fn build_start(
        &self,
        req: StartWorkflowRequest,
        workflow_id: String,
        parent: Option<String>,
        parent_task: Option<String>,
    ) -> Result<Started> {
        if !(0..=99).contains(&req.priority) {
            return Err(Error::Invalid(format!(
                "priority: {} is outside the range 0..99",
                req.priority
            )));
        }
        let def = match req.workflow_def {
            Some(inline) => {
                self.validate_workflow_def(&inline)?;
                Arc::new(self.populate(inline).await?)
            }
            None => {
                if req.name.trim().is_empty() {
                    return Err(Error::Invalid("name: workflow name cannot be empty".into()));
                }
                self.resolve_def(&req.name, req.version).await?
            }
        };
        if let Some(key) = req.idempotency_key.as_deref().filter(|k| !k.is_empty()) {
            let existing = self.store.find_by_idempotency_key(&def.name, key).await?;
            if let Some(first) = existing.first() {
                match req
                    .idempotency_strategy
                    .unwrap_or(IdempotencyStrategy::Fail)
                {
                    IdempotencyStrategy::ReturnExisting => {
                        return Ok(Started::Existing(first.workflow_id.clone()))
                    }
                    IdempotencyStrategy::Fail => {
                        return Err(Error::Conflict(format!(
                            "a workflow with idempotencyKey '{key}' already exists: {}",
                            first.workflow_id
                        )))
                    }
                    IdempotencyStrategy::FailOnRunning => {
                        if let Some(running) = existing.iter().find(|w| !w.status.is_terminal()) {
                            return Err(Error::Conflict(format!(
                                "a running workflow with idempotencyKey '{key}' exists: {}",
                                running.workflow_id
                            )));
                        }
                    }
                }
            }
        }
        let now = now_ms();
        let slow = self.index_for(&def).decides_slowly();
        let registry = Some(self.task_defs().await?);
        let active_domains = if req.task_to_domain.is_empty() {
            None
        } else {
            Some(self.active_domains().await)
        };
        let st = off_async_threads(slow, || {
            engine::new_execution(NewExecution {
                workflow_id,
                def,
                input: req.input,
                correlation_id: req.correlation_id,
                priority: req.priority,
                task_to_domain: req.task_to_domain,
                parent_workflow_id: parent,
                parent_workflow_task_id: parent_task,
                created_by: req.created_by,
                idempotency_key: req.idempotency_key,
                event: None,
                now,
                registry,
                active_domains,
                limits: self.engine_limits(),
            })
        });
        Ok(Started::New(Box::new(st)))
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
        let mut queues: Vec<String> = Vec::new();
        let mut earliest: Option<i64> = None;
        let now = now_ms();
        for st in &mut states {
            for q in &st.queue_push {
                if !queues.contains(&q.queue) {
                    queues.push(q.queue.clone());
                }
            }
            // A task that ended frees a slot under its type's concurrency limit.
            for t in st.dirty_tasks().filter(|t| t.status.is_terminal()) {
                let q = t.queue_name();
                if !queues.contains(&q) {
                    queues.push(q);
                }
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
        for st in &mut states {
            commit.workflows.push(into_write(st));
        }
        let follow_ups = commit.follow_ups.clone();
        if let Err(e) = self.store.commit(commit).await {
            if let StoreError::Conflict(id) = &e {
                self.states.forget(id);
            }
            return Err(e.into());
        }
        for st in states {
            self.waiters.committed(&st.workflow.workflow_id);
            self.states.committed(st);
        }
        for q in &queues {
            self.queues.wake(q);
        }
        if let Some(at) = earliest {
            if at < self.sweeper_next.load(Ordering::Relaxed) || at <= now_ms() {
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
        let (result, follow_ups) = self.mutate_raw(workflow_id, Vec::new(), f).await?;
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
        mut f: impl FnMut(&mut ExecState) -> Result<Mutation<R>>,
    ) -> Result<(R, Vec<FollowUp>)> {
        let _turn = self.locks.lock(workflow_id).await;
        for _ in 0..MAX_CONFLICT_RETRIES {
            // The cached entry is handed over for the turn (no copy) and comes back with
            // the commit; without one, the workflow is read from the store.
            let mut st = match self.states.take(workflow_id) {
                Some(cached) => self.cached_exec_state(cached, now_ms()),
                None => {
                    let state = self.load_or_404(workflow_id).await?;
                    self.exec_state(state, now_ms())
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
            match self.commit_states(vec![st], logs, done.clone()).await {
                Ok(effects) => return Ok((result, effects)),
                Err(Error::Store(StoreError::Conflict(_))) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "workflow {workflow_id} is changing too fast; try again"
        )))
    }

    /// Starts a workflow and waits (bounded) until it ends, one of `wait_refs` ends, or it
    /// blocks on a WAIT/HUMAN task; returns its state then and whether the wait timed out.
    pub async fn execute(
        &self,
        req: StartWorkflowRequest,
        wait_refs: &[String],
        wait: Duration,
    ) -> Result<(Workflow, bool)> {
        let id = self.start_workflow(req).await?;
        let deadline = Instant::now() + wait;
        let watch = self.waiters.watch(&id);
        loop {
            let notified = watch.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let w = self.get_workflow(&id, true).await?;
            let done = w.status.is_terminal()
                || w.tasks.iter().any(|t| {
                    (t.status.is_terminal()
                        && wait_refs.iter().any(|r| {
                            *r == t.reference_task_name
                                || *r == engine::state::base_ref(&t.reference_task_name)
                        }))
                        || (!t.status.is_terminal()
                            && (t.task_type == engine::systask::HUMAN
                                || (t.task_type == engine::systask::WAIT
                                    && !t.input_data.contains_key("duration")
                                    && !t.input_data.contains_key("until"))))
                });
            if done {
                return Ok((w, false));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok((w, true));
            }
            // Commits wake the check; the short tick covers commits made by other nodes.
            let tick = (deadline - now).min(Duration::from_millis(100));
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }

    pub async fn get_workflow(&self, workflow_id: &str, include_tasks: bool) -> Result<Workflow> {
        if !include_tasks {
            let mut w = self.store.get_workflow(workflow_id).await?.ok_or_else(|| {
                Error::NotFound(format!("No such workflow found by id: {workflow_id}"))
            })?;
            w.tasks.clear();
            return Ok(w);
        }
        let s = self.load_or_404(workflow_id).await?;
        Ok(render_workflow(s))
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

    pub async fn restart(&self, workflow_id: &str, use_latest_definitions: bool) -> Result<()> {
        let latest = if use_latest_definitions {
            let w = self.get_workflow(workflow_id, false).await?;
            Some(self.resolve_def(&w.workflow_name, None).await?)
        } else {
            None
        };
        self.mutate(workflow_id, |st| {
            ops::restart(st, latest.clone()).map_err(op_error)?;
            Ok(Mutation::Changed((), Vec::new()))
        })
        .await
    }

    /// Retries a terminal workflow (§4.9). With `resume_sub_workflows`, a failed
    /// SUB_WORKFLOW task is not replaced by a new child: its child is retried in place (and so
    /// on down), and the task waits for it again.
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
        Ok(())
    }

    pub async fn rerun(
        &self,
        workflow_id: &str,
        from_task_id: Option<String>,
        task_input: Option<JsonMap>,
        workflow_input: Option<JsonMap>,
        correlation_id: Option<String>,
    ) -> Result<()> {
        self.mutate(workflow_id, |st| {
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
                    Error::NotFound(format!("No such workflow found by id: {workflow_id}"))
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

    pub async fn search_tasks(&self, query: &baton_store::TaskQuery) -> Result<(i64, Vec<Task>)> {
        Ok(self.store.search_tasks(query).await?)
    }

    pub async fn poll_data(&self) -> Result<Vec<baton_model::PollData>> {
        Ok(self.store.poll_data().await?)
    }

    pub async fn search(&self, query: &baton_store::WorkflowQuery) -> Result<(i64, Vec<Workflow>)> {
        Ok(self.store.search_workflows(query).await?)
    }

    /// Re-runs the decider for a workflow (timers, woken parents). A parent's running
    /// SUB_WORKFLOW tasks first take the outcome of children that have ended.
    ///
    /// A decision that changes nothing (no task, history, queue, effect or workflow field)
    /// commits nothing: no version bump, no row rewrite. Only its next wake-up is stored, if
    /// it moved (see [`baton_store::Commit::reschedule`]), so a parent waiting on a long child
    /// costs one small update per safety-net wake instead of a full commit.
    pub async fn decide(&self, workflow_id: &str) -> Result<()> {
        let mut finished: Vec<(String, Workflow)> = Vec::new();
        if let Some(state) = self.store.load_workflow(workflow_id).await? {
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
                if let Some(child) = self.store.get_workflow(&child_id).await? {
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
        if let Some(r) = unchanged {
            let commit = Commit {
                reschedule: vec![r],
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

    /// Starts a sub-workflow for a parent's SUB_WORKFLOW task. The child id is derived from
    /// the parent task, so a repeated start (after a crash) finds the same child.
    pub(crate) async fn start_sub_workflow(&self, task: &Task) -> Result<String> {
        let input = &task.input_data;
        let child_id = child_workflow_id(task);
        if self.store.get_workflow(&child_id).await?.is_some() {
            return Ok(child_id);
        }
        let parent = self
            .store
            .get_workflow(&task.workflow_instance_id)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "No such workflow found by id: {}",
                    task.workflow_instance_id
                ))
            })?;
        let inline = match input.get("subWorkflowDefinition") {
            Some(v) if v.is_object() => Some(
                serde_json::from_value::<WorkflowDef>(v.clone())
                    .map_err(|e| Error::Invalid(format!("subWorkflowDefinition: {e}")))?,
            ),
            _ => None,
        };
        let req = StartWorkflowRequest {
            name: input
                .get("subWorkflowName")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            version: input
                .get("subWorkflowVersion")
                .and_then(|v| v.as_i64())
                .map(|v| v as i32),
            input: input
                .get("workflowInput")
                .and_then(|v| v.as_object())
                .cloned()
                .unwrap_or_default(),
            correlation_id: parent.correlation_id.clone(),
            task_to_domain: input
                .get("subWorkflowTaskToDomain")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_else(|| parent.task_to_domain.clone()),
            priority: parent.priority,
            workflow_def: inline,
            ..StartWorkflowRequest::default()
        };
        let (id, effects) = self
            .start_with_id(
                req,
                child_id,
                Some(task.workflow_instance_id.clone()),
                Some(task.task_id.clone()),
                Vec::new(),
            )
            .await?;
        self.drain(effects).await;
        Ok(id)
    }

    /// Applies a TaskResult (§4.2 update).
    pub async fn update_task(&self, r: TaskResult) -> Result<UpdateResponse> {
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
        let result = self
            .mutate(&workflow_id, |st| {
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
                        if !r.extend_lease {
                            engine::decide(st);
                        }
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
        let deadline = Instant::now() + timeout;
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
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = now_ms();
            let outcome = self
                .store
                .poll(PollRequest {
                    queue: queue.clone(),
                    count,
                    worker_id: worker_id.map(str::to_string),
                    domain: domain.map(str::to_string),
                    now,
                    limits: limits.clone(),
                    registered,
                })
                .await?;
            for (task, version) in outcome.tasks.iter().zip(&outcome.versions) {
                self.states.claimed(task, *version);
            }
            if !outcome.tasks.is_empty() {
                if let Some(earliest) = outcome
                    .tasks
                    .iter()
                    .filter(|t| t.response_timeout_seconds > 0)
                    .map(|t| baton_model::duration::after_secs(now, t.response_timeout_seconds))
                    .min()
                {
                    if earliest < self.sweeper_next.load(Ordering::Relaxed) {
                        self.sweeper_nudge.notify_one();
                    }
                }
                return Ok(outcome.tasks);
            }
            let now_i = Instant::now();
            if now_i >= deadline {
                return Ok(Vec::new());
            }
            let mut wake = deadline;
            if let Some(at) = outcome.next_visible_at {
                let ms = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
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
                created_time: now_ms(),
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

    pub async fn history(&self, workflow_id: &str) -> Result<Vec<HistoryEvent>> {
        Ok(self.store.history(workflow_id).await?)
    }

    // ------------------------------------------------------------------ background

    /// Runs the background work of executions until cancelled: due timers (below) and
    /// stored follow-ups ([`Runtime::run_follow_ups`]).
    pub async fn run_sweeper(self: Arc<Self>, cancel: CancellationToken) {
        tokio::join!(
            self.clone().sweep_timers(cancel.clone()),
            self.run_follow_ups(cancel)
        );
    }

    /// Fires due timers until cancelled: decides every workflow whose wake-up time passed,
    /// then sleeps until the next one (at most a second) or a nudge.
    async fn sweep_timers(self: Arc<Self>, cancel: CancellationToken) {
        const BATCH: usize = 256;
        // Workflows whose decision failed are left alone for a while, so one broken
        // execution cannot spin the sweeper.
        let mut backoff: HashMap<String, i64> = HashMap::new();
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let now = now_ms();
            backoff.retain(|_, until| *until > now);
            let due = match self.store.due_workflows(now, BATCH + backoff.len()).await {
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
                        backoff.insert(id, now_ms() + 30_000);
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
                    backoff.insert(id, now_ms() + 30_000);
                }
            }
            if decided >= BATCH {
                continue;
            }
            let now = now_ms();
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
fn decided_nothing(st: &ExecState, before: &Workflow) -> bool {
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
/// the queue, history and wake-up records move into the write.
fn into_write(st: &mut ExecState) -> WorkflowWrite {
    st.workflow.update_time = st.now;
    let tasks: Vec<Task> = st.dirty_tasks().cloned().collect();
    let mut workflow = st.workflow.clone();
    workflow.workflow_definition = None;
    WorkflowWrite {
        workflow,
        def: st.def.clone(),
        expected_version: st.version,
        tasks,
        removed_tasks: std::mem::take(&mut st.removed_tasks),
        queue_push: std::mem::take(&mut st.queue_push),
        queue_remove: std::mem::take(&mut st.queue_remove),
        history: std::mem::take(&mut st.history),
        next_wake_at: st.next_wake_at,
    }
}

/// Running workflows as this node last committed them, so the next update of a workflow
/// does not re-read and re-parse it. Only a hint: every commit still names the version it
/// started from, and a conflict (another node, or a poll this node did not see) drops the
/// entry and the update re-reads from the store. Polls keep entries current through the
/// version the store reports for each claim.
///
/// A workflow's turn takes its entry out (a move, whatever the workflow's size) and the
/// commit puts the decided state back, so no update copies the tasks it does not change
/// (ADR 0009). A poll that claims a task while the entry is out finds nothing to refresh;
/// the turn's commit then conflicts and re-reads, as it would have anyway.
#[derive(Default)]
struct StateCache {
    map: Mutex<HashMap<String, Slot>>,
}

/// A cache entry: here, or out with the turn that holds the workflow (collecting the claims
/// polls make meanwhile, for [`Runtime::absorb_claims`]).
enum Slot {
    Here(Box<CachedState>),
    Out(Vec<(Task, i64)>),
}

/// Claims kept for one turn at most; past that the turn's commit conflicts and re-reads.
const MAX_CLAIMS_PER_TURN: usize = 1024;

/// One cached workflow: what [`ExecState::from_list`] needs, the task indexes included.
struct CachedState {
    workflow: Workflow,
    def: Arc<WorkflowDef>,
    index: Arc<DefIndex>,
    tasks: TaskList,
    version: i64,
}

/// Serialises the changes this node makes to one workflow. Without it, concurrent updates of
/// one workflow (the branches of a wide fork completing together) would all read the same
/// version, and all but one would lose the commit race and redo their work; with it they
/// take turns, each starting from the state the previous one committed (and cached).
/// Across nodes the version check still decides.
#[derive(Default)]
struct WorkflowLocks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds a workflow's turn; releasing the last interest removes the entry.
struct WorkflowTurn<'a> {
    locks: &'a WorkflowLocks,
    id: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WorkflowLocks {
    async fn lock(&self, id: &str) -> WorkflowTurn<'_> {
        let lock = self
            .map
            .lock()
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        let mut turn = WorkflowTurn {
            locks: self,
            id: id.to_string(),
            lock: lock.clone(),
            guard: None,
        };
        turn.guard = Some(lock.lock_owned().await);
        turn
    }
}

impl Drop for WorkflowTurn<'_> {
    fn drop(&mut self) {
        self.guard = None;
        let mut map = self.locks.map.lock();
        // Two references: the map's and ours. Nobody else waits; forget the entry.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.id);
        }
    }
}

/// Enough for every workflow in flight in the benchmarks; bounded so memory stays small.
const STATE_CACHE_CAPACITY: usize = 4096;

impl StateCache {
    /// Hands a workflow's entry over to the turn that holds the workflow (None: read the
    /// store); claims made until the turn ends are kept aside.
    fn take(&self, id: &str) -> Option<CachedState> {
        match self
            .map
            .lock()
            .insert(id.to_string(), Slot::Out(Vec::new()))
        {
            Some(Slot::Here(state)) => Some(*state),
            _ => None,
        }
    }

    /// The claims made while the turn held the workflow, oldest first.
    fn take_claims(&self, id: &str) -> Vec<(Task, i64)> {
        match self.map.lock().get_mut(id) {
            Some(Slot::Out(claims)) => std::mem::take(claims),
            _ => Vec::new(),
        }
    }

    fn forget(&self, id: &str) {
        self.map.lock().remove(id);
    }

    /// A turn that changed nothing gives its entry back; one that changed something it did
    /// not commit (an error) drops it, and the next turn reads the store.
    fn put_back(&self, st: ExecState) {
        let untouched = st.dirty_tasks().next().is_none()
            && st.history.is_empty()
            && st.queue_push.is_empty()
            && st.queue_remove.is_empty()
            && st.removed_tasks.is_empty()
            && st.effects.is_empty()
            && st.wake.is_empty();
        if let (true, Some(version)) = (untouched, st.version) {
            self.insert(st, version);
        }
    }

    fn committed(&self, st: ExecState) {
        if st.workflow.status.is_terminal() {
            self.forget(&st.workflow.workflow_id);
            return;
        }
        let version = st.version.map_or(1, |v| v + 1);
        self.insert(st, version);
    }

    fn insert(&self, st: ExecState, version: i64) {
        let id = st.workflow.workflow_id.clone();
        let mut workflow = st.workflow;
        workflow.workflow_definition = Some(st.def.clone());
        let mut tasks = st.tasks;
        tasks.clear_dirty();
        let state = CachedState {
            workflow,
            def: st.def,
            index: st.index,
            tasks,
            version,
        };
        let mut map = self.map.lock();
        if map.len() >= STATE_CACHE_CAPACITY && !map.contains_key(&id) {
            if let Some(victim) = map.keys().next().cloned() {
                map.remove(&victim);
            }
        }
        map.insert(id, Slot::Here(Box::new(state)));
    }

    /// A poll claimed `task`, leaving its workflow at `version`.
    fn claimed(&self, task: &Task, version: i64) {
        let mut map = self.map.lock();
        let id = &task.workflow_instance_id;
        let entry = match map.get_mut(id) {
            Some(Slot::Here(entry)) => entry,
            Some(Slot::Out(claims)) => {
                if claims.len() < MAX_CLAIMS_PER_TURN {
                    claims.push((task.clone(), version));
                }
                return;
            }
            None => return,
        };
        let position = entry.tasks.find(&task.task_id);
        match position {
            Some(i) if entry.version + 1 == version => {
                entry.tasks.refresh(i, task.clone());
                entry.version = version;
            }
            _ => {
                map.remove(id);
            }
        }
    }
}

/// A stored workflow as the API shows it: tasks attached, each with its definition node.
fn render_workflow(s: WorkflowState) -> Workflow {
    let mut w = s.workflow;
    let index = DefIndex::build(&s.def);
    w.tasks = s
        .tasks
        .into_iter()
        .map(|mut t| {
            if let Some(node) = index.node(
                &s.def,
                baton_engine::state::base_ref(&t.reference_task_name),
            ) {
                t.task_definition = node.task_definition.clone();
                t.workflow_task = Some(node.clone());
            }
            t
        })
        .collect();
    w.workflow_definition = Some(s.def);
    w
}

fn no_such_workflow(name: &str, version: Option<i32>) -> String {
    match version {
        Some(v) => format!("No such workflow found by name: {name}, version: {v}"),
        None => format!("No such workflow found by name: {name}"),
    }
}

/// Runs a decision that may take long (scripts up to their time limit, thousands of `${…}`
/// references: see `DefIndex::decides_slowly`) without stalling the other requests served by
/// this async worker thread. On a current-thread runtime (unit tests) it simply runs inline.
fn off_async_threads<R>(slow: bool, f: impl FnOnce() -> R) -> R {
    let multi_thread = tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    if slow && multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// The id of the child a SUB_WORKFLOW attempt starts (name-based, as Conductor does).
fn child_workflow_id(task: &Task) -> String {
    uuid::Uuid::new_v3(
        &uuid::Uuid::NAMESPACE_OID,
        format!(
            "subworkflow:{}:{}:{}",
            task.workflow_instance_id, task.task_id, task.retry_count
        )
        .as_bytes(),
    )
    .to_string()
}

fn op_error(e: ops::OpError) -> Error {
    match e {
        ops::OpError::Conflict(m) => Error::Conflict(m),
        ops::OpError::NotFound(m) => Error::NotFound(m),
        ops::OpError::Invalid(m) => Error::Invalid(m),
    }
}

fn not_found(e: StoreError) -> Error {
    match e {
        StoreError::NotFound(what) => Error::NotFound(format!("{what} not found")),
        other => Error::Store(other),
    }
}
