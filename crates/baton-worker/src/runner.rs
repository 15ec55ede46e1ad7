//! [`Runner`]: polls the server for each registered task type, runs the tasks on their
//! workers within each type's concurrency, reports results, and shuts down within a deadline.
//!
//! Per task type one poll loop asks for as many tasks as it has free slots (one long batch
//! poll), and each task runs in its own tokio task holding a slot. A result goes back with
//! `update-v2`, whose answer may carry the next task of the same type, already claimed for
//! this worker: the slot runs it at once, without a poll in between. While the server is
//! unreachable, polls and result deliveries back off exponentially with jitter and resume by
//! themselves; a result is never dropped for a connection error, only when the shutdown
//! deadline passes (and then it is listed in the [`ShutdownReport`]).

use crate::backoff::Backoff;
use crate::client::Client;
use crate::context::{LogConfig, TaskContext};
use crate::outcome::Outcome;
use crate::worker::Worker;
use baton_model::{Task, TaskResult};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long the runner tries to tell the server about each task it abandons at the deadline.
const ABANDON_REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings of one registered task type.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Most tasks of this type running at once (at least 1).
    pub concurrency: usize,
    /// Poll only this task domain (Conductor `taskToDomain`); `None` polls un-domained tasks.
    pub domain: Option<String>,
    /// How long one long poll waits for a task (the server caps it at 5 s).
    pub poll_wait: Duration,
    /// Send a heartbeat (`extendLease`) every 0.8 × the task's `responseTimeoutSeconds` while
    /// it runs, so long tasks do not time out.
    pub lease_extension: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            concurrency: 1,
            domain: None,
            poll_wait: Duration::from_secs(1),
            lease_extension: true,
        }
    }
}

impl WorkerOptions {
    /// Options with this concurrency and the other defaults.
    pub fn with_concurrency(concurrency: usize) -> Self {
        WorkerOptions {
            concurrency,
            ..WorkerOptions::default()
        }
    }
}

/// Settings shared by every task type of one runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Sent as `workerid` on polls and `workerId` on results (shown in the task).
    pub worker_id: String,
    /// After the shutdown signal: how long running tasks may finish and report.
    pub shutdown_timeout: Duration,
    /// First delay after a failed poll or delivery; doubles up to `backoff_max`.
    pub backoff_initial: Duration,
    /// Longest delay between attempts while the server is unreachable.
    pub backoff_max: Duration,
    /// Task log shipping.
    pub log: LogConfig,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            worker_id: default_worker_id(),
            shutdown_timeout: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            log: LogConfig::default(),
        }
    }
}

/// The host name (as the official SDKs use), or `baton-worker` if it cannot be read.
pub fn default_worker_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "baton-worker".to_string())
}

/// Where a task was when the shutdown deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbandonedAt {
    /// Its worker was still running; the work was dropped (a command's process group killed).
    Executing,
    /// Its result was ready but the server could not be reached to take it.
    Reporting,
}

/// A task the runner gave up at the shutdown deadline.
#[derive(Debug, Clone)]
pub struct AbandonedTask {
    /// The task's type.
    pub task_type: String,
    /// The task attempt's id.
    pub task_id: String,
    /// Its workflow.
    pub workflow_id: String,
    /// What was still going on.
    pub at: AbandonedAt,
    /// True if the server took a FAILED result for it (so it is retried at once instead of
    /// after its response timeout).
    pub failure_reported: bool,
}

/// What [`Runner::run`] did, returned when it has stopped.
#[derive(Debug, Clone, Default)]
pub struct ShutdownReport {
    /// Results the server acknowledged.
    pub results_delivered: u64,
    /// Tasks given up at the shutdown deadline.
    pub abandoned: Vec<AbandonedTask>,
}

struct Registration {
    task_type: String,
    options: WorkerOptions,
    worker: Arc<dyn Worker>,
}

/// Runs workers against a server. Build it, [`register`](Runner::register) a worker per
/// task type, then [`run`](Runner::run) it until a shutdown signal.
///
/// ```no_run
/// use baton_worker::{worker_fn, Client, Outcome, Runner, WorkerOptions};
/// # async fn demo() -> Result<(), baton_worker::ClientError> {
/// let runner = Runner::new(Client::new("http://localhost:8080")?).register(
///     "greet",
///     WorkerOptions::with_concurrency(4),
///     worker_fn(|task, _ctx| async move { Outcome::completed(task.input_data) }),
/// );
/// let report = runner.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
/// println!("abandoned: {:?}", report.abandoned);
/// # Ok(()) }
/// ```
pub struct Runner {
    client: Client,
    config: RunnerConfig,
    workers: Vec<Arc<Registration>>,
}

struct Shared {
    client: Client,
    config: RunnerConfig,
    /// The shutdown signal came: no more polls, results go by plain update.
    stopping: CancellationToken,
    /// The shutdown deadline passed: drop what runs, report it abandoned.
    hard_stop: CancellationToken,
    tracker: TaskTracker,
    delivered: AtomicU64,
    abandoned: Mutex<Vec<AbandonedTask>>,
}

impl Runner {
    /// A runner with the default [`RunnerConfig`] and no workers.
    pub fn new(client: Client) -> Self {
        Runner {
            client,
            config: RunnerConfig::default(),
            workers: Vec::new(),
        }
    }

    /// Replaces the runner's settings.
    pub fn config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs `worker` for tasks of `task_type`.
    pub fn register(
        self,
        task_type: impl Into<String>,
        options: WorkerOptions,
        worker: impl Worker,
    ) -> Self {
        self.register_arc(task_type, options, Arc::new(worker))
    }

    /// Like [`Runner::register`] with a shared worker (one value serving several types).
    pub fn register_arc(
        mut self,
        task_type: impl Into<String>,
        options: WorkerOptions,
        worker: Arc<dyn Worker>,
    ) -> Self {
        self.workers.push(Arc::new(Registration {
            task_type: task_type.into(),
            options,
            worker,
        }));
        self
    }

    /// Polls and works until `shutdown` resolves, then stops polling, lets running tasks
    /// finish and report for up to [`RunnerConfig::shutdown_timeout`], drops the rest (each
    /// reported FAILED to the server when it can be reached, so it is retried at once) and
    /// says what it abandoned.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> ShutdownReport {
        let shared = Arc::new(Shared {
            client: self.client,
            config: self.config,
            stopping: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            tracker: TaskTracker::new(),
            delivered: AtomicU64::new(0),
            abandoned: Mutex::new(Vec::new()),
        });
        let mut pollers = JoinSet::new();
        for reg in &self.workers {
            tracing::info!(task_type = %reg.task_type, concurrency = reg.options.concurrency,
                domain = ?reg.options.domain, worker_id = %shared.config.worker_id, "polling");
            pollers.spawn(poll_loop(shared.clone(), reg.clone()));
        }
        shutdown.await;
        let now = tokio::time::Instant::now();
        // A deadline too far to represent means "wait for everything".
        let deadline = now
            .checked_add(shared.config.shutdown_timeout)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        shared.stopping.cancel();
        tracing::info!(
            timeout = ?shared.config.shutdown_timeout,
            "shutting down: no more polls; waiting for running tasks"
        );
        // A poll in flight is let finish (it is short): what it claimed is ours to run.
        let drained = tokio::time::timeout_at(deadline, async {
            while pollers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            pollers.abort_all();
        }
        shared.tracker.close();
        if tokio::time::timeout_at(deadline, shared.tracker.wait())
            .await
            .is_err()
        {
            shared.hard_stop.cancel();
            let _ = tokio::time::timeout(
                ABANDON_REPORT_TIMEOUT + Duration::from_secs(1),
                shared.tracker.wait(),
            )
            .await;
        }
        let abandoned =
            std::mem::take(&mut *shared.abandoned.lock().unwrap_or_else(|e| e.into_inner()));
        for a in &abandoned {
            tracing::warn!(task_type = %a.task_type, task = %a.task_id, workflow = %a.workflow_id,
                at = ?a.at, failure_reported = a.failure_reported,
                "abandoned at the shutdown deadline");
        }
        ShutdownReport {
            results_delivered: shared.delivered.load(Ordering::Relaxed),
            abandoned,
        }
    }
}

fn backoff(config: &RunnerConfig) -> Backoff {
    Backoff::new(config.backoff_initial, config.backoff_max)
}

async fn poll_loop(shared: Arc<Shared>, reg: Arc<Registration>) {
    let slots = Arc::new(Semaphore::new(
        reg.options.concurrency.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let mut backoff = backoff(&shared.config);
    loop {
        let first = tokio::select! {
            biased;
            _ = shared.stopping.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let mut permits = vec![first];
        while let Ok(p) = slots.clone().try_acquire_owned() {
            permits.push(p);
        }
        let polled = shared
            .client
            .batch_poll(
                &reg.task_type,
                &shared.config.worker_id,
                reg.options.domain.as_deref(),
                permits.len(),
                reg.options.poll_wait,
            )
            .await;
        match polled {
            Ok(tasks) => {
                if backoff.attempts() > 0 {
                    tracing::info!(task_type = %reg.task_type, "server reachable again; polling");
                }
                backoff.reset();
                for task in tasks {
                    // The server never hands out more than asked; should it, the task is run
                    // all the same (it is claimed for us), just without a slot.
                    let permit = permits.pop();
                    shared
                        .tracker
                        .spawn(run_slot(shared.clone(), reg.clone(), task, permit));
                }
            }
            Err(e) => {
                drop(permits);
                let delay = backoff.next_delay();
                if e.is_retryable() && backoff.attempts() > 1 {
                    tracing::debug!(task_type = %reg.task_type, error = %e, ?delay, "poll failed again");
                } else {
                    tracing::warn!(task_type = %reg.task_type, error = %e, ?delay, "poll failed; backing off");
                }
                tokio::select! {
                    _ = shared.stopping.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// One slot: runs a task, then every next task `update-v2` hands back.
async fn run_slot(
    shared: Arc<Shared>,
    reg: Arc<Registration>,
    task: Task,
    _slot: Option<OwnedSemaphorePermit>,
) {
    let mut next = Some(task);
    while let Some(task) = next.take() {
        next = run_one(&shared, &reg, task).await;
    }
}

/// Aborts the spawned task when dropped: a worker future is cancelled with its slot.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string()),
        Err(e) => e.to_string(),
    }
}

/// Runs one task and delivers its result; returns the next task if `update-v2` gave one.
async fn run_one(shared: &Arc<Shared>, reg: &Registration, task: Task) -> Option<Task> {
    let worker_id = shared.config.worker_id.clone();
    let ctx = TaskContext::new(
        shared.client.clone(),
        &task,
        &worker_id,
        shared.config.log.clone(),
    );
    let heartbeat = (reg.options.lease_extension && task.response_timeout_seconds > 0).then(|| {
        Duration::from_millis(
            u64::try_from(task.response_timeout_seconds.saturating_mul(800)).unwrap_or(u64::MAX),
        )
        .max(Duration::from_secs(1))
    });
    let done = CancellationToken::new();
    let mut flusher = AbortOnDrop(tokio::spawn({
        let ctx = ctx.clone();
        let done = done.clone();
        async move { ctx.run_flusher(heartbeat, done).await }
    }));
    let mut exec = AbortOnDrop(tokio::spawn({
        let worker = reg.worker.clone();
        let (task, ctx) = (task.clone(), ctx.clone());
        async move { worker.execute(task, ctx).await }
    }));
    let outcome = tokio::select! {
        r = &mut exec.0 => match r {
            Ok(o) => o,
            Err(e) => Outcome::failed(format!("worker panicked: {}", panic_message(e))),
        },
        _ = shared.hard_stop.cancelled() => {
            drop(exec);
            drop(flusher);
            let reason = format!(
                "worker {worker_id} shut down before the task finished (shutdown deadline {:?})",
                shared.config.shutdown_timeout
            );
            let result = Outcome::failed(reason).into_result(&task, &worker_id, ctx.take_pending());
            abandon(shared, &reg.task_type, &task, AbandonedAt::Executing, Some(result)).await;
            return None;
        }
    };
    drop(exec);
    done.cancel();
    tokio::select! {
        _ = &mut flusher.0 => {}
        _ = shared.hard_stop.cancelled() => {}
    }
    let result = outcome.into_result(&task, &worker_id, ctx.take_pending());
    deliver(shared, &reg.task_type, &task, result).await
}

/// Sends a result until the server takes it (backing off while it is unreachable) or the
/// shutdown deadline passes.
async fn deliver(
    shared: &Arc<Shared>,
    task_type: &str,
    task: &Task,
    result: TaskResult,
) -> Option<Task> {
    let mut backoff = backoff(&shared.config);
    loop {
        // After the shutdown signal no new task may come back with the answer.
        let sent = if shared.stopping.is_cancelled() {
            shared.client.update(&result).await.map(|()| None)
        } else {
            shared.client.update_v2(&result).await
        };
        match sent {
            Ok(next) => {
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                if backoff.attempts() > 0 {
                    tracing::info!(task = %task.task_id, "result delivered after the server came back");
                }
                return next;
            }
            Err(e) if e.is_retryable() => {
                let delay = backoff.next_delay();
                tracing::warn!(task = %task.task_id, error = %e, ?delay, "result not delivered yet; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shared.hard_stop.cancelled() => {
                        abandon(shared, task_type, task, AbandonedAt::Reporting, None).await;
                        return None;
                    }
                }
            }
            Err(e) => {
                // 404: the server does not know the task (any more); 400: it refuses the
                // result. Retrying cannot help.
                tracing::error!(task = %task.task_id, error = %e, "the server refused the result; dropped");
                return None;
            }
        }
    }
}

async fn abandon(
    shared: &Arc<Shared>,
    task_type: &str,
    task: &Task,
    at: AbandonedAt,
    failure: Option<TaskResult>,
) {
    let failure_reported = match failure {
        Some(r) => matches!(
            tokio::time::timeout(ABANDON_REPORT_TIMEOUT, shared.client.update(&r)).await,
            Ok(Ok(()))
        ),
        None => false,
    };
    shared
        .abandoned
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(AbandonedTask {
            task_type: task_type.to_string(),
            task_id: task.task_id.clone(),
            workflow_id: task.workflow_instance_id.clone(),
            at,
            failure_reported,
        });
}
