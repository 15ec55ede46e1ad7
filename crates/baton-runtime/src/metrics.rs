//! The engine's Prometheus metrics: what happened to workflows, tasks, polls and commits.
//!
//! Recorded at two points of the runtime only: after a commit succeeded (from the history
//! events the commit wrote, so each state change is counted once, whatever path made it)
//! and when a poll returns. Queue depths are read from the store when `/metrics` is scraped
//! ([`Metrics::refresh_queues`]), not tracked here.
//!
//! Label sets stay bounded whatever names clients send: statuses come from the status enums,
//! and task types, workflow names and queue names pass through a [`NameCap`] that maps names
//! past its capacity to [`OTHER_LABEL`]. Ids never become labels.

use baton_model::{HistoryEvent, TaskStatus, WorkflowStatus};
use baton_store::QueueStat;
use parking_lot::Mutex;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::collections::HashSet;
use std::time::Duration;

/// The label value for names past a [`NameCap`]'s capacity.
pub const OTHER_LABEL: &str = "_other";

/// Default capacity of each [`NameCap`] (distinct task types, workflow names, queues).
pub const DEFAULT_MAX_LABEL_VALUES: usize = 500;

/// Remembers up to `cap` distinct names; any other name reads as [`OTHER_LABEL`], so a client
/// inventing names cannot grow the metric series without bound.
struct NameCap {
    cap: usize,
    names: Mutex<HashSet<String>>,
}

impl NameCap {
    fn new(cap: usize) -> Self {
        NameCap {
            cap,
            names: Mutex::new(HashSet::new()),
        }
    }

    fn label<'a>(&self, name: &'a str) -> &'a str {
        let mut names = self.names.lock();
        if names.contains(name) {
            return name;
        }
        if names.len() < self.cap {
            names.insert(name.to_string());
            return name;
        }
        OTHER_LABEL
    }
}

/// Buckets for workflow and task durations: 5 ms to about 3 hours.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0, 10800.0,
];
/// Buckets for commit latency: 100 µs to 5 s.
const COMMIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];
/// Buckets for workflows per commit and long-poll waits (seconds, up to the 5 s maximum).
const COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 512.0];
const POLL_WAIT_BUCKETS: &[f64] = &[0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0];

/// Every metric Baton exports, in one registry (one per server, so tests do not share).
pub struct Metrics {
    registry: Registry,
    task_types: NameCap,
    workflow_names: NameCap,
    workflow_starts: IntCounterVec,
    workflows_ended: IntCounterVec,
    workflow_duration: HistogramVec,
    tasks_ended: IntCounterVec,
    task_retries: IntCounterVec,
    task_timeouts: IntCounterVec,
    task_queue_wait: HistogramVec,
    task_run_time: HistogramVec,
    poll_requests: IntCounterVec,
    poll_queries: IntCounterVec,
    poll_tasks: IntCounterVec,
    poll_wait: HistogramVec,
    queue_depth: IntGaugeVec,
    queue_oldest_age: prometheus::GaugeVec,
    commit_seconds: Histogram,
    commit_workflows: Histogram,
    commit_failures: IntCounterVec,
    workflows_running: IntGaugeVec,
    oldest_running_age: prometheus::GaugeVec,
    label_overflow: IntCounterVec,
    state_cache: IntGaugeVec,
    state_cache_evictions: IntCounterVec,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
}

/// What one commit's history says happened, gathered before the commit takes the history
/// and recorded only after it succeeded.
#[derive(Default)]
pub(crate) struct CommitObservation {
    starts: Vec<String>,
    /// (workflow name, status, duration)
    workflows_ended: Vec<(String, WorkflowStatus, Option<Duration>)>,
    /// (task type, status, run time)
    tasks_ended: Vec<(String, TaskStatus, Option<Duration>)>,
    /// task types of new attempts that retry an earlier one
    retries: Vec<String>,
}

fn millis(from: i64, to: i64) -> Option<Duration> {
    (from > 0 && to >= from).then(|| Duration::from_millis((to - from) as u64))
}

impl CommitObservation {
    /// Reads the decided state `st` (before its history is moved into the write).
    pub(crate) fn add(&mut self, st: &baton_engine::ExecState) {
        let w = &st.workflow;
        if st.version.is_none() {
            self.starts.push(w.workflow_name.clone());
        }
        for ev in &st.history {
            self.add_event(st, ev);
        }
    }

    fn add_event(&mut self, st: &baton_engine::ExecState, ev: &HistoryEvent) {
        let w = &st.workflow;
        if ev.entity == "WORKFLOW" {
            if let Some(status) = WorkflowStatus::parse(&ev.status).filter(|s| s.is_terminal()) {
                let duration = millis(w.start_time.max(w.create_time), ev.time);
                self.workflows_ended
                    .push((w.workflow_name.clone(), status, duration));
            }
            return;
        }
        let Some(task) = ev
            .task_id
            .as_deref()
            .and_then(|id| st.find_task(id))
            .map(|i| &st.tasks[i])
        else {
            return;
        };
        let Some(status) = TaskStatus::parse(&ev.status) else {
            return;
        };
        if status.is_terminal() {
            let end = if task.end_time > 0 {
                task.end_time
            } else {
                ev.time
            };
            self.tasks_ended
                .push((task.task_type.clone(), status, millis(task.start_time, end)));
        } else if status == TaskStatus::Scheduled && task.retry_count > 0 {
            self.retries.push(task.task_type.clone());
        }
    }
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("static histogram definition");
    registry
        .register(Box::new(h.clone()))
        .expect("metric registered once");
    h
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static counter definition");
    registry
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

impl Metrics {
    /// A fresh registry with every engine metric and `baton_build_info`. `max_label_values`
    /// bounds the distinct task types, workflow names and queue names each kept as labels.
    pub fn new(max_label_values: usize, backend: &str) -> Self {
        let r = Registry::new();
        let storage = IntGaugeVec::new(
            Opts::new(
                "baton_storage_info",
                "Always 1; labels name the storage backend and its tier (1 = PostgreSQL, 2 = embedded SQLite).",
            ),
            &["backend", "tier"],
        )
        .expect("static gauge definition");
        r.register(Box::new(storage.clone()))
            .expect("registered once");
        let tier = if backend == "postgres" { "1" } else { "2" };
        storage.with_label_values(&[backend, tier]).set(1);
        let build = IntGaugeVec::new(
            Opts::new("baton_build_info", "Always 1; labels name the build."),
            &["version"],
        )
        .expect("static gauge definition");
        r.register(Box::new(build.clone()))
            .expect("registered once");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "baton_queue_depth",
                "Task queue entries per queue (task type, or domain:type), read at scrape.",
            ),
            &["queue"],
        )
        .expect("static gauge definition");
        r.register(Box::new(queue_depth.clone()))
            .expect("registered once");
        let queue_oldest_age = prometheus::GaugeVec::new(
            Opts::new(
                "baton_queue_oldest_age_seconds",
                "Age of the oldest entry of a queue that a worker could claim now, read at scrape.",
            ),
            &["queue"],
        )
        .expect("static gauge definition");
        r.register(Box::new(queue_oldest_age.clone()))
            .expect("registered once");
        let workflows_running = IntGaugeVec::new(
            Opts::new(
                "baton_workflows_running",
                "Workflows in status RUNNING or PAUSED, read at scrape.",
            ),
            &["workflow"],
        )
        .expect("static gauge definition");
        r.register(Box::new(workflows_running.clone()))
            .expect("registered once");
        let oldest_running_age = prometheus::GaugeVec::new(
            Opts::new(
                "baton_workflow_oldest_running_age_seconds",
                "Age of the oldest RUNNING or PAUSED execution of a workflow, read at scrape.",
            ),
            &["workflow"],
        )
        .expect("static gauge definition");
        r.register(Box::new(oldest_running_age.clone()))
            .expect("registered once");
        let commit_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "baton_commit_seconds",
                "Latency of one engine commit to the store.",
            )
            .buckets(COMMIT_BUCKETS.to_vec()),
        )
        .expect("static histogram definition");
        r.register(Box::new(commit_seconds.clone()))
            .expect("registered once");
        let commit_workflows = Histogram::with_opts(
            HistogramOpts::new(
                "baton_commit_workflows",
                "Workflow states written by one engine commit.",
            )
            .buckets(COUNT_BUCKETS.to_vec()),
        )
        .expect("static histogram definition");
        r.register(Box::new(commit_workflows.clone()))
            .expect("registered once");
        let state_cache = IntGaugeVec::new(
            Opts::new(
                "baton_state_cache",
                "Workflow states this node keeps in memory (what=workflows) and their estimated size (what=bytes), read at scrape.",
            ),
            &["what"],
        )
        .expect("static gauge definition");
        r.register(Box::new(state_cache.clone()))
            .expect("registered once");
        Metrics {
            task_types: NameCap::new(max_label_values),
            workflow_names: NameCap::new(max_label_values),
            workflow_starts: counter_vec(&r, "baton_workflow_starts_total", "Workflows started.", &["workflow"]),
            workflows_ended: counter_vec(
                &r,
                "baton_workflows_ended_total",
                "Workflows that reached a terminal status.",
                &["workflow", "status"],
            ),
            workflow_duration: histogram_vec(
                &r,
                "baton_workflow_duration_seconds",
                "Start to terminal status, per workflow name.",
                &["workflow"],
                DURATION_BUCKETS,
            ),
            tasks_ended: counter_vec(
                &r,
                "baton_tasks_ended_total",
                "Task attempts that reached a terminal status.",
                &["task_type", "status"],
            ),
            task_retries: counter_vec(&r, "baton_task_retries_total", "Task attempts scheduled as retries of a failed or timed-out one.", &["task_type"]),
            task_timeouts: counter_vec(&r, "baton_task_timeouts_total", "Task attempts that timed out.", &["task_type"]),
            task_queue_wait: histogram_vec(
                &r,
                "baton_task_queue_wait_seconds",
                "Scheduled to claimed by a worker.",
                &["task_type"],
                DURATION_BUCKETS,
            ),
            task_run_time: histogram_vec(
                &r,
                "baton_task_run_seconds",
                "Claimed (started) to terminal status.",
                &["task_type"],
                DURATION_BUCKETS,
            ),
            poll_requests: counter_vec(
                &r,
                "baton_poll_requests_total",
                "Worker polls, by whether they got tasks (result=tasks) or not (result=empty).",
                &["task_type", "result"],
            ),
            poll_queries: counter_vec(
                &r,
                "baton_poll_queries_total",
                "Claims polls ran against the store (a long poll runs one when it starts and one per wake-up), by whether they found tasks.",
                &["task_type", "result"],
            ),
            poll_tasks: counter_vec(&r, "baton_poll_tasks_total", "Tasks handed out by polls.", &["task_type"]),
            poll_wait: histogram_vec(
                &r,
                "baton_poll_wait_seconds",
                "How long a poll waited (long poll) before it answered.",
                &["task_type"],
                POLL_WAIT_BUCKETS,
            ),
            commit_failures: counter_vec(
                &r,
                "baton_commit_failures_total",
                "Engine commits that failed (reason=conflict is retried; reason=error is not).",
                &["reason"],
            ),
            label_overflow: counter_vec(
                &r,
                "baton_metrics_label_overflow_total",
                "Observations whose name was past the label cap and counted as _other.",
                &["kind"],
            ),
            state_cache_evictions: counter_vec(
                &r,
                "baton_state_cache_evictions_total",
                "Cached workflow states dropped to stay within a bound (reason=workflows or bytes; a state over the whole byte budget counts under bytes), read at scrape.",
                &["reason"],
            ),
            state_cache,
            http_requests: counter_vec(
                &r,
                "baton_http_requests_total",
                "HTTP requests answered, by method, route template and status code.",
                &["method", "route", "status"],
            ),
            http_duration: histogram_vec(
                &r,
                "baton_http_request_duration_seconds",
                "Time to answer an HTTP request (long polls included), by method and route template.",
                &["method", "route"],
                POLL_WAIT_BUCKETS,
            ),
            queue_depth,
            queue_oldest_age,
            workflows_running,
            oldest_running_age,
            commit_seconds,
            commit_workflows,
            registry: r,
        }
    }

    /// The registry, for the HTTP layer to add its own metrics and to encode.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything in the registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    fn task_label<'a>(&self, name: &'a str) -> &'a str {
        let l = self.task_types.label(name);
        if l == OTHER_LABEL {
            self.label_overflow.with_label_values(&["task_type"]).inc();
        }
        l
    }

    fn workflow_label<'a>(&self, name: &'a str) -> &'a str {
        let l = self.workflow_names.label(name);
        if l == OTHER_LABEL {
            self.label_overflow.with_label_values(&["workflow"]).inc();
        }
        l
    }

    pub(crate) fn committed(&self, obs: CommitObservation, workflows: usize, took: Duration) {
        self.commit_seconds.observe(took.as_secs_f64());
        if workflows > 0 {
            self.commit_workflows.observe(workflows as f64);
        }
        for name in &obs.starts {
            self.workflow_starts
                .with_label_values(&[self.workflow_label(name)])
                .inc();
        }
        for (name, status, duration) in &obs.workflows_ended {
            let label = self.workflow_label(name);
            self.workflows_ended
                .with_label_values(&[label, status.as_str()])
                .inc();
            if let Some(d) = duration {
                self.workflow_duration
                    .with_label_values(&[label])
                    .observe(d.as_secs_f64());
            }
        }
        for (task_type, status, run) in &obs.tasks_ended {
            let label = self.task_label(task_type);
            self.tasks_ended
                .with_label_values(&[label, status.as_str()])
                .inc();
            if *status == TaskStatus::TimedOut {
                self.task_timeouts.with_label_values(&[label]).inc();
            }
            if let Some(d) = run {
                self.task_run_time
                    .with_label_values(&[label])
                    .observe(d.as_secs_f64());
            }
        }
        for task_type in &obs.retries {
            self.task_retries
                .with_label_values(&[self.task_label(task_type)])
                .inc();
        }
    }

    pub(crate) fn commit_failed(&self, conflict: bool) {
        let reason = if conflict { "conflict" } else { "error" };
        self.commit_failures.with_label_values(&[reason]).inc();
    }

    /// A poll of `task_type` answered after `waited` with `tasks` (each claimed at `now`).
    /// One claim a poll ran against the store, and whether it found tasks.
    pub(crate) fn poll_queried(&self, task_type: &str, found: bool) {
        let label = self.task_label(task_type);
        let result = if found { "tasks" } else { "empty" };
        self.poll_queries.with_label_values(&[label, result]).inc();
    }

    pub(crate) fn polled(
        &self,
        task_type: &str,
        tasks: &[baton_model::Task],
        waited: Duration,
        now: i64,
    ) {
        let label = self.task_label(task_type);
        let result = if tasks.is_empty() { "empty" } else { "tasks" };
        self.poll_requests.with_label_values(&[label, result]).inc();
        self.poll_wait
            .with_label_values(&[label])
            .observe(waited.as_secs_f64());
        if tasks.is_empty() {
            return;
        }
        self.poll_tasks
            .with_label_values(&[label])
            .inc_by(tasks.len() as u64);
        let wait = self.task_queue_wait.with_label_values(&[label]);
        for t in tasks {
            let claimed = if t.start_time > 0 { t.start_time } else { now };
            if let Some(d) = millis(t.scheduled_time, claimed) {
                wait.observe(d.as_secs_f64());
            }
        }
    }

    /// Replaces the queue gauges with `stats` (queues that vanished disappear) read at `now`.
    pub fn refresh_queues(&self, stats: &[QueueStat], now: i64) {
        self.queue_depth.reset();
        self.queue_oldest_age.reset();
        for s in stats {
            let label = self.task_label(&s.queue);
            // Several queues past the cap share _other: add up rather than overwrite.
            self.queue_depth.with_label_values(&[label]).add(s.depth);
            let age = s
                .oldest_visible_at
                .map(|at| (now.saturating_sub(at)).max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            let g = self.queue_oldest_age.with_label_values(&[label]);
            if age > g.get() {
                g.set(age);
            }
        }
    }

    /// One answered HTTP request. `route` must be a route template (bounded), never a path.
    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let method = match method {
            "GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "PATCH" | "OPTIONS" => method,
            _ => OTHER_LABEL,
        };
        let code = status.to_string();
        self.http_requests
            .with_label_values(&[method, route, code.as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(took.as_secs_f64());
    }

    /// Sets the state cache's gauges and brings its eviction counters up to `stats`.
    pub(crate) fn refresh_state_cache(&self, stats: crate::StateCacheStats) {
        let gauge = |what: &str, v: usize| {
            self.state_cache
                .with_label_values(&[what])
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        gauge("workflows", stats.workflows);
        gauge("bytes", stats.bytes);
        for (reason, total) in [
            ("workflows", stats.evicted_for_workflows),
            ("bytes", stats.evicted_for_bytes),
            ("idle", stats.evicted_idle),
            ("not_admitted", stats.not_admitted),
        ] {
            let c = self.state_cache_evictions.with_label_values(&[reason]);
            c.inc_by(total.saturating_sub(c.get()));
        }
    }

    /// Replaces the running-workflow gauges with `active` (read from the store at scrape).
    pub fn refresh_active_workflows(&self, active: &[baton_store::ActiveWorkflows], now: i64) {
        self.workflows_running.reset();
        self.oldest_running_age.reset();
        for a in active {
            let label = self.workflow_label(&a.name);
            self.workflows_running
                .with_label_values(&[label])
                .add(a.count);
            let age = (now.saturating_sub(a.oldest_start_time)).max(0) as f64 / 1000.0;
            let g = self.oldest_running_age.with_label_values(&[label]);
            if age > g.get() {
                g.set(age);
            }
        }
    }
}
