//! `/api/admin/...`, the event-queue admin routes (`/api/queue/...`), and the environment
//! and secrets reads Conductor's UI makes. Baton handles events as they are published, so
//! it has no listener queues to list, and it keeps no environment variables or secrets:
//! those reads answer empty.

use super::params::{opt, plain, QueryMap};
use super::task_signals::{output_body, parse_status};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use axum::Json;
use baton_model::{Task, TaskResult};
use serde_json::{json, Value};

type ApiResult<T> = Result<T, ApiError>;

/// `GET /api/admin/config`: the server's effective settings, every limit a flag sets that
/// the server holds (the README's limits table names the flags). No secret is listed.
pub async fn config(State(s): State<AppState>) -> Json<Value> {
    let rt = s.runtime.settings();
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "maxBodyBytes": s.config.max_body_bytes,
        "maxConnections": s.config.max_connections,
        "headerReadTimeoutMs": ms(s.config.header_read_timeout),
        "idleTimeoutMs": ms(s.config.idle_timeout),
        "bodyReadTimeoutMs": ms(s.config.body_read_timeout),
        "shutdownTimeoutMs": ms(s.config.shutdown_timeout),
        "maxPollCount": rt.max_poll_count,
        "maxPollTimeoutMs": ms(rt.max_poll_timeout),
        "maxWorkflowDepth": rt.max_workflow_depth,
        "maxLoopIterations": rt.max_loop_iterations,
        "decisionTimeBudgetMs": ms(rt.decision_time_budget),
        "maxForkBranches": rt.max_fork_branches,
        "maxHttpTaskResponseBytes": rt.max_http_task_response_bytes,
        "maxSystemTasksInFlight": rt.max_system_tasks_in_flight,
        "maxTasksPerWorkflow": rt.max_tasks_per_workflow,
        "maxTaskOutputBytes": rt.max_task_output_bytes,
        "maxJsonDepth": baton_model::limits::max_json_depth(),
        "metricsMaxLabelValues": rt.metrics_max_label_values,
        "eventStreamBuffer": rt.change_feed_capacity,
        "sweepClaimMs": ms(rt.sweep_claim),
        "maxBulkIds": rt.max_bulk_ids,
        "maxCorrelatedExecutions": rt.max_correlated_executions,
        "searchByTasksScanLimit": rt.search_by_tasks_scan_limit,
        "searchCountLimit": rt.search_count_limit,
        "maxRequeueTasks": rt.max_requeue_tasks,
        "stateCacheWorkflows": rt.state_cache_workflows,
        "stateCacheBytes": rt.state_cache_bytes,
        "stateCacheIdleMs": ms(rt.state_cache_idle),
    }))
}

/// `GET /api/admin/task/{tasktype}?start=0&count=100`: scheduled and in-progress attempts.
pub async fn pending_tasks(
    State(s): State<AppState>,
    Path(task_type): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Vec<Task>>> {
    let start = opt::<usize>(&q, "start")?.unwrap_or(0);
    let count = opt::<usize>(&q, "count")?.unwrap_or(100);
    if count == 0 || count > 5000 {
        return Err(ApiError::bad_request(format!(
            "query parameter 'count' must be between 1 and 5000, got {count}"
        )));
    }
    Ok(Json(
        s.runtime.pending_tasks(&task_type, start, count).await?,
    ))
}

/// `POST /api/admin/sweep/requeue/{workflowId}`: decides the workflow now; answers
/// `true.<id>` as Conductor does.
pub async fn requeue_sweep(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.runtime.decide(&id).await?;
    Ok(plain(format!("true.{id}")))
}

/// `POST /api/admin/consistency/verifyAndRepair/{workflowId}`: Baton writes state, queue and
/// timers in one transaction, so there is nothing to repair; the workflow is decided once
/// (which re-arms anything due) and the answer is `true`.
pub async fn verify_and_repair(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    s.runtime.decide(&id).await?;
    Ok(plain("true".into()))
}

/// `GET /api/admin/queues?verbose=`, `GET /api/queue/size`, `GET /api/queue/`: no listener
/// queues.
pub async fn event_queues() -> Json<Value> {
    Json(json!({}))
}

/// `POST /api/queue/update/{workflowId}/{taskRefName}/{status}`: the update by reference.
pub async fn update_by_ref(
    State(s): State<AppState>,
    Path((workflow_id, reference, status)): Path<(String, String, String)>,
    req: Request,
) -> ApiResult<()> {
    let status = parse_status(&status)?;
    let output = output_body(req).await?;
    let updated = s
        .runtime
        .update_task_by_ref(&workflow_id, &reference, status, output, None)
        .await?;
    match updated {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!(
            "Found no running task {reference} of workflow {workflow_id} to update"
        ))),
    }
}

/// `POST /api/queue/update/{workflowId}/task/{taskId}/{status}`: the update by task id.
pub async fn update_by_id(
    State(s): State<AppState>,
    Path((workflow_id, task_id, status)): Path<(String, String, String)>,
    req: Request,
) -> ApiResult<()> {
    let status = parse_status(&status)?;
    let output = output_body(req).await?;
    let mut r = TaskResult::new(&workflow_id, &task_id, status);
    r.output_data = Some(output);
    s.runtime.update_task(r).await?;
    Ok(())
}

/// `GET /api/environment`: no variables.
pub async fn environment() -> Json<Value> {
    Json(json!([]))
}

/// `GET /api/environment/{key}`: 404, there are none.
pub async fn environment_variable(Path(key): Path<String>) -> ApiResult<()> {
    Err(ApiError::not_found(format!(
        "Environment variable {key} not found"
    )))
}

/// `GET /api/secrets`: no secrets.
pub async fn secrets() -> Json<Value> {
    Json(json!([]))
}
