//! [`TaskContext`]: what a running task can do besides returning its outcome: append to its
//! log, extend its lease. Log lines are buffered and shipped in batches by a companion
//! loop (the "flusher") that runs beside each execution; each batch travels as an
//! `extendLease` update, so shipping logs also keeps the lease alive.

use crate::client::Client;
use baton_model::{Task, TaskExecLog, TaskResult, TaskResultStatus};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Limits and rhythm of log shipping and lease extension for one task.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Buffered lines are shipped at least this often.
    pub flush_interval: Duration,
    /// Most bytes of log lines in one shipment (keep it well under the server's body limit).
    pub max_batch_bytes: usize,
    /// Most bytes of lines waiting to be shipped; [`TaskContext::log`] waits while more are
    /// pending (back-pressure instead of unbounded memory).
    pub max_pending_bytes: usize,
    /// Longer lines are cut into pieces of this many bytes.
    pub max_line_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            flush_interval: Duration::from_millis(250),
            max_batch_bytes: 512 * 1024,
            max_pending_bytes: 4 * 1024 * 1024,
            max_line_bytes: 64 * 1024,
        }
    }
}

#[derive(Default)]
struct Pending {
    lines: VecDeque<TaskExecLog>,
    bytes: usize,
}

struct Shared {
    client: Client,
    task_id: String,
    workflow_id: String,
    worker_id: String,
    config: LogConfig,
    pending: Mutex<Pending>,
    /// A line arrived (wakes the flusher) or a batch left (wakes waiting writers).
    changed: Notify,
    drained: Notify,
    last_contact: Mutex<Instant>,
}

/// Handle given to a worker with each task: task logs and lease extension. Cheap to clone.
#[derive(Clone)]
pub struct TaskContext {
    shared: Arc<Shared>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl TaskContext {
    pub(crate) fn new(client: Client, task: &Task, worker_id: &str, config: LogConfig) -> Self {
        TaskContext {
            shared: Arc::new(Shared {
                client,
                task_id: task.task_id.clone(),
                workflow_id: task.workflow_instance_id.clone(),
                worker_id: worker_id.to_string(),
                config,
                pending: Mutex::new(Pending::default()),
                changed: Notify::new(),
                drained: Notify::new(),
                last_contact: Mutex::new(Instant::now()),
            }),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The id of the task this context belongs to.
    pub fn task_id(&self) -> &str {
        &self.shared.task_id
    }

    /// Appends `line` to the task's execution log (`GET /api/tasks/{id}/log`). Lines are
    /// shipped in order, in batches, while the task runs; what is left goes with the result.
    /// Waits while [`LogConfig::max_pending_bytes`] are already waiting to be shipped. A line
    /// longer than [`LogConfig::max_line_bytes`] becomes several entries.
    pub async fn log(&self, line: impl Into<String>) {
        let line = line.into();
        let max = self.shared.config.max_line_bytes.max(16);
        let mut rest = line.as_str();
        loop {
            let mut cut = rest.len().min(max);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (piece, tail) = rest.split_at(cut);
            self.push(piece.to_string()).await;
            if tail.is_empty() {
                break;
            }
            rest = tail;
        }
    }

    async fn push(&self, line: String) {
        loop {
            let drained = self.shared.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let mut p = self.pending();
                if p.bytes == 0 || p.bytes + line.len() <= self.shared.config.max_pending_bytes {
                    p.bytes += line.len();
                    p.lines.push_back(TaskExecLog {
                        log: line,
                        task_id: Some(self.shared.task_id.clone()),
                        created_time: now_ms(),
                    });
                    drop(p);
                    self.shared.changed.notify_one();
                    return;
                }
            }
            drained.await;
        }
    }

    /// Tells the server the task is still being worked on: restarts its response timeout
    /// (`extendLease`), and ships the log lines waiting. The runner does this by itself every
    /// 0.8 × `responseTimeoutSeconds` unless lease extension is turned off.
    ///
    /// # Errors
    /// [`crate::ClientError`] when the server cannot be reached; the lines stay queued.
    pub async fn extend_lease(&self) -> Result<(), crate::ClientError> {
        self.ship(true).await
    }

    /// Ships one batch of pending lines (or a bare heartbeat when `heartbeat` is set and no
    /// line waits). Lines leave the buffer only once the server took them.
    async fn ship(&self, heartbeat: bool) -> Result<(), crate::ClientError> {
        let (batch, bytes) = {
            let p = self.pending();
            let mut bytes = 0usize;
            let mut batch = Vec::new();
            for l in &p.lines {
                if !batch.is_empty() && bytes + l.log.len() > self.shared.config.max_batch_bytes {
                    break;
                }
                bytes += l.log.len();
                batch.push(l.clone());
            }
            (batch, bytes)
        };
        if batch.is_empty() && !heartbeat {
            return Ok(());
        }
        let n = batch.len();
        let mut r = TaskResult::new(
            &self.shared.workflow_id,
            &self.shared.task_id,
            TaskResultStatus::InProgress,
        );
        r.extend_lease = true;
        r.worker_id = Some(self.shared.worker_id.clone());
        r.logs = batch;
        self.shared.client.update(&r).await?;
        {
            let mut p = self.pending();
            let n = n.min(p.lines.len());
            p.lines.drain(..n);
            p.bytes = p.bytes.saturating_sub(bytes);
        }
        *self
            .shared
            .last_contact
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.shared.drained.notify_waiters();
        Ok(())
    }

    /// Everything not shipped yet, for the final result.
    pub(crate) fn take_pending(&self) -> Vec<TaskExecLog> {
        let mut p = self.pending();
        p.bytes = 0;
        let lines = std::mem::take(&mut p.lines).into();
        drop(p);
        self.shared.drained.notify_waiters();
        lines
    }

    /// The companion loop of one execution: ships lines every flush interval and sends a
    /// heartbeat every `heartbeat` (if any) since the last contact. It stops between two
    /// shipments once `done` is cancelled, never in the middle of one, so no line is both
    /// shipped and handed back by [`TaskContext::take_pending`].
    pub(crate) async fn run_flusher(&self, heartbeat: Option<Duration>, done: CancellationToken) {
        let interval = self
            .shared
            .config
            .flush_interval
            .max(Duration::from_millis(10));
        loop {
            let wait = {
                let has_lines = !self.pending().lines.is_empty();
                let since = self
                    .shared
                    .last_contact
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .elapsed();
                let to_heartbeat = heartbeat.map(|h| h.saturating_sub(since));
                match (has_lines, to_heartbeat) {
                    (true, Some(h)) => h.min(interval),
                    (true, None) => interval,
                    (false, Some(h)) => h,
                    (false, None) => Duration::from_secs(3600),
                }
            };
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                // A first line after an idle spell: wait one interval to gather company.
                _ = self.shared.changed.notified(), if wait > interval => continue,
            }
            let since = self
                .shared
                .last_contact
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed();
            let beat = heartbeat.is_some_and(|h| since >= h);
            if let Err(e) = self.ship(beat).await {
                tracing::debug!(task = %self.shared.task_id, error = %e, "could not ship task log lines yet");
            }
        }
    }
}
