//! The PostgreSQL [`Store`]: a pool of connections (deadpool-postgres over tokio-postgres),
//! one transaction per operation, several Baton nodes on one database.
//!
//! # Concurrency
//!
//! There is no writer thread here: every operation runs its own transaction on a pooled
//! connection, at READ COMMITTED, and the database arbitrates between connections and nodes.
//! - **Commits** (in groups, see below) lock the workflow rows they name (`FOR UPDATE`, in id order), check their
//!   versions and the poll counts of the tasks they write, and only then write. Any failure
//!   rolls the whole transaction back, so a Conflict or AlreadyExists leaves nothing behind.
//!   A deadlock or serialization failure (two commits waking each other's workflows) is
//!   answered as a Conflict, which the runtime already retries.
//! - **Claims** (`queue.rs`) take queue rows and their task rows with `FOR UPDATE SKIP
//!   LOCKED`, so pollers never wait for each other or for a commit, and never hand one task
//!   out twice. They touch neither the workflow row nor its version (ADR 14): the lease a
//!   claim grants is kept on the task row (`lease_until`), and a workflow is due by the
//!   earliest of its own `next_wake_at` and its tasks' leases (`read::due_workflows`). A
//!   commit that rewrites the task from a copy that saw the claim clears the lease.
//! - **Limits** (`concurrentExecLimit`, rate limits) are counted under a transaction-scoped
//!   advisory lock per task definition, so claimers on any node take turns to count.
//!
//! # Group commit
//!
//! Commits that arrive together share one transaction (`group_commit.rs`, ADR 23): a few
//! committer lanes each take what waits, check every commit of the group against the rows
//! they lock, and write the ones that pass with one multi-row statement per table. Claims,
//! definitions and the other writes still run their own transactions.
//!
//! # Durability
//!
//! An operation answers `Ok` only after its `COMMIT` returned, with the server's
//! `synchronous_commit` (on by default: the commit is flushed to the WAL on disk).

mod auth;
mod commit_rows;
mod commit_sql;
mod defs;
mod errors;
mod events;
mod feed;
mod group_commit;
mod migrate;
mod plans;
mod probe;
mod queue;
mod read;
mod schedules;
mod search;
mod search_key;
pub(crate) mod tls;
mod write;

use errors::db_message;

pub use group_commit::{GroupCommitOptions, GroupCommitStats};
pub use probe::probe;

use commit_rows::PreparedCommit;
use group_commit::{GroupCommitter, LaneContext};

use crate::codec::DefCache;
use crate::{
    ClusterChanges, Commit, FollowUp, Millis, PollOutcome, PollRequest, Result, Store, StoreError,
    TaskQuery, WorkflowQuery, WorkflowSchedule, WorkflowState,
};
use async_trait::async_trait;
use baton_model::{
    EventHandler, HistoryEvent, PollData, PublishedEvent, Task, TaskDef, TaskExecLog, Workflow,
    WorkflowDef,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How to open a [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A libpq-style URL, `postgres://user@host:port/database`.
    pub url: String,
    /// Most pooled connections (at least 1).
    pub max_connections: usize,
    /// The clock of definition create and update times (a manual one in tests).
    pub clock: baton_model::clock::Clock,
    /// How concurrent commits share transactions (ADR 23).
    pub group_commit: GroupCommitOptions,
    /// Bytes of a task's input, and of its output, that free-text task search matches
    /// (its search document, ADR 35); 0 leaves input and output out.
    pub task_text_bytes: usize,
}

impl PostgresOptions {
    /// Options for `url` with the defaults: 16 connections, the system clock.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions {
            url: url.into(),
            max_connections: 16,
            clock: baton_model::clock::Clock::System,
            group_commit: GroupCommitOptions::default(),
            task_text_bytes: crate::DEFAULT_TASK_TEXT_BYTES,
        }
    }
}

/// How long opening one connection may take, unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Poll data is rewritten at most this often per queue and domain and store handle.
const POLL_DATA_INTERVAL_MS: i64 = 1000;

/// The PostgreSQL store. Cheap to clone: clones share the pool and the caches.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    defs: DefCache,
    /// Definition snapshots known to be committed (so a commit need not insert them again).
    snapshots: Arc<Mutex<HashSet<String>>>,
    /// (queue, domain) → time of the last poll data written by this handle.
    polls_seen: Mutex<HashMap<(String, String), Millis>>,
    clock: baton_model::clock::Clock,
    /// See [`PostgresOptions::task_text_bytes`].
    task_text_bytes: usize,
    /// Notices to and from the other nodes.
    feed: Arc<feed::Feed>,
    /// Where commits are grouped and written.
    committer: GroupCommitter,
    commit_counters: Arc<group_commit::Counters>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.feed.close();
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

pub(crate) fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// Connects and brings the schema up to date. Fails if the database is unreachable or
    /// was written by a newer Baton.
    pub async fn open(opts: PostgresOptions) -> Result<PostgresStore> {
        let mut connect = tls::connect_settings(&opts.url)?;
        if connect.config.get_connect_timeout().is_none() {
            // A host that drops packets must not hold a request for the OS's minutes.
            connect.config.connect_timeout(CONNECT_TIMEOUT);
        }
        let feed_connect = connect.clone();
        plans::keep_index_plans(&mut connect.config);
        let manager = Manager::from_config(
            connect.config,
            connect.tls,
            ManagerConfig {
                // Checks each connection with a round trip before reuse, so one the server
                // closed is replaced instead of failing the next operation.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(opts.max_connections.max(1))
            .build()
            .map_err(|e| StoreError::Database(format!("connection pool: {e}")))?;
        {
            let mut client = pool.get().await?;
            migrate::migrate(&mut client).await?;
        }
        let feed = feed::Feed::start(feed_connect);
        let snapshots = Arc::new(Mutex::new(HashSet::new()));
        let counters = Arc::new(group_commit::Counters::default());
        let committer = GroupCommitter::start(
            LaneContext {
                pool: pool.clone(),
                snapshots: snapshots.clone(),
                feed: feed.clone(),
                counters: counters.clone(),
            },
            opts.group_commit,
        );
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                defs: DefCache::default(),
                snapshots,
                committer,
                commit_counters: counters,
                polls_seen: Mutex::new(HashMap::new()),
                clock: opts.clock,
                task_text_bytes: opts.task_text_bytes,
                feed,
            }),
        })
    }

    /// A digest of the migrations this build applies (see [`migrate::fingerprint`]): the
    /// tests copy a database migrated once per fingerprint (ADR 15).
    pub fn schema_fingerprint() -> String {
        migrate::fingerprint()
    }

    /// Tells the other nodes that definitions changed, when `out` says the write succeeded.
    fn definitions_changed<T>(&self, out: Result<T>) -> Result<T> {
        if out.is_ok() {
            self.inner.feed.publish(ClusterChanges {
                definitions: true,
                ..ClusterChanges::default()
            });
        }
        out
    }

    /// Closes the pool and the change feed of this handle and its clones: later operations
    /// fail at once instead of connecting again (e.g. before the database is dropped).
    pub fn close(&self) {
        self.inner.pool.close();
        self.inner.feed.close();
    }

    /// What group commit has done since this handle opened (ADR 23).
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            queued: self.inner.committer.queued(),
            ..self.inner.commit_counters.snapshot()
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.inner.pool.get().await?)
    }

    /// Whether this poll should write the queue's poll data, and notes it as written.
    fn poll_data_due(&self, req: &PollRequest) -> bool {
        let key = (req.queue.clone(), req.domain.clone().unwrap_or_default());
        let mut seen = self.inner.polls_seen.lock();
        if seen.len() >= crate::sqlite::POLL_MARKS_SOFT_CAP && !seen.contains_key(&key) {
            seen.retain(|_, last| (0..POLL_DATA_INTERVAL_MS).contains(&(req.now - *last)));
            if seen.len() >= crate::sqlite::POLL_MARKS_SOFT_CAP {
                seen.clear();
            }
        }
        match seen.get_mut(&key) {
            Some(last) if (0..POLL_DATA_INTERVAL_MS).contains(&(req.now - *last)) => false,
            Some(last) => {
                *last = req.now;
                true
            }
            None => {
                seen.insert(key, req.now);
                true
            }
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn task_text_bytes(&self) -> usize {
        self.inner.task_text_bytes
    }

    /// Several nodes may serve one PostgreSQL database.
    fn shared(&self) -> bool {
        true
    }

    fn change_feed(&self) -> Option<tokio::sync::broadcast::Receiver<ClusterChanges>> {
        Some(self.inner.feed.subscribe())
    }

    async fn put_task_defs(&self, defs: Vec<TaskDef>) -> Result<()> {
        let mut c = self.client().await?;
        let out = defs::put_task_defs(&mut c, defs, self.inner.clock.now_ms()).await;
        self.definitions_changed(out)
    }

    async fn update_task_def(&self, def: TaskDef) -> Result<()> {
        let mut c = self.client().await?;
        let out = defs::update_task_def(&mut c, def, self.inner.clock.now_ms()).await;
        self.definitions_changed(out)
    }

    async fn get_task_def(&self, name: &str) -> Result<Option<TaskDef>> {
        read::get_task_def(&self.client().await?, name).await
    }

    async fn list_task_defs(&self) -> Result<Vec<TaskDef>> {
        read::list_task_defs(&self.client().await?).await
    }

    async fn delete_task_def(&self, name: &str) -> Result<()> {
        let out = defs::delete_task_def(&self.client().await?, name).await;
        self.definitions_changed(out)
    }

    async fn put_workflow_def(&self, def: WorkflowDef, overwrite: bool) -> Result<()> {
        let mut c = self.client().await?;
        let out = defs::put_workflow_def(&mut c, def, overwrite, self.inner.clock.now_ms()).await;
        self.definitions_changed(out)
    }

    async fn get_workflow_def(
        &self,
        name: &str,
        version: Option<i32>,
    ) -> Result<Option<WorkflowDef>> {
        read::get_workflow_def(&self.client().await?, name, version).await
    }

    async fn list_workflow_defs(&self) -> Result<Vec<WorkflowDef>> {
        read::list_workflow_defs(&self.client().await?).await
    }

    async fn delete_workflow_def(&self, name: &str, version: i32) -> Result<()> {
        let out = defs::delete_workflow_def(&self.client().await?, name, version).await;
        self.definitions_changed(out)
    }

    async fn load_workflow(&self, workflow_id: &str) -> Result<Option<WorkflowState>> {
        let mut c = self.client().await?;
        read::load_workflow(&mut c, &self.inner.defs, workflow_id).await
    }

    async fn get_workflow(&self, workflow_id: &str) -> Result<Option<Workflow>> {
        read::get_workflow(&self.client().await?, &self.inner.defs, workflow_id).await
    }

    async fn get_workflow_status(&self, workflow_id: &str) -> Result<Option<Workflow>> {
        read::get_workflow_status(&self.client().await?, workflow_id).await
    }

    async fn get_task(&self, task_id: &str) -> Result<Option<Task>> {
        read::get_task(&self.client().await?, task_id).await
    }

    async fn commit(&self, commit: Commit) -> Result<()> {
        let prepared = PreparedCommit::new(&self.inner, commit)?;
        self.inner.committer.commit(prepared).await
    }

    async fn pending_follow_ups(&self, limit: usize) -> Result<Vec<FollowUp>> {
        read::pending_follow_ups(&self.client().await?, limit).await
    }

    async fn remove_workflow(&self, workflow_id: &str) -> Result<()> {
        let mut c = self.client().await?;
        write::remove_workflow(&mut c, workflow_id).await
    }

    /// Results carry no tasks and no definition. `limit: 0` means no limit.
    async fn search_workflows(&self, query: &WorkflowQuery) -> Result<(i64, Vec<Workflow>)> {
        search::search_workflows(&self.client().await?, query).await
    }

    async fn find_by_idempotency_key(&self, name: &str, key: &str) -> Result<Vec<Workflow>> {
        read::find_by_idempotency_key(&self.client().await?, name, key).await
    }

    async fn poll(&self, request: PollRequest) -> Result<PollOutcome> {
        let record = self.poll_data_due(&request);
        let mut c = self.client().await?;
        let outcome = if request.count == 0 {
            PollOutcome::default()
        } else {
            queue::poll(&mut c, &request).await?
        };
        if record {
            // After the claim's commit and outside it: who polled last is a record, and its
            // row lock must not make pollers of one queue wait for each other's claims.
            queue::record_poll(&c, &request).await?;
        }
        Ok(outcome)
    }

    async fn due_workflows(&self, now: Millis, limit: usize) -> Result<Vec<String>> {
        read::due_workflows(&self.client().await?, now, limit).await
    }

    async fn claim_due_workflows(
        &self,
        now: Millis,
        limit: usize,
        claim_for: Millis,
    ) -> Result<Vec<String>> {
        let until = now.saturating_add(claim_for);
        read::claim_due_workflows(&self.client().await?, now, limit, until).await
    }

    async fn next_wake_at(&self) -> Result<Option<Millis>> {
        read::next_wake_at(&self.client().await?).await
    }

    async fn finished_before(&self, end_before: Millis, limit: usize) -> Result<Vec<String>> {
        queue::finished_before(&self.client().await?, end_before, limit).await
    }

    async fn queue_entries(&self, workflow_id: &str) -> Result<Vec<baton_model::QueueEntry>> {
        queue::queue_entries(&self.client().await?, workflow_id).await
    }

    async fn queue_sizes(&self) -> Result<Vec<(String, i64)>> {
        read::queue_sizes(&self.client().await?).await
    }

    async fn queue_stats(&self, now: Millis) -> Result<Vec<crate::QueueStat>> {
        auth::queue_stats(&self.client().await?, now).await
    }

    async fn active_workflow_stats(&self) -> Result<Vec<crate::ActiveWorkflows>> {
        auth::active_workflow_stats(&self.client().await?).await
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn put_api_key(&self, key: crate::ApiKey) -> Result<()> {
        auth::put_key(&self.client().await?, &key).await
    }

    async fn get_api_key(&self, key_id: &str) -> Result<Option<crate::ApiKey>> {
        auth::get_key(&self.client().await?, key_id).await
    }

    async fn list_api_keys(&self) -> Result<Vec<crate::ApiKey>> {
        auth::list_keys(&self.client().await?).await
    }

    async fn revoke_api_key(&self, key_id: &str, at: Millis) -> Result<bool> {
        auth::revoke_key(&self.client().await?, key_id, at).await
    }

    async fn server_secret(&self, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>> {
        auth::secret(&self.client().await?, name, &candidate).await
    }

    async fn webhook_delivery(
        &self,
        hook: &str,
        delivery_id: &str,
    ) -> Result<Option<crate::WebhookDelivery>> {
        auth::get_delivery(&self.client().await?, hook, delivery_id).await
    }

    async fn record_webhook_delivery(
        &self,
        delivery: crate::WebhookDelivery,
    ) -> Result<Option<crate::WebhookDelivery>> {
        auth::record_delivery(&self.client().await?, &delivery).await
    }

    async fn delete_history(&self, workflow_id: &str) -> Result<()> {
        auth::delete_history(&self.client().await?, workflow_id).await
    }

    async fn poll_data(&self) -> Result<Vec<PollData>> {
        read::poll_data(&self.client().await?).await
    }

    async fn append_task_logs(&self, logs: Vec<TaskExecLog>) -> Result<()> {
        if logs.is_empty() {
            return Ok(());
        }
        write::append_logs(&self.client().await?, &logs).await
    }

    async fn task_logs(&self, task_id: &str) -> Result<Vec<TaskExecLog>> {
        read::task_logs(&self.client().await?, task_id).await
    }

    async fn history(&self, workflow_id: &str) -> Result<Vec<HistoryEvent>> {
        read::history(&self.client().await?, workflow_id).await
    }

    async fn search_tasks(&self, query: &TaskQuery) -> Result<(i64, Vec<Task>)> {
        search::search_tasks(&self.client().await?, query).await
    }

    async fn search_task_workflow_ids(&self, query: &TaskQuery) -> Result<Vec<String>> {
        search::search_task_workflow_ids(&self.client().await?, query).await
    }

    async fn search_workflows_by_tasks(
        &self,
        scan: &TaskQuery,
        start: usize,
        size: usize,
    ) -> Result<(i64, Vec<Workflow>)> {
        let c = self.client().await?;
        search::search_workflows_by_tasks(&c, &self.inner.defs, scan, (start, size)).await
    }

    async fn put_schedule(&self, schedule: WorkflowSchedule) -> Result<()> {
        schedules::put(&self.client().await?, schedule).await
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<WorkflowSchedule>> {
        schedules::get(&self.client().await?, name).await
    }

    async fn list_schedules(&self) -> Result<Vec<WorkflowSchedule>> {
        schedules::list(&self.client().await?).await
    }

    async fn delete_schedule(&self, name: &str) -> Result<()> {
        schedules::delete(&self.client().await?, name).await
    }

    async fn due_schedules(&self, now: Millis, limit: usize) -> Result<Vec<WorkflowSchedule>> {
        schedules::due(&self.client().await?, now, limit).await
    }

    async fn next_schedule_run_at(&self) -> Result<Option<Millis>> {
        schedules::next_run_at(&self.client().await?).await
    }

    async fn claim_due_schedule_run(
        &self,
        name: &str,
        expected: Millis,
        next: Option<Millis>,
    ) -> Result<bool> {
        schedules::claim(&self.client().await?, name, expected, next).await
    }

    async fn put_event_handler(&self, handler: EventHandler, create_only: bool) -> Result<()> {
        let out = events::put_handler(&self.client().await?, &handler, create_only).await;
        self.definitions_changed(out)
    }

    async fn list_event_handlers(&self) -> Result<Vec<EventHandler>> {
        events::list_handlers(&self.client().await?).await
    }

    async fn event_handlers_for(
        &self,
        event: &str,
        active_only: bool,
    ) -> Result<Vec<EventHandler>> {
        events::handlers_for(&self.client().await?, event, active_only).await
    }

    async fn delete_event_handler(&self, name: &str) -> Result<()> {
        let out = events::delete_handler(&self.client().await?, name).await;
        self.definitions_changed(out)
    }

    async fn record_event(&self, event: PublishedEvent) -> Result<i64> {
        events::record_event(&self.client().await?, event).await
    }

    async fn published_events(
        &self,
        event: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PublishedEvent>> {
        events::published_events(&self.client().await?, event, limit).await
    }
}
