//! The SQLite [`Store`]: one database file in WAL mode, one writer thread with group commit,
//! and a small pool of reader connections.
//!
//! # Writes: one thread, group commit
//!
//! Every mutating method (commit, poll, definition writes, logs, remove) becomes a job sent
//! over a channel to a dedicated OS thread that owns the only write connection (at most
//! `writer::MAX_PENDING_JOBS` pending: a caller past it waits for a slot). The thread
//! blocks for the first job, then drains whatever else is already queued (up to 512 jobs)
//! and runs them all in one `BEGIN IMMEDIATE … COMMIT`.
//! Each job runs inside its own `SAVEPOINT`: a job that fails (a version conflict, a
//! duplicate id) is rolled back alone and the others still commit. Replies are sent only after
//! `COMMIT` has returned, so an `Ok` always means "committed"; if `COMMIT` itself fails, every
//! job of the batch gets the error. Under load many callers share one commit (and, with
//! [`Synchronous::Full`], one fsync), which is where the throughput comes from; with a single
//! caller a batch is one job and latency is one commit.
//!
//! A job that panics is caught and reported as that job's error; the writer carries on. If
//! the writer thread dies anyway, pending and later callers get [`StoreError::Closed`]. When
//! the last [`SqliteStore`] clone is dropped, the channel closes, the writer finishes the
//! batch in hand and exits, and the drop waits for it.
//!
//! # Reads
//!
//! Reads run on `readers` connections (default 4) through `tokio::task::spawn_blocking`. WAL
//! lets them proceed beside the writer, so reads never queue behind writes; each read sees the
//! last committed state. `load_workflow` reads the row and its tasks in one read transaction.
//! The definition an execution runs is stored once per distinct content (`def_snapshots`,
//! keyed by SHA-256 of its JSON) and cached in memory, so loading a workflow does not re-parse
//! it, and committing with the `Arc` it was loaded with does not re-serialise it.
//!
//! Polls of a queue that the last poll drained, and to which nothing was pushed since, first
//! look on a reader whether an entry has become visible, so idle workers polling in a loop
//! cost the writer nothing. Poll data (the `/tasks/queue/polldata` record of who polled
//! last) is written at most once a second per queue and domain. Both records of polls are
//! bounded whatever names workers poll: the in-memory throttle forgets entries older than
//! that second once it holds [`POLL_MARKS_SOFT_CAP`] of them, and the table keeps at most
//! about [`MAX_UNREGISTERED_POLL_DATA`] rows for task types without a registered
//! definition (the least recently polled go first).
//!
//! # Durability
//!
//! The database uses `journal_mode=WAL`.
//! - [`Synchronous::Normal`] (default): a commit is appended to the WAL without fsync. An
//!   acknowledged change survives a crash or `kill -9` of the process (it is in the OS page
//!   cache) but the last commits may be lost on power failure or kernel crash.
//! - [`Synchronous::Full`]: the WAL is fsynced at each commit (one fsync per batch), so an
//!   acknowledged change also survives power loss.
//!
//! WAL checkpoints (copying the WAL back into the database file, with its fsyncs) do not run
//! inside a commit as SQLite's automatic checkpoint would: a checkpointer thread with its own
//! connection does them beside the writer (see `checkpoint.rs`).
//!
//! # Schema and write cost
//!
//! Versioned migrations under `migrations/`, applied at open and tracked by
//! `PRAGMA user_version`; opening a database written by a newer Baton fails with a clear error.
//!
//! Every page a commit dirties is written to the WAL, so the hot statements avoid touching
//! index pages they do not need to: a workflow update sets an indexed column (status, wake-up
//! time, …) only when its value changes, a task is upserted (not replaced) so its indexes stay
//! put, and a wake-up only writes when it moves the time earlier. An attempt's `workflow_id`
//! and `seq` are taken as fixed once written. All connections run with the query planner
//! stability guarantee, so cached statements are never re-planned for new bound values.

mod auth;
pub mod backup;
mod checkpoint;
mod connections;
mod events;
mod migrate;
mod queue;
mod read;
mod schedules;
mod search;
mod store_impl;
mod write;
mod write_defs;
mod writer;

use crate::codec::DefCache;
use crate::{
    Commit, Millis, PollOutcome, PollRequest, Result, Store, StoreError, WorkflowQuery,
    WorkflowState,
};
use async_trait::async_trait;
use baton_model::{HistoryEvent, PollData, Task, TaskDef, TaskExecLog, Workflow, WorkflowDef};
use connections::{open_reader, open_writer, Readers, BUSY_TIMEOUT};
pub use connections::{SqliteOptions, Synchronous};
use parking_lot::Mutex;
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use tokio::sync::Semaphore;
use writer::{BoxJob, QueueHints, WriterCtx};

/// Poll data is rewritten at most this often per queue and domain.
const POLL_DATA_INTERVAL_MS: i64 = 1000;
/// Past this many entries, the poll-data throttle forgets those older than
/// [`POLL_DATA_INTERVAL_MS`] (which it would not consult anyway), or all of them if every
/// one is recent (which only costs a few extra poll-data writes).
pub const POLL_MARKS_SOFT_CAP: usize = 4096;
/// Most `poll_data` rows kept for task types with no registered definition (plus up to
/// `queue::POLL_DATA_TRIM_EVERY` between trims). Registered types are always recorded.
pub const MAX_UNREGISTERED_POLL_DATA: usize = 1024;

/// The SQLite store. Cheap to clone: clones share the writer thread and the readers.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` only while dropping.
    jobs: Option<mpsc::Sender<BoxJob>>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Slots for pending writer jobs (see `writer::MAX_PENDING_JOBS`).
    job_slots: Arc<Semaphore>,
    readers: Arc<Readers>,
    defs: Arc<DefCache>,
    /// (queue, domain) → time of the last poll data written.
    polls_seen: Mutex<HashMap<(String, String), Millis>>,
    hints: Arc<QueueHints>,
    path: PathBuf,
    clock: baton_model::clock::Clock,
    /// Bytes of a task's input, and of its output, that its search document holds.
    task_text_bytes: usize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer after its current batch.
        self.jobs = None;
        if let Some(handle) = self.writer.take() {
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database, then starts the writer thread
    /// and the readers. Synchronous: it does a little blocking I/O, so call it at start-up
    /// (or from `spawn_blocking`). Reads later need a Tokio runtime.
    pub fn open(opts: SqliteOptions) -> Result<SqliteStore> {
        let conn = open_writer(&opts.path, opts.synchronous)?;
        let count = opts.readers.max(1);
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            idle.push(open_reader(&opts.path)?);
        }
        let defs = Arc::new(DefCache::default());
        let checkpointer = checkpoint::Checkpointer::spawn(checkpoint::open_connection(
            &opts.path,
            opts.synchronous,
        )?)
        .map_err(|e| StoreError::Database(format!("cannot start the checkpoint thread: {e}")))?;
        let hints = Arc::new(QueueHints::default());
        let (jobs, handle) = writer::spawn(conn, defs.clone(), hints.clone(), checkpointer)
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                jobs: Some(jobs),
                writer: Some(handle),
                job_slots: Arc::new(Semaphore::new(writer::MAX_PENDING_JOBS)),
                readers: Arc::new(Readers {
                    path: opts.path.clone(),
                    idle: Mutex::new(idle),
                    permits: Arc::new(Semaphore::new(count)),
                }),
                defs,
                polls_seen: Mutex::new(HashMap::new()),
                hints,
                path: opts.path,
                clock: opts.clock,
                task_text_bytes: opts.task_text_bytes,
            }),
        })
    }

    /// [`SqliteStore::open`] with the default options.
    pub fn open_path(path: impl Into<PathBuf>) -> Result<SqliteStore> {
        SqliteStore::open(SqliteOptions::new(path))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the writer thread inside the next batch; resolves once it is committed.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriterCtx) -> Result<T> + Send + 'static,
    {
        self.write_job(f, true).await
    }

    /// [`Self::write`], `savepoint: false` for an operation that fails only before writing
    /// (see `writer::Job::savepoint`).
    async fn write_job<T, F>(&self, f: F, savepoint: bool) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriterCtx) -> Result<T> + Send + 'static,
    {
        let slot = self
            .inner
            .job_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let (job, reply) = writer::job(f, savepoint, slot);
        let jobs = self.inner.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.send(job).map_err(|_| StoreError::Closed)?;
        reply.await.map_err(|_| StoreError::Closed)?
    }

    /// How many (queue, domain) pairs the poll-data throttle remembers (bounded by
    /// [`POLL_MARKS_SOFT_CAP`]); for tests.
    #[doc(hidden)]
    pub fn poll_marks(&self) -> usize {
        self.inner.polls_seen.lock().len()
    }

    /// Runs `f` on a reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &DefCache) -> Result<T> + Send + 'static,
    {
        let readers = self.inner.readers.clone();
        let defs = self.inner.defs.clone();
        let permit = readers
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = readers.take()?;
            let result = f(&conn, &defs);
            readers.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Database(format!("read task failed: {e}")))?
    }

    /// Whether this poll should write the queue's poll data, and notes it as written.
    fn poll_data_due(&self, req: &PollRequest) -> bool {
        let key = (req.queue.clone(), req.domain.clone().unwrap_or_default());
        let mut seen = self.inner.polls_seen.lock();
        if seen.len() >= POLL_MARKS_SOFT_CAP && !seen.contains_key(&key) {
            seen.retain(|_, last| (0..POLL_DATA_INTERVAL_MS).contains(&(req.now - *last)));
            if seen.len() >= POLL_MARKS_SOFT_CAP {
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

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir()
            .join("baton-store-tests")
            .join(format!("{}-unit-{name}.db", std::process::id()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_fails_alone() {
        let path = temp_path("panic");
        let store = SqliteStore::open_path(&path).unwrap();
        let bad = store.write(|_| -> Result<()> { panic!("boom") });
        let good = store.write(|w| {
            write_defs::put_task_defs(&w.conn, vec![TaskDef::named("kept")], 1)?;
            Ok(1)
        });
        let (bad, good) = tokio::join!(bad, good);
        assert!(
            matches!(&bad, Err(StoreError::Database(m)) if m.contains("boom")),
            "{bad:?}"
        );
        assert_eq!(good.unwrap(), 1);
        // The writer lives on.
        store
            .put_task_defs(vec![TaskDef::named("after")])
            .await
            .unwrap();
        assert_eq!(store.list_task_defs().await.unwrap().len(), 2);
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
