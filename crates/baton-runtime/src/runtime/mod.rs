//! [`Runtime`]: its configuration, its parts, and the helpers its operations share; the
//! operations themselves live in the files of this folder, one concern each.

mod cluster;
mod commit;
mod defs;
mod frequencies;
mod hierarchy;
mod operations;
mod recovery;
mod signals;
#[cfg(test)]
mod stale_cache_tests;
mod starts;
mod state_cache;
mod sweeper;
mod tasks;
mod turns;
#[cfg(test)]
mod wake_tests;
mod workflow_test;

use commit::decided_nothing;
pub(crate) use commit::Mutation;
pub use signals::Blocking;
pub use state_cache::StateCacheStats;
use state_cache::{CachedState, StateCache, StateCacheLimits};
use turns::WorkflowLocks;
pub use workflow_test::{TaskMock, WorkflowTestRequest};

use crate::changes::ChangeFeed;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::waiters::CommitWaiters;
use crate::wakers::QueueWakers;
use baton_engine::ops;
use baton_engine::state::TaskList;
use baton_engine::validate::{validate_task_def, validate_workflow_def};
use baton_engine::{self as engine, DefIndex, ExecState, NewExecution, UpdateOutcome};
use baton_model::clock::Clock;
use baton_model::{
    queue_name, BulkResponse, HistoryEvent, IdempotencyStrategy, JsonMap, StartWorkflowRequest,
    Task, TaskDef, TaskExecLog, TaskResult, TaskResultStatus, Workflow, WorkflowDef,
    WorkflowStatus,
};
use baton_store::{
    Commit, FollowUp, PollLimits, PollRequest, Store, StoreError, TaskWrite, WorkflowState,
    WorkflowWrite,
};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// (task type, domain) pairs with a worker polling lately.
type ActiveDomains = Arc<HashSet<(String, String)>>;

/// A start decided but not yet committed, or the execution an idempotency key already names.
enum Started {
    Existing(String),
    New(Box<ExecState>),
}

/// How many times an operation re-reads and re-decides after losing a race to another writer.
const MAX_CONFLICT_RETRIES: usize = 64;

/// Due workflows one sweeper pass lists.
const SWEEP_BATCH: usize = 256;

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
    /// Most tasks one workflow may hold; a decision that goes over fails it, naming the limit.
    pub max_tasks_per_workflow: usize,
    /// Largest task output a worker may report (bytes of JSON); more fails the task for good.
    pub max_task_output_bytes: usize,
    /// Largest HTTP system-task response body read; a larger one fails the task (FAILED,
    /// so the task definition's retries apply), naming the limit.
    pub max_http_task_response_bytes: usize,
    /// Most system-task executions (HTTP calls, sub-workflow starts, ...) in flight at once;
    /// the system workers poll no more than they have room for.
    pub max_system_tasks_in_flight: usize,
    /// Most distinct task types, workflow names and queues each kept as metric labels;
    /// further names are counted under `_other`.
    pub metrics_max_label_values: usize,
    /// The clock every decision, claim, timer and schedule reads: the system clock, or in
    /// tests a manual one, so timeouts are proved by moving time instead of sleeping.
    pub clock: Clock,
    /// Change records the change feed keeps for listeners that fall behind (the web UI's
    /// event stream); one further behind is told it lagged and re-reads.
    pub change_feed_capacity: usize,
    /// How long a sweeper's claim on a due workflow keeps other nodes' sweepers off it
    /// (on a store several nodes share), unless the decision's commit ends it sooner: the
    /// delay before another node takes over the due work of a node that died mid-decision.
    pub sweep_claim: Duration,
    /// Most ids one bulk request may name (workflows or schedules), and most correlation ids
    /// one batch lookup may name; more are a 400 naming the limit.
    pub max_bulk_ids: usize,
    /// Most executions a correlation-id lookup answers per correlation id.
    pub max_correlated_executions: usize,
    /// Most matching task attempts a search by tasks reads to collect its workflows.
    pub search_by_tasks_scan_limit: usize,
    /// Most matches a search counts for its total where it has to read them to count
    /// them; more are reported as this number (0: count all).
    pub search_count_limit: usize,
    /// Most scheduled tasks one `requeue` re-pushes.
    pub max_requeue_tasks: usize,
    /// Most workflows whose last committed state this node keeps in memory (see
    /// `StateCache`); past it the least recently committed is dropped, and its next update
    /// reads it from the store.
    pub state_cache_workflows: usize,
    /// Most estimated bytes of the states kept (tasks, inputs and outputs included); past it
    /// the least recently committed are dropped, and a state larger than this alone is not
    /// kept (each of its updates reads it from the store). 0 keeps none.
    pub state_cache_bytes: usize,
    /// How long a state may go unused before the sweeper drops it (ADR 42), so workflows
    /// that wait for hours do not hold memory; zero keeps them until a bound pushes them out.
    pub state_cache_idle: Duration,
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
    /// Default of [`RuntimeConfig::max_tasks_per_workflow`].
    pub const DEFAULT_MAX_TASKS_PER_WORKFLOW: usize =
        engine::EngineLimits::DEFAULT_MAX_TASKS_PER_WORKFLOW;
    /// Default of [`RuntimeConfig::max_task_output_bytes`]: 3 MiB.
    pub const DEFAULT_MAX_TASK_OUTPUT_BYTES: usize =
        engine::EngineLimits::DEFAULT_MAX_TASK_OUTPUT_BYTES;
    /// Default of [`RuntimeConfig::max_http_task_response_bytes`]: 1 MiB.
    pub const DEFAULT_MAX_HTTP_TASK_RESPONSE_BYTES: usize = 1024 * 1024;
    /// Default of [`RuntimeConfig::max_system_tasks_in_flight`].
    pub const DEFAULT_MAX_SYSTEM_TASKS_IN_FLIGHT: usize = 256;
    /// Default of [`RuntimeConfig::sweep_claim`]: 15 s.
    pub const DEFAULT_SWEEP_CLAIM: Duration = Duration::from_secs(15);
    /// Default of [`RuntimeConfig::change_feed_capacity`].
    pub const DEFAULT_CHANGE_FEED_CAPACITY: usize = 1024;
    /// Default of [`RuntimeConfig::max_bulk_ids`]: Conductor's bulk limit.
    pub const DEFAULT_MAX_BULK_IDS: usize = 1000;
    /// Default of [`RuntimeConfig::max_correlated_executions`].
    pub const DEFAULT_MAX_CORRELATED_EXECUTIONS: usize = 1000;
    /// Default of [`RuntimeConfig::search_by_tasks_scan_limit`].
    pub const DEFAULT_SEARCH_BY_TASKS_SCAN_LIMIT: usize = 10_000;
    /// Default of [`RuntimeConfig::search_count_limit`]: where Elasticsearch 7 stops
    /// counting by default, so Conductor's own totals stop there too.
    pub const DEFAULT_SEARCH_COUNT_LIMIT: usize = 10_000;
    /// Default of [`RuntimeConfig::max_requeue_tasks`].
    pub const DEFAULT_MAX_REQUEUE_TASKS: usize = 10_000;
    /// Default of [`RuntimeConfig::state_cache_workflows`]: high enough that the byte
    /// budget is what binds (ADR 42). Workers take tasks oldest first, so the workflows in
    /// flight are served in turn, the worst order for LRU: a count bound below them made
    /// nearly every update read its workflow from the store.
    pub const DEFAULT_STATE_CACHE_WORKFLOWS: usize = 65_536;
    /// Default of [`RuntimeConfig::state_cache_bytes`]: 256 MiB. A task with small input
    /// and output holds about 1.4 KB (ADR 36), a ten-step workflow 8–12 KB, so this keeps
    /// 20,000–30,000 such workflows in flight, while long chains, loops and wide forks stop at
    /// a quarter of a GiB instead of many GiB.
    pub const DEFAULT_STATE_CACHE_BYTES: usize = 256 << 20;
    /// Default of [`RuntimeConfig::state_cache_idle`]: five minutes.
    pub const DEFAULT_STATE_CACHE_IDLE: Duration = Duration::from_secs(300);
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
            max_tasks_per_workflow: Self::DEFAULT_MAX_TASKS_PER_WORKFLOW,
            max_task_output_bytes: Self::DEFAULT_MAX_TASK_OUTPUT_BYTES,
            max_http_task_response_bytes: Self::DEFAULT_MAX_HTTP_TASK_RESPONSE_BYTES,
            max_system_tasks_in_flight: Self::DEFAULT_MAX_SYSTEM_TASKS_IN_FLIGHT,
            metrics_max_label_values: crate::metrics::DEFAULT_MAX_LABEL_VALUES,
            clock: Clock::System,
            change_feed_capacity: Self::DEFAULT_CHANGE_FEED_CAPACITY,
            max_bulk_ids: Self::DEFAULT_MAX_BULK_IDS,
            max_correlated_executions: Self::DEFAULT_MAX_CORRELATED_EXECUTIONS,
            search_by_tasks_scan_limit: Self::DEFAULT_SEARCH_BY_TASKS_SCAN_LIMIT,
            search_count_limit: Self::DEFAULT_SEARCH_COUNT_LIMIT,
            max_requeue_tasks: Self::DEFAULT_MAX_REQUEUE_TASKS,
            sweep_claim: Self::DEFAULT_SWEEP_CLAIM,
            state_cache_workflows: Self::DEFAULT_STATE_CACHE_WORKFLOWS,
            state_cache_bytes: Self::DEFAULT_STATE_CACHE_BYTES,
            state_cache_idle: Self::DEFAULT_STATE_CACHE_IDLE,
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
/// Most workflow depths remembered (a few hundred KB); the memo starts over past it.
const DEPTH_MEMO_ENTRIES: usize = 4_096;

#[derive(Default)]
struct Caches {
    /// (name, version or latest) → definition with task definitions filled in.
    workflow_defs: HashMap<(String, Option<i32>), Arc<WorkflowDef>>,
    task_defs: Option<Arc<HashMap<String, TaskDef>>>,
    /// Definition pointer → its index. The Arc is kept so the pointer is never reused.
    indexes: HashMap<usize, (Arc<WorkflowDef>, Arc<DefIndex>)>,
    /// The system task queues' limits by definition name, and the registry they were built
    /// from (kept, so that its pointer identifies it).
    system_limits: Option<tasks::SystemLimits>,
    /// Workflow id → how many workflows started it ([`Runtime::workflow_depth`]): fixed at
    /// its start, and read for every child it starts. Cleared when it reaches
    /// [`DEPTH_MEMO_ENTRIES`].
    depths: HashMap<String, usize>,
    /// Bumped by every invalidation. A definition read from the store is cached only if no
    /// invalidation happened since the read began, so a read that raced a registration
    /// cannot put the old definition back after the registration cleared it.
    generation: u64,
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
    /// The active domains and when (clock millis) they were read.
    active_domains: Mutex<(Option<i64>, ActiveDomains)>,
    caches: Mutex<Caches>,
    /// Wakes the follow-up loop: follow-ups are pending beyond what their cause carried out.
    pub(crate) follow_ups_nudge: Notify,
    /// Prometheus metrics, recorded at commits and polls.
    metrics: Arc<Metrics>,
    /// Committed changes, for listeners such as the UI's event stream.
    changes: ChangeFeed,
}

impl Runtime {
    pub fn new(store: Arc<dyn Store>, config: RuntimeConfig) -> Arc<Self> {
        let metrics = Metrics::new(config.metrics_max_label_values, store.backend_name());
        let changes = ChangeFeed::new(config.change_feed_capacity);
        let states = StateCache::new(
            StateCacheLimits {
                workflows: config.state_cache_workflows,
                bytes: config.state_cache_bytes,
                idle_ms: i64::try_from(config.state_cache_idle.as_millis()).unwrap_or(i64::MAX),
            },
            config.clock.clone(),
        );
        Arc::new(Runtime {
            store,
            metrics: Arc::new(metrics),
            config,
            changes,
            queues: QueueWakers::default(),
            sweeper_nudge: Notify::new(),
            sweeper_next: AtomicI64::new(0),
            waiters: CommitWaiters::default(),
            states,
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
            .ok_or_else(|| Error::NotFound(format!("Workflow with id: {workflow_id} not found.")))
    }

    /// The current time in epoch milliseconds, by the runtime's clock.
    pub fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }

    pub(crate) fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Most ids one bulk request may name ([`RuntimeConfig::max_bulk_ids`]).
    pub fn max_bulk_ids(&self) -> usize {
        self.config.max_bulk_ids
    }

    fn engine_limits(&self) -> engine::EngineLimits {
        engine::EngineLimits {
            max_loop_iterations: self.config.max_loop_iterations,
            decision_time_budget: Some(self.config.decision_time_budget),
            max_fork_branches: self.config.max_fork_branches,
            max_tasks_per_workflow: self.config.max_tasks_per_workflow,
            max_task_output_bytes: self.config.max_task_output_bytes,
        }
    }

    /// The metrics registry this runtime records into (the server adds HTTP metrics).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Reads the gauges that come from the store (queue depths and ages, running workflows),
    /// then encodes every metric in the Prometheus text format.
    pub async fn render_metrics(&self) -> Result<String> {
        let now = self.now();
        let queues = self.store.queue_stats(now).await?;
        self.metrics.refresh_queues(&queues, now);
        let active = self.store.active_workflow_stats().await?;
        self.metrics.refresh_active_workflows(&active, now);
        self.metrics.refresh_state_cache(self.states.stats());
        Ok(self.metrics.encode())
    }

    /// What this node's state cache holds now (also on `/metrics`).
    pub fn state_cache_stats(&self) -> StateCacheStats {
        self.states.stats()
    }

    /// Listens to committed changes (see [`crate::WorkflowChange`]); a receiver that falls
    /// more than `change_feed_capacity` records behind gets `Lagged` and should re-read.
    pub fn subscribe_changes(
        &self,
    ) -> tokio::sync::broadcast::Receiver<Arc<crate::WorkflowChange>> {
        self.changes.subscribe()
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

    /// A depth [`Runtime::workflow_depth`] worked out before.
    pub(crate) fn remembered_depth(&self, workflow_id: &str) -> Option<usize> {
        self.caches.lock().depths.get(workflow_id).copied()
    }

    pub(crate) fn remember_depth(&self, workflow_id: &str, depth: usize) {
        let mut caches = self.caches.lock();
        if caches.depths.len() >= DEPTH_MEMO_ENTRIES {
            caches.depths.clear();
        }
        caches.depths.insert(workflow_id.to_string(), depth);
    }

    fn invalidate_defs(&self) {
        let mut c = self.caches.lock();
        c.workflow_defs.clear();
        c.task_defs = None;
        c.system_limits = None;
        c.generation += 1;
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
                t.task_definition = node.task_definition.clone().map(Box::new);
                t.workflow_task = Some(Box::new(node.clone()));
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

impl Runtime {
    /// The limits this runtime was configured with (for `/api/admin/config`).
    pub fn settings(&self) -> &RuntimeConfig {
        &self.config
    }
}
