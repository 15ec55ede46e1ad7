//! `baton server` flags for the limits on what workflows may do: nesting, loops, JSON depth,
//! fork width, HTTP task responses, system tasks in flight, how long one decision may hold
//! a workflow, and how much of the workflows' state is kept in memory.

use baton_runtime::RuntimeConfig;
use std::time::Duration;

/// Workflow limits (flattened into `baton server`'s flags).
#[derive(clap::Args, Debug)]
pub struct LimitArgs {
    /// Seconds a node's claim on a due workflow keeps the other nodes' sweepers off it (on
    /// PostgreSQL) unless its decision ends the claim sooner: how long the due work of a node
    /// that died mid-decision waits before another node takes it.
    #[arg(long, env = "BATON_SWEEP_CLAIM_SECS",
          default_value_t = RuntimeConfig::DEFAULT_SWEEP_CLAIM.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    sweep_claim_secs: u64,
    /// Deepest chain of workflows started by workflows: sub-workflows within sub-workflows,
    /// failure workflows of failure workflows. A SUB_WORKFLOW past it fails for good.
    #[arg(long, env = "BATON_MAX_WORKFLOW_DEPTH",
          default_value_t = RuntimeConfig::DEFAULT_MAX_WORKFLOW_DEPTH as u64,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    max_workflow_depth: u64,
    /// Most iterations of one DO_WHILE task; the next fails it for good.
    #[arg(long, env = "BATON_MAX_LOOP_ITERATIONS",
          default_value_t = RuntimeConfig::DEFAULT_MAX_LOOP_ITERATIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_loop_iterations: u32,
    /// Wall time in ms one decision may take before it yields (and continues at once as a
    /// new one), so a terminate or update of that workflow gets its turn.
    #[arg(long, env = "BATON_DECISION_TIME_BUDGET_MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    decision_time_budget_ms: u64,
    /// Deepest JSON nesting accepted in request bodies and script results (8 to 1000).
    #[arg(long, env = "BATON_MAX_JSON_DEPTH",
          default_value_t = baton_model::limits::DEFAULT_MAX_JSON_DEPTH as u64,
          value_parser = clap::value_parser!(u64).range(8..=1000))]
    max_json_depth: u64,
    /// Most branches one FORK_JOIN_DYNAMIC may fork; more fail the fork for good
    /// (FAILED_WITH_TERMINAL_ERROR) and nothing is forked.
    #[arg(long, env = "BATON_MAX_FORK_BRANCHES",
          default_value_t = RuntimeConfig::DEFAULT_MAX_FORK_BRANCHES as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_fork_branches: u64,
    /// Most tasks one workflow may hold (retried attempts count; tasks dropped by a loop's
    /// keepLastN do not); a decision that goes over fails the workflow, naming this limit.
    #[arg(long, env = "BATON_MAX_TASKS_PER_WORKFLOW",
          default_value_t = RuntimeConfig::DEFAULT_MAX_TASKS_PER_WORKFLOW as u64,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    max_tasks_per_workflow: u64,
    /// Largest task output a worker may report, in bytes of JSON; a larger one fails the
    /// task for good (FAILED_WITH_TERMINAL_ERROR), naming this limit, and is not stored.
    #[arg(long, env = "BATON_MAX_TASK_OUTPUT_BYTES",
          default_value_t = RuntimeConfig::DEFAULT_MAX_TASK_OUTPUT_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(1..=(1 << 30)))]
    max_task_output_bytes: u64,
    /// Largest response body in bytes an HTTP system task reads; a larger one fails the task
    /// (FAILED, retries apply) with a reason naming this limit.
    #[arg(long, env = "BATON_MAX_HTTP_TASK_RESPONSE_BYTES",
          default_value_t = RuntimeConfig::DEFAULT_MAX_HTTP_TASK_RESPONSE_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(1..=(1 << 30)))]
    max_http_task_response_bytes: u64,
    /// Most system-task executions (HTTP calls, sub-workflow and workflow starts, events)
    /// running at once; the server claims no more than it has room for.
    #[arg(long, env = "BATON_MAX_SYSTEM_TASKS_IN_FLIGHT",
          default_value_t = RuntimeConfig::DEFAULT_MAX_SYSTEM_TASKS_IN_FLIGHT as u64,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_system_tasks_in_flight: u64,
    /// Change records kept for live listeners (`GET /api/events/stream`, the web UI) that
    /// fall behind; a listener further behind gets a `resync` event and re-reads.
    #[arg(long, env = "BATON_EVENT_STREAM_BUFFER",
          default_value_t = RuntimeConfig::DEFAULT_CHANGE_FEED_CAPACITY as u64,
          value_parser = clap::value_parser!(u64).range(16..=1_000_000))]
    event_stream_buffer: u64,
    /// Most distinct task types, workflow names and queue names each kept as metric labels
    /// on `/metrics`; further names are counted under `_other`.
    #[arg(long, env = "BATON_METRICS_MAX_LABEL_VALUES",
          default_value_t = baton_runtime::metrics::DEFAULT_MAX_LABEL_VALUES as u64,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    metrics_max_label_values: u64,
    /// Most ids one bulk call may name (`/api/workflow/bulk/*`, the scheduler's bulk calls)
    /// and most correlation ids one batch lookup may name; more are a 400.
    #[arg(long, env = "BATON_MAX_BULK_IDS",
          default_value_t = RuntimeConfig::DEFAULT_MAX_BULK_IDS as u64,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_bulk_ids: u64,
    /// Most executions a correlation-id lookup lists per correlation id (newest first).
    #[arg(long, env = "BATON_MAX_CORRELATED_EXECUTIONS",
          default_value_t = RuntimeConfig::DEFAULT_MAX_CORRELATED_EXECUTIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_correlated_executions: u64,
    /// Most matching task attempts `search-by-tasks` reads (newest first) to find its
    /// workflows; workflows of older matches are not listed.
    #[arg(long, env = "BATON_SEARCH_BY_TASKS_SCAN_LIMIT",
          default_value_t = RuntimeConfig::DEFAULT_SEARCH_BY_TASKS_SCAN_LIMIT as u64,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    search_by_tasks_scan_limit: u64,
    /// Most matches a search counts for its `totalHits` where it must read them to count
    /// them (task searches; workflow searches by more than type and status); more are
    /// reported as this number. 0 counts every match.
    #[arg(long, env = "BATON_SEARCH_COUNT_LIMIT",
          default_value_t = RuntimeConfig::DEFAULT_SEARCH_COUNT_LIMIT as u64,
          value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    search_count_limit: u64,
    /// Most scheduled tasks one `POST /api/tasks/queue/requeue/{type}` re-pushes.
    #[arg(long, env = "BATON_MAX_REQUEUE_TASKS",
          default_value_t = RuntimeConfig::DEFAULT_MAX_REQUEUE_TASKS as u64,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    max_requeue_tasks: u64,
    /// Most workflows whose last committed state is kept in memory, so their next update
    /// need not read them from the store; past it the least recently committed is dropped.
    #[arg(long, env = "BATON_STATE_CACHE_WORKFLOWS",
          default_value_t = RuntimeConfig::DEFAULT_STATE_CACHE_WORKFLOWS as u64,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    state_cache_workflows: u64,
    /// Most bytes (estimated) of workflow states kept in memory, tasks included; past it the
    /// least recently committed are dropped. A state larger than this alone is not kept, so
    /// each of its updates reads it from the store. 0 keeps none.
    #[arg(long, env = "BATON_STATE_CACHE_BYTES",
          default_value_t = RuntimeConfig::DEFAULT_STATE_CACHE_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(0..=(1 << 40)))]
    state_cache_bytes: u64,
    /// Seconds a cached workflow state may go unused before it is dropped (its next update
    /// reads the store), so workflows waiting for hours hold no memory. 0: kept until a
    /// bound above pushes it out.
    #[arg(long, env = "BATON_STATE_CACHE_IDLE_SECS",
          default_value_t = RuntimeConfig::DEFAULT_STATE_CACHE_IDLE.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    state_cache_idle_secs: u64,
}

impl LimitArgs {
    /// Copies these flags into `config` and sets the process-wide JSON depth limit.
    pub fn apply(&self, config: &mut RuntimeConfig) {
        // Both are range-checked above, far below usize::MAX.
        config.max_workflow_depth = usize::try_from(self.max_workflow_depth).unwrap_or(usize::MAX);
        config.max_loop_iterations = self.max_loop_iterations;
        config.decision_time_budget = Duration::from_millis(self.decision_time_budget_ms);
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        config.max_fork_branches = size(self.max_fork_branches);
        config.max_tasks_per_workflow = size(self.max_tasks_per_workflow);
        config.max_task_output_bytes = size(self.max_task_output_bytes);
        config.max_http_task_response_bytes = size(self.max_http_task_response_bytes);
        config.max_system_tasks_in_flight = size(self.max_system_tasks_in_flight);
        config.change_feed_capacity = size(self.event_stream_buffer);
        config.metrics_max_label_values = size(self.metrics_max_label_values);
        config.max_bulk_ids = size(self.max_bulk_ids);
        config.max_correlated_executions = size(self.max_correlated_executions);
        config.search_by_tasks_scan_limit = size(self.search_by_tasks_scan_limit);
        config.search_count_limit = size(self.search_count_limit);
        config.max_requeue_tasks = size(self.max_requeue_tasks);
        config.state_cache_workflows = size(self.state_cache_workflows);
        config.state_cache_bytes = size(self.state_cache_bytes);
        config.state_cache_idle = Duration::from_secs(self.state_cache_idle_secs);
        config.sweep_claim = Duration::from_secs(self.sweep_claim_secs);
        baton_model::limits::set_max_json_depth(
            usize::try_from(self.max_json_depth).unwrap_or(usize::MAX),
        );
    }
}
