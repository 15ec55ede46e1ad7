//! Persistence for Baton, behind one trait with one implementation per backend.
//!
//! The contract every backend keeps:
//! - **One transaction per state change.** [`Store::commit`] writes a whole decision (workflow
//!   row, task rows, queue entries, history, wake-up time) atomically, or nothing.
//! - **Optimistic concurrency.** Each workflow row carries a version. A commit names the version
//!   it read; if the row moved on meanwhile (another update, a poll, another node) the commit
//!   fails with [`StoreError::Conflict`] and the caller reloads and decides again. This is what
//!   lets several nodes share one database, and what makes timers fire exactly once.
//! - **Claiming is atomic.** [`Store::poll`] removes queue entries and moves their tasks to
//!   IN_PROGRESS in one transaction, so a task attempt is handed to at most one worker.
//! - **Durable on acknowledgement.** When a method returns `Ok`, the change is committed.
//! - **Timers are data.** A workflow's `next_wake_at` is stored with the row; whichever node
//!   sees it due first decides the workflow (see [`Store::due_workflows`]).

use async_trait::async_trait;
use baton_model::{
    HistoryEvent, PollData, QueueEntry, Task, TaskDef, TaskExecLog, Workflow, WorkflowDef,
    WorkflowStatus,
};
use std::sync::Arc;

pub mod auth;
mod classifier;
mod codec;
pub mod feed;
mod paging;
pub mod postgres;
pub mod schedule;
pub mod sqlite;
mod task_text;
mod task_write;

pub use auth::{ApiKey, WebhookDelivery};
pub use feed::ClusterChanges;
pub use postgres::{GroupCommitOptions, GroupCommitStats, PostgresOptions, PostgresStore};
pub use schedule::{CatchupPolicy, WorkflowSchedule};
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};
pub use task_text::DEFAULT_TASK_TEXT_BYTES;
pub use task_write::TaskWrite;

/// Epoch milliseconds.
pub type Millis = i64;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The workflow changed since it was read; reload and retry.
    #[error("concurrent modification of workflow {0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data could not be decoded: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    /// The database cannot be reached right now (connection refused or lost, server
    /// restarting); the operation may succeed if retried later. An operation whose connection
    /// was lost during its commit may or may not have been applied.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A workflow as read from the store: the execution, its task attempts (ordered by `seq`),
/// and the version a commit must name.
#[derive(Debug, Clone)]
pub struct WorkflowState {
    /// `tasks` is empty here; `workflow_definition` is set.
    pub workflow: Workflow,
    pub def: Arc<WorkflowDef>,
    pub tasks: Vec<Task>,
    pub version: i64,
    /// `Some(count)` while a wake from another workflow (a child that ended) is pending: the
    /// number of wakes so far. A decision that read this, and then took in what woke it,
    /// clears the wake with [`Commit::unwake`] naming this count.
    pub woken: Option<i64>,
}

/// Everything one decision changes for one workflow.
#[derive(Debug, Clone)]
pub struct WorkflowWrite {
    /// The full execution row (its `tasks` and `workflow_definition` are not stored from here).
    pub workflow: Workflow,
    /// The definition the execution runs; stored once per distinct content.
    pub def: Arc<WorkflowDef>,
    /// `None`: insert a new workflow (fails with AlreadyExists if the id is taken).
    /// `Some(v)`: update only if the stored version is still `v`.
    pub expected_version: Option<i64>,
    /// Task attempts to insert or replace, serialised by the caller (ADR 39).
    pub tasks: Vec<TaskWrite>,
    /// Task attempts to delete (rerun, restart).
    pub removed_tasks: Vec<String>,
    pub queue_push: Vec<QueueEntry>,
    /// Task ids whose queue entries are to be removed.
    pub queue_remove: Vec<String>,
    pub history: Vec<HistoryEvent>,
    /// When this workflow must next be decided even if nothing happens to it (timeouts, timers).
    pub next_wake_at: Option<Millis>,
    /// For an update: the input did not change, `workflow.input` is left empty and the stored
    /// input is kept. A workflow's input is often its largest field; it is written when the
    /// workflow starts or a rerun replaces it, not on every commit.
    pub keep_input: bool,
}

/// One atomic commit.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    pub workflows: Vec<WorkflowWrite>,
    /// Other workflows to decide soon (a parent whose child finished), by id and due time.
    /// A wake is kept apart from the workflow's own wake-up, which its commits set: a
    /// decision that read the workflow before the wake cannot overwrite it. It stays pending
    /// (due to the sweeper) until [`Commit::unwake`] clears it.
    pub wake: Vec<(String, Millis)>,
    pub logs: Vec<TaskExecLog>,
    /// Follow-up work this commit leaves behind, stored with it (see [`FollowUp`]).
    pub follow_ups: Vec<FollowUp>,
    /// Ids of follow-ups this commit carries out; deleted with it (absent ids are ignored,
    /// so two nodes that both carry one out do not conflict).
    pub follow_ups_done: Vec<String>,
    /// Wake-up times to set (later or earlier) on workflows a decision left otherwise
    /// unchanged: no version bump, no row rewrite. Conflict (and nothing applied) if such a
    /// workflow is no longer at the version named (its newer commit set its own wake-up).
    pub reschedule: Vec<Reschedule>,
    /// Pending wakes to clear, by workflow id and the wake count read
    /// ([`WorkflowState::woken`]): each is cleared only if no wake arrived since.
    pub unwake: Vec<(String, i64)>,
}

/// See [`Commit::reschedule`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reschedule {
    pub workflow_id: String,
    /// The version the decision read.
    pub version: i64,
    pub next_wake_at: Option<Millis>,
}

/// Durable follow-up work (an outbox row): something a commit requires of *other*
/// workflows, such as terminating a running child or starting a failure workflow. It is
/// stored in the same transaction as its cause and deleted in the one that carries it out,
/// so a crash in between delays it but never loses it. The payload is opaque to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    /// Time-ordered (UUIDv7), so listing by id lists oldest first.
    pub id: String,
    /// The workflow whose commit left this behind.
    pub workflow_id: String,
    pub payload: serde_json::Value,
    pub created_at: Millis,
}

/// A worker's request for tasks.
#[derive(Debug, Clone)]
pub struct PollRequest {
    /// `[domain:]taskType`.
    pub queue: String,
    pub count: usize,
    pub worker_id: Option<String>,
    pub domain: Option<String>,
    pub now: Millis,
    /// The task definition's limits, enforced inside the claim.
    pub limits: PollLimits,
    /// Limits by task definition name, for a queue that holds tasks of several definitions
    /// (a system task queue: an HTTP task named `call_api` is bound by the definition
    /// `call_api`), enforced inside the claim like `limits`. A task whose definition is at
    /// its limit is not handed out: its entry stays queued, postponed to when a hand-out may
    /// be allowed. None: no such limits.
    pub def_limits: Option<Arc<std::collections::HashMap<String, PollLimits>>>,
    /// Whether the task type has a registered definition. Poll data of unregistered types is
    /// kept within a bound (the least recently polled are forgotten).
    pub registered: bool,
    /// The engine's claim rules (`baton_engine::claim::claim`). The store runs them on each
    /// SCHEDULED task it takes off the queue, inside the claim's transaction, and persists
    /// what they changed: the task row, a history event, the workflow's version bump, and a
    /// wake-up of the workflow by the lease's end.
    pub claim: baton_model::claim::ClaimRule,
}

/// Limits of a task definition that bound how many of its tasks a poll may hand out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollLimits {
    /// The task definition name the limits belong to.
    pub task_def_name: String,
    /// At most this many tasks IN_PROGRESS at once (`concurrentExecLimit`; None or 0: none).
    pub concurrent_exec_limit: Option<i32>,
    /// At most `.0` hand-outs per `.1` seconds (`rateLimitPerFrequency`,
    /// `rateLimitFrequencyInSeconds`).
    pub rate_limit: Option<(i32, i32)>,
}

/// The tasks a poll claimed (already IN_PROGRESS), and when the next entry of the queue
/// becomes visible if none was.
#[derive(Debug, Clone, Default)]
pub struct PollOutcome {
    /// The claimed tasks. A claim leaves its workflow's version alone: a copy of the
    /// workflow that has not seen the claim can take it in (by poll count), and a commit
    /// from a copy that did not and writes the task is refused as a conflict.
    pub tasks: Vec<Task>,
    pub next_visible_at: Option<Millis>,
    /// The earliest lease end among the claimed tasks: their workflows wake by then.
    pub wake_by: Option<Millis>,
}

/// Filters for listing executions. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct WorkflowQuery {
    pub workflow_ids: Vec<String>,
    pub workflow_types: Vec<String>,
    pub statuses: Vec<WorkflowStatus>,
    pub correlation_ids: Vec<String>,
    pub version: Option<i32>,
    /// Inclusive bounds of the start time (the API's exclusive `>`/`<` are shifted by one).
    pub start_time_from: Option<Millis>,
    pub start_time_to: Option<Millis>,
    /// Inclusive bounds of the end time (0 while running).
    pub end_time_from: Option<Millis>,
    pub end_time_to: Option<Millis>,
    /// Inclusive bounds of the last update time.
    pub update_time_from: Option<Millis>,
    pub update_time_to: Option<Millis>,
    pub parent_workflow_ids: Vec<String>,
    /// Only executions without a parent (no sub-workflows): Conductor's `topLevelOnly`.
    pub top_level_only: bool,
    /// Conditions on the classifier of the definition an execution runs (Conductor's
    /// `classifier`, see `WorkflowDef::classifier`): each list is one condition, met by any
    /// of its values (`*` a wildcard); every condition must hold. Empty: no filter.
    pub classifiers: Vec<Vec<String>>,
    /// Case-insensitive substring of the execution's search document (ids, correlation id,
    /// type, status, input, output, reason).
    pub free_text: Option<String>,
    pub offset: usize,
    pub limit: usize,
    /// Column and direction, e.g. ("startTime", true = descending).
    pub sort: Option<(String, bool)>,
    /// Executions whose idempotency key starts with one of these (schedule runs carry
    /// `schedule:<name>:<time>`). Empty: no filter.
    pub idempotency_key_prefixes: Vec<String>,
    /// The caller ignores the total (a lookup such as executions by correlation id): it is
    /// not counted, and reported as `offset` plus the number of results.
    pub skip_total: bool,
    /// Most matches counted for the total where it is counted by reading the matches (not
    /// for totals of type and status searches, which come from kept counts, nor for free
    /// text, which reads every match anyway); 0: all. Past it the total is reported as
    /// the cap, or as `offset` plus the results when the page reaches further.
    pub count_limit: usize,
}

impl WorkflowQuery {
    /// Whether the total of this query is a sum of the stored counts per workflow type and
    /// status: it filters by nothing else, and by exact types only.
    pub(crate) fn counted(&self) -> bool {
        self.workflow_ids.is_empty()
            && self.correlation_ids.is_empty()
            && self.version.is_none()
            && self.start_time_from.is_none()
            && self.start_time_to.is_none()
            && self.end_time_from.is_none()
            && self.end_time_to.is_none()
            && self.update_time_from.is_none()
            && self.update_time_to.is_none()
            && self.parent_workflow_ids.is_empty()
            && !self.top_level_only
            && self.classifiers.is_empty()
            && self.free_text.as_deref().is_none_or(str::is_empty)
            && self.idempotency_key_prefixes.is_empty()
            && !self.workflow_types.iter().any(|t| t.contains('*'))
    }
}

/// Filters for listing task attempts. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub task_ids: Vec<String>,
    pub workflow_ids: Vec<String>,
    /// Task definition names (`taskType`/`taskDefName` in queries).
    pub task_def_names: Vec<String>,
    pub statuses: Vec<baton_model::TaskStatus>,
    /// Task types (`taskType`: the definition name of a worker task, else the system type).
    pub task_types: Vec<String>,
    pub ref_names: Vec<String>,
    /// Tasks of workflows with these names (`workflowType`/`workflowName`).
    pub workflow_types: Vec<String>,
    /// Inclusive bounds of the start time (0 until a worker or the server starts it).
    pub start_time_from: Option<Millis>,
    pub start_time_to: Option<Millis>,
    /// Inclusive bounds of the end time (0 until it ends).
    pub end_time_from: Option<Millis>,
    pub end_time_to: Option<Millis>,
    /// Case-insensitive substring of the task's search document: ids, workflow type,
    /// correlation id, reference name, type, definition name, input, output and reason.
    pub free_text: Option<String>,
    pub offset: usize,
    /// 0: no limit.
    pub limit: usize,
    /// `startTime` or `endTime` and direction (true = descending); otherwise (and by
    /// default) newest attempt first.
    pub sort: Option<(String, bool)>,
    /// Most matches counted for the total ([`WorkflowQuery::count_limit`]); 0: all.
    pub count_limit: usize,
}

/// One queue as metrics see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStat {
    pub queue: String,
    /// Entries, claimable or not yet visible (as `queue_sizes` counts them).
    pub depth: i64,
    /// Visibility time of the oldest entry claimable at the time asked, if any.
    pub oldest_visible_at: Option<Millis>,
}

/// Running (or paused) executions of one workflow name, as metrics see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveWorkflows {
    pub name: String,
    pub count: i64,
    pub oldest_start_time: Millis,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether other processes (other Baton nodes) may change this database behind this
    /// handle's back. The runtime's cached workflow states are then verified against the
    /// store before it answers anything a commit did not check (ADR 15).
    fn shared(&self) -> bool {
        false
    }

    /// What other nodes commit, as it happens (ADR 16), on a store other nodes share;
    /// `None` where nobody else writes.
    fn change_feed(&self) -> Option<tokio::sync::broadcast::Receiver<ClusterChanges>> {
        None
    }

    /// Bytes of a task's input, and of its output, that its search document holds: what
    /// [`TaskWrite::new`] is given for this store's commits.
    fn task_text_bytes(&self) -> usize;

    // ----- task definitions -----
    /// Inserts or replaces each definition (sets `createTime` on insert).
    async fn put_task_defs(&self, defs: Vec<TaskDef>) -> Result<()>;
    /// Replaces an existing definition; NotFound if there is none.
    async fn update_task_def(&self, def: TaskDef) -> Result<()>;
    async fn get_task_def(&self, name: &str) -> Result<Option<TaskDef>>;
    async fn list_task_defs(&self) -> Result<Vec<TaskDef>>;
    /// NotFound if there is none.
    async fn delete_task_def(&self, name: &str) -> Result<()>;

    // ----- workflow definitions -----
    /// AlreadyExists if `name`+`version` exists and `overwrite` is false.
    async fn put_workflow_def(&self, def: WorkflowDef, overwrite: bool) -> Result<()>;
    /// `version: None` gives the highest version.
    async fn get_workflow_def(
        &self,
        name: &str,
        version: Option<i32>,
    ) -> Result<Option<WorkflowDef>>;
    /// Every version of every definition, by name then version.
    async fn list_workflow_defs(&self) -> Result<Vec<WorkflowDef>>;
    /// NotFound if there is none.
    async fn delete_workflow_def(&self, name: &str, version: i32) -> Result<()>;

    // ----- executions -----
    async fn load_workflow(&self, workflow_id: &str) -> Result<Option<WorkflowState>>;
    /// The workflow row alone (no tasks), for cheap status reads.
    async fn get_workflow(&self, workflow_id: &str) -> Result<Option<Workflow>>;
    /// The workflow row without its input and definition: what a status summary shows. A
    /// workflow's input can be its largest value (a dynamic fork's branches, ADR 38), and
    /// a client polling for the end of a run reads its status many times.
    async fn get_workflow_status(&self, workflow_id: &str) -> Result<Option<Workflow>>;
    async fn get_task(&self, task_id: &str) -> Result<Option<Task>>;
    /// Applies a decision atomically; Conflict (and nothing applied) if any expected version
    /// no longer matches.
    async fn commit(&self, commit: Commit) -> Result<()>;
    /// The oldest pending follow-ups, at most `limit`.
    async fn pending_follow_ups(&self, limit: usize) -> Result<Vec<FollowUp>>;
    /// Ids of ended executions (COMPLETED, FAILED, TIMED_OUT, TERMINATED) whose end time is
    /// before `end_before`, oldest first, at most `limit` (retention).
    async fn finished_before(&self, end_before: Millis, limit: usize) -> Result<Vec<String>>;
    /// Deletes an execution with its tasks, queue entries and logs (history is kept).
    async fn remove_workflow(&self, workflow_id: &str) -> Result<()>;
    async fn search_workflows(&self, query: &WorkflowQuery) -> Result<(i64, Vec<Workflow>)>;
    /// Executions whose id was recorded with this idempotency key, newest first.
    async fn find_by_idempotency_key(&self, name: &str, key: &str) -> Result<Vec<Workflow>>;

    // ----- queues and timers -----
    /// Claims up to `count` visible tasks of a queue for a worker.
    async fn poll(&self, request: PollRequest) -> Result<PollOutcome>;
    /// Ids of workflows whose wake-up time has passed, earliest first.
    async fn due_workflows(&self, now: Millis, limit: usize) -> Result<Vec<String>>;
    /// The earliest wake-up time of any workflow.
    async fn next_wake_at(&self) -> Result<Option<Millis>>;
    /// [`Store::due_workflows`] for a sweeper about to decide them: on a store several nodes
    /// share, the workflows returned are claimed for `claim_for` ms (or until a commit of
    /// the workflow), and other nodes' claims skip them, so each due workflow is decided by
    /// one node. Where one node writes, the same as `due_workflows`.
    async fn claim_due_workflows(
        &self,
        now: Millis,
        limit: usize,
        claim_for: Millis,
    ) -> Result<Vec<String>> {
        let _ = claim_for;
        self.due_workflows(now, limit).await
    }
    /// The queue entries of one workflow's tasks, in claim order (`baton migrate` copies an
    /// execution with them, so its scheduled tasks stay pollable).
    async fn queue_entries(&self, workflow_id: &str) -> Result<Vec<QueueEntry>>;
    /// Number of entries per queue (visible or not).
    async fn queue_sizes(&self) -> Result<Vec<(String, i64)>>;
    /// Depth and oldest claimable entry of every non-empty queue (for metrics).
    async fn queue_stats(&self, now: Millis) -> Result<Vec<QueueStat>>;
    /// Executions in status RUNNING or PAUSED per workflow name, with the oldest start time
    /// (for metrics).
    async fn active_workflow_stats(&self) -> Result<Vec<ActiveWorkflows>>;
    /// The backend's name as metrics and `/health` show it (`sqlite`, `postgres`).
    fn backend_name(&self) -> &'static str;
    /// The last poll of each queue (task type, without domain prefix) and domain, for
    /// `/api/tasks/queue/polldata`. May lag the newest poll by up to a second.
    async fn poll_data(&self) -> Result<Vec<PollData>>;

    // ----- logs and history -----
    async fn append_task_logs(&self, logs: Vec<TaskExecLog>) -> Result<()>;
    async fn task_logs(&self, task_id: &str) -> Result<Vec<TaskExecLog>>;
    /// The audit trail of one workflow, oldest first.
    async fn history(&self, workflow_id: &str) -> Result<Vec<HistoryEvent>>;
    /// Deletes the audit trail of one workflow (removal without archiving); nothing if none.
    async fn delete_history(&self, workflow_id: &str) -> Result<()>;
    /// Task attempts matching the query, newest first, with the total count.
    async fn search_tasks(&self, query: &TaskQuery) -> Result<(i64, Vec<Task>)>;
    /// The workflow id of each attempt `query` matches, in its order and paging (an id may
    /// repeat), without reading the attempts themselves.
    async fn search_task_workflow_ids(&self, query: &TaskQuery) -> Result<Vec<String>>;
    /// Search by tasks, paged as Conductor pages it: the attempts `scan` matches, in its
    /// order, within its window (`scan.limit` newest in that order; 0: all; `scan.offset` is
    /// not used), and of them the `size` from `start`. Answers the workflows of those
    /// attempts, each once, in the order of its first attempt on the page, read as
    /// [`Store::get_workflow`] reads them (a workflow removed meanwhile is left out), and a
    /// total: the attempts of the window, counted up to `scan.count_limit` as a task
    /// search counts them, less the attempts of the page whose workflow is already listed.
    async fn search_workflows_by_tasks(
        &self,
        scan: &TaskQuery,
        start: usize,
        size: usize,
    ) -> Result<(i64, Vec<Workflow>)> {
        let (take, bound) = paging::by_tasks_window(scan, start, size);
        // Enough attempts for both the count and the page (0: all).
        let read = match bound {
            0 => 0,
            n => n.max(start.saturating_add(take)),
        };
        let window = TaskQuery {
            offset: 0,
            limit: read,
            ..scan.clone()
        };
        let all = self.search_task_workflow_ids(&window).await?;
        let counted = match bound {
            0 => all.len(),
            n => all.len().min(n),
        };
        let counted = i64::try_from(counted).unwrap_or(i64::MAX);
        let page: Vec<String> = all.into_iter().skip(start).take(take).collect();
        let attempts = page.len();
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<String> = page
            .into_iter()
            .filter(|id| seen.insert(id.clone()))
            .collect();
        let total = paging::by_tasks_total(scan, counted, start, attempts, firsts.len());
        let mut out = Vec::new();
        for id in firsts {
            if let Some(w) = self.get_workflow(&id).await? {
                out.push(w);
            }
        }
        Ok((total, out))
    }

    // ----- cron schedules -----
    /// Inserts or replaces a schedule; its `next_run_time` is stored as the due time of its
    /// next run (`None`: no more runs).
    async fn put_schedule(&self, schedule: WorkflowSchedule) -> Result<()>;
    /// The schedule with `next_run_time` filled in.
    async fn get_schedule(&self, name: &str) -> Result<Option<WorkflowSchedule>>;
    /// Every schedule, by name.
    async fn list_schedules(&self) -> Result<Vec<WorkflowSchedule>>;
    /// NotFound if there is none.
    async fn delete_schedule(&self, name: &str) -> Result<()>;
    /// Unpaused schedules whose next run is due at `now`, earliest first.
    async fn due_schedules(&self, now: Millis, limit: usize) -> Result<Vec<WorkflowSchedule>>;
    /// The earliest next run of any unpaused schedule.
    async fn next_schedule_run_at(&self) -> Result<Option<Millis>>;
    /// Atomic compare-and-set of a schedule's next run: moves it from `expected` to `next`
    /// and answers true, or answers false (and changes nothing) if it is no longer
    /// `expected` (another node claimed that run, or the schedule was changed or deleted).
    async fn claim_due_schedule_run(
        &self,
        name: &str,
        expected: Millis,
        next: Option<Millis>,
    ) -> Result<bool>;

    // ----- event handlers and Baton's own event sink -----
    /// `create_only`: insert, AlreadyExists if the name exists; otherwise replace, NotFound
    /// if it does not.
    async fn put_event_handler(
        &self,
        handler: baton_model::EventHandler,
        create_only: bool,
    ) -> Result<()>;
    /// Every handler, by name.
    async fn list_event_handlers(&self) -> Result<Vec<baton_model::EventHandler>>;
    /// The handlers listening on `event` (only the active ones if `active_only`), by name.
    async fn event_handlers_for(
        &self,
        event: &str,
        active_only: bool,
    ) -> Result<Vec<baton_model::EventHandler>>;
    /// NotFound if there is none.
    async fn delete_event_handler(&self, name: &str) -> Result<()>;
    /// Appends a published message to the event log; returns its id.
    async fn record_event(&self, event: baton_model::PublishedEvent) -> Result<i64>;
    /// Published messages, newest first, optionally of one event (queue) only; `limit` is
    /// clamped to 1..=1000.
    // ----- security (API keys, token signing, webhook deliveries) -----
    /// Stores a new key; [`StoreError::AlreadyExists`] if its id is taken.
    async fn put_api_key(&self, key: ApiKey) -> Result<()>;
    async fn get_api_key(&self, key_id: &str) -> Result<Option<ApiKey>>;
    /// Every key, revoked ones included, oldest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>>;
    /// Marks a key revoked at `at`; false if it does not exist or was revoked already.
    async fn revoke_api_key(&self, key_id: &str, at: Millis) -> Result<bool>;
    /// The server secret called `name`, stored as `candidate` if there is none yet, so every
    /// node on this database gets the same one.
    async fn server_secret(&self, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>>;
    /// The delivery recorded for this hook and delivery id, if any.
    async fn webhook_delivery(
        &self,
        hook: &str,
        delivery_id: &str,
    ) -> Result<Option<WebhookDelivery>>;
    /// Records a webhook delivery unless one with its hook and id was recorded before; then
    /// returns that earlier record and stores nothing.
    async fn record_webhook_delivery(
        &self,
        delivery: WebhookDelivery,
    ) -> Result<Option<WebhookDelivery>>;

    async fn published_events(
        &self,
        event: Option<&str>,
        limit: usize,
    ) -> Result<Vec<baton_model::PublishedEvent>>;
}
