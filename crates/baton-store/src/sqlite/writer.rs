//! The writer thread: owns the only write connection and commits operations in groups.

use super::checkpoint::Checkpointer;
use crate::codec::DefCache;
use crate::{Result, StoreError};
use rusqlite::Connection;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

/// Most operations committed in one transaction.
pub(crate) const MAX_BATCH: usize = 512;

/// Most operations submitted and not yet finished (queued or in the running batch). A caller
/// past it waits (asynchronously) for a slot: back-pressure from the writer to the request
/// handlers instead of an unbounded queue. Sixteen full batches, so group commits stay large.
pub(crate) const MAX_PENDING_JOBS: usize = 16 * MAX_BATCH;

/// What an operation sees while it runs: the write connection (inside the batch transaction
/// and the operation's own savepoint) and the writer's caches.
pub(crate) struct WriterCtx {
    pub conn: Connection,
    pub defs: Arc<DefCache>,
    pub hints: Arc<QueueHints>,
    checkpointer: Checkpointer,
    /// Snapshot hashes known to be committed to `def_snapshots`.
    known_snapshots: HashSet<String>,
    /// Snapshots written by the running operation (forgotten if it rolls back).
    op_snapshots: Vec<String>,
    /// Snapshots written by the operations of this batch that succeeded.
    batch_snapshots: Vec<String>,
    /// Poll data rows written for unregistered task types since the last trim.
    pub unregistered_polls: std::cell::Cell<usize>,
}

impl WriterCtx {
    /// Whether the snapshot `hash` is certainly in `def_snapshots` already.
    pub fn snapshot_known(&self, hash: &str) -> bool {
        self.known_snapshots.contains(hash)
    }

    /// Records that the running operation made sure `hash` exists.
    pub fn snapshot_written(&mut self, hash: String) {
        self.op_snapshots.push(hash);
    }
}

/// Queues that may hold a claimable entry: marked by every push, cleared by a poll that
/// found fewer entries than it asked for. Only a hint for the empty-poll fast path.
#[derive(Default)]
pub(crate) struct QueueHints {
    ready: parking_lot::Mutex<HashSet<String>>,
}

impl QueueHints {
    pub fn pushed(&self, queue: &str) {
        let mut ready = self.ready.lock();
        if !ready.contains(queue) {
            ready.insert(queue.to_string());
        }
    }

    pub fn drained(&self, queue: &str) {
        self.ready.lock().remove(queue);
    }

    pub fn may_have_work(&self, queue: &str) -> bool {
        self.ready.lock().contains(queue)
    }
}

/// One queued operation. `run` executes it inside its savepoint; `finish` replies once the
/// batch transaction has committed (or failed).
pub(crate) trait Job: Send {
    /// Returns whether the operation succeeded (a failed one is rolled back to its savepoint).
    fn run(&mut self, ctx: &mut WriterCtx) -> bool;
    /// `batch_error`: the batch as a whole failed to commit.
    fn finish(self: Box<Self>, batch_error: Option<&str>);
    /// Whether the operation needs its own savepoint. One that does not must write nothing
    /// when it fails; if it fails after writing anyway, the whole batch is abandoned.
    fn savepoint(&self) -> bool {
        true
    }
}

pub(crate) type BoxJob = Box<dyn Job>;

struct TypedJob<T, F> {
    f: Option<F>,
    savepoint: bool,
    out: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
    /// The job's slot under [`MAX_PENDING_JOBS`], freed when the job is dropped (after its
    /// reply), even if the caller stopped waiting.
    _slot: OwnedSemaphorePermit,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&mut WriterCtx) -> Result<T> + Send,
{
    fn run(&mut self, ctx: &mut WriterCtx) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let result = match catch_unwind(AssertUnwindSafe(|| f(ctx))) {
            Ok(r) => r,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %msg, "store write operation panicked");
                Err(StoreError::Database(format!(
                    "write operation panicked: {msg}"
                )))
            }
        };
        let ok = result.is_ok();
        self.out = Some(result);
        ok
    }

    fn finish(self: Box<Self>, batch_error: Option<&str>) {
        let result = match (self.out, batch_error) {
            // An operation that failed on its own reports its own error.
            (Some(Err(e)), _) => Err(e),
            (_, Some(e)) => Err(StoreError::Database(e.to_string())),
            (Some(Ok(v)), None) => Ok(v),
            (None, None) => Err(StoreError::Database("operation was not run".into())),
        };
        // The caller may have gone away (cancelled request); the change stands regardless.
        let _ = self.reply.send(result);
    }

    fn savepoint(&self) -> bool {
        self.savepoint
    }
}

/// Wraps a closure as a job and returns the receiver of its reply. `savepoint: false` only
/// for a closure that checks everything that can be expected to fail before its first write
/// (see [`Job::savepoint`]).
pub(crate) fn job<T, F>(
    f: F,
    savepoint: bool,
    slot: OwnedSemaphorePermit,
) -> (BoxJob, oneshot::Receiver<Result<T>>)
where
    T: Send + 'static,
    F: FnOnce(&mut WriterCtx) -> Result<T> + Send + 'static,
{
    let (reply, rx) = oneshot::channel();
    let job = TypedJob {
        f: Some(f),
        savepoint,
        out: None,
        reply,
        _slot: slot,
    };
    (Box::new(job), rx)
}

/// Starts the writer thread. It runs until every sender is dropped.
pub(crate) fn spawn(
    conn: Connection,
    defs: Arc<DefCache>,
    hints: Arc<QueueHints>,
    checkpointer: Checkpointer,
) -> std::io::Result<(mpsc::Sender<BoxJob>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<BoxJob>();
    let ctx = WriterCtx {
        conn,
        defs,
        hints,
        checkpointer,
        known_snapshots: HashSet::new(),
        op_snapshots: Vec::new(),
        batch_snapshots: Vec::new(),
        unregistered_polls: std::cell::Cell::new(0),
    };
    let handle = std::thread::Builder::new()
        .name("baton-sqlite-writer".into())
        .spawn(move || run(ctx, rx))?;
    Ok((tx, handle))
}

fn run(mut ctx: WriterCtx, rx: mpsc::Receiver<BoxJob>) {
    let mut batch: Vec<BoxJob> = Vec::with_capacity(MAX_BATCH);
    // Blocks for the first operation, then takes whatever else is already waiting.
    while let Ok(first) = rx.recv() {
        batch.push(first);
        let mut yielded = false;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(mpsc::TryRecvError::Empty) if !yielded => {
                    // Let threads about to submit run first: a bigger batch writes each hot
                    // page to the WAL once instead of once per small batch.
                    yielded = true;
                    std::thread::yield_now();
                }
                Err(_) => break,
            }
        }
        run_batch(&mut ctx, &mut batch);
    }
    tracing::debug!("SQLite writer stopped");
}

/// Runs `batch` in one transaction, each job in its own savepoint, then replies to every job.
fn run_batch(ctx: &mut WriterCtx, batch: &mut Vec<BoxJob>) {
    let outcome = execute_batch(ctx, batch);
    match &outcome {
        Ok(()) => {
            let committed = std::mem::take(&mut ctx.batch_snapshots);
            ctx.known_snapshots.extend(committed);
        }
        Err(e) => {
            tracing::error!(error = %e, ops = batch.len(), "SQLite batch failed to commit");
            ctx.batch_snapshots.clear();
            // Leave no transaction open whatever state the connection is in.
            if !ctx.conn.is_autocommit() {
                let _ = ctx.conn.execute_batch("ROLLBACK");
            }
        }
    }
    let batch_error = outcome.err();
    for job in batch.drain(..) {
        job.finish(batch_error.as_deref());
    }
    ctx.checkpointer.after_commit(&ctx.conn);
}

/// Runs a transaction-control statement (cached: these run several times per batch).
fn control(conn: &Connection, sql: &str) -> Result<(), String> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn execute_batch(ctx: &mut WriterCtx, batch: &mut [BoxJob]) -> Result<(), String> {
    control(&ctx.conn, "BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        if !job.savepoint() {
            // No savepoint: a failure is harmless only if the operation wrote nothing.
            let before = ctx.conn.total_changes();
            ctx.op_snapshots.clear();
            let ok = job.run(ctx);
            if ctx.conn.is_autocommit() {
                // An error rolled the whole transaction back.
                return Err("the batch transaction was rolled back".into());
            }
            if ok {
                let written = std::mem::take(&mut ctx.op_snapshots);
                ctx.batch_snapshots.extend(written);
            } else {
                ctx.op_snapshots.clear();
                if ctx.conn.total_changes() != before {
                    return Err("an operation failed after writing; batch abandoned".into());
                }
            }
            continue;
        }
        control(&ctx.conn, "SAVEPOINT op")?;
        ctx.op_snapshots.clear();
        if job.run(ctx) {
            control(&ctx.conn, "RELEASE op")?;
            let written = std::mem::take(&mut ctx.op_snapshots);
            ctx.batch_snapshots.extend(written);
        } else {
            ctx.op_snapshots.clear();
            control(&ctx.conn, "ROLLBACK TO op")?;
            control(&ctx.conn, "RELEASE op")?;
        }
    }
    control(&ctx.conn, "COMMIT")
}
