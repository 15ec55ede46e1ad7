//! `/api/tasks/...`: the worker protocol (poll, update), logs, queues.

use super::params::{opt, plain, text, QueryMap};
use crate::auth::TaskScope;
use crate::error::ApiError;
use crate::extract::{body_error, JsonBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_model::{TaskExecLog, TaskResult};
use indexmap::IndexMap;
use std::time::Duration;

type ApiResult<T> = Result<T, ApiError>;

/// Conductor rejects long polls over 5 s.
const MAX_POLL_TIMEOUT_MS: u64 = 5000;

pub async fn poll_one(
    State(s): State<AppState>,
    scope: TaskScope,
    Path(task_type): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Response> {
    scope.check(&task_type)?;
    let worker = text(&q, "workerid");
    let domain = text(&q, "domain");
    let mut tasks = s
        .runtime
        .poll(
            &task_type,
            worker.as_deref(),
            domain.as_deref(),
            1,
            Duration::from_millis(100),
        )
        .await?;
    Ok(match tasks.pop() {
        Some(t) => Json(t).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

pub async fn poll_batch(
    State(s): State<AppState>,
    scope: TaskScope,
    Path(task_type): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Response> {
    scope.check(&task_type)?;
    let worker = text(&q, "workerid");
    let domain = text(&q, "domain");
    let count = opt::<i64>(&q, "count")?.unwrap_or(1);
    if count < 1 {
        return Err(ApiError::bad_request(format!(
            "query parameter 'count' must be >= 1, got {count}"
        )));
    }
    let timeout = opt::<i64>(&q, "timeout")?.unwrap_or(100);
    if !(0..=MAX_POLL_TIMEOUT_MS as i64).contains(&timeout) {
        return Err(ApiError::bad_request(format!(
            "query parameter 'timeout' must be between 0 and {MAX_POLL_TIMEOUT_MS} ms, got {timeout}"
        )));
    }
    let tasks = s
        .runtime
        .poll(
            &task_type,
            worker.as_deref(),
            domain.as_deref(),
            count as usize,
            Duration::from_millis(timeout as u64),
        )
        .await?;
    Ok(Json(tasks).into_response())
}

/// `POST /api/tasks`: answers the task id as text, also for a stale update (which changes
/// nothing), so SDKs do not retry it.
pub async fn update_v1(
    State(s): State<AppState>,
    scope: TaskScope,
    JsonBody(result): JsonBody<TaskResult>,
) -> ApiResult<Response> {
    check_task(&s, &scope, &result.task_id).await?;
    let resp = s.runtime.update_task(result).await?;
    Ok(plain(resp.task_id))
}

/// `POST /api/tasks/update-v2`: the update, then the next task of the same type for the same
/// worker (200) or 204.
pub async fn update_v2(
    State(s): State<AppState>,
    scope: TaskScope,
    JsonBody(result): JsonBody<TaskResult>,
) -> ApiResult<Response> {
    check_task(&s, &scope, &result.task_id).await?;
    let worker = result.worker_id.clone();
    let resp = s.runtime.update_task(result).await?;
    if resp.stale.is_some() || !resp.terminal || resp.task_type.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut next = s
        .runtime
        .poll(
            &resp.task_type,
            worker.as_deref(),
            resp.domain.as_deref(),
            1,
            Duration::ZERO,
        )
        .await?;
    Ok(match next.pop() {
        Some(t) => Json(t).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// For a key limited to some task types: 403 unless the task `task_id` is of one of them.
/// A task that does not exist passes, so the operation answers as it would for anyone.
async fn check_task(s: &AppState, scope: &TaskScope, task_id: &str) -> ApiResult<()> {
    if scope.types().is_none() {
        return Ok(());
    }
    match s.runtime.get_task(task_id).await {
        Ok(task) => scope.check(&task.task_type),
        Err(baton_runtime::Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn get(
    State(s): State<AppState>,
    scope: TaskScope,
    Path(task_id): Path<String>,
) -> ApiResult<Json<baton_model::Task>> {
    let task = s.runtime.get_task(&task_id).await?;
    scope.check(&task.task_type)?;
    Ok(Json(task))
}

/// The body is the raw log line; a JSON string is decoded (the JS SDK quotes it).
pub async fn add_log(
    State(s): State<AppState>,
    scope: TaskScope,
    Path(task_id): Path<String>,
    req: Request,
) -> ApiResult<()> {
    check_task(&s, &scope, &task_id).await?;
    let bytes = Bytes::from_request(req, &()).await.map_err(body_error)?;
    let raw = String::from_utf8_lossy(&bytes).to_string();
    let line = match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(serde_json::Value::String(s)) => s,
        _ => raw,
    };
    Ok(s.runtime.add_task_log(&task_id, line).await?)
}

pub async fn logs(
    State(s): State<AppState>,
    scope: TaskScope,
    Path(task_id): Path<String>,
) -> ApiResult<Response> {
    check_task(&s, &scope, &task_id).await?;
    let logs: Vec<TaskExecLog> = s.runtime.task_logs(&task_id).await?;
    Ok(if logs.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(logs).into_response()
    })
}

pub async fn queue_sizes(
    State(s): State<AppState>,
    scope: TaskScope,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> ApiResult<Json<IndexMap<String, i64>>> {
    // `taskType` may repeat.
    let wanted: Vec<String> = raw
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "taskType")
        .map(|(_, v)| v.replace("%3A", ":").replace("%3a", ":"))
        .collect();
    for w in &wanted {
        scope.check_queue(w)?;
    }
    let sizes = s.runtime.queue_sizes().await?;
    let mut out = IndexMap::new();
    for w in wanted {
        let n = sizes.iter().find(|(q, _)| *q == w).map_or(0, |(_, n)| *n);
        out.insert(w, n);
    }
    Ok(Json(out))
}

pub async fn queue_size(
    State(s): State<AppState>,
    scope: TaskScope,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<i64>> {
    let Some(task_type) = text(&q, "taskType") else {
        return Err(ApiError::bad_request(
            "query parameter 'taskType' is required",
        ));
    };
    scope.check_queue(&task_type)?;
    let queue = baton_model::queue_name(&task_type, text(&q, "domain").as_deref());
    let sizes = s.runtime.queue_sizes().await?;
    Ok(Json(
        sizes
            .iter()
            .find(|(n, _)| *n == queue)
            .map_or(0, |(_, n)| *n),
    ))
}

pub async fn queue_all(
    State(s): State<AppState>,
    scope: TaskScope,
) -> ApiResult<Json<IndexMap<String, i64>>> {
    let mut sizes = s.runtime.queue_sizes().await?;
    sizes.retain(|(q, _)| scope.allows_queue(q));
    sizes.sort();
    Ok(Json(sizes.into_iter().collect()))
}

/// `GET /api/tasks/queue/stats` (a Baton extension): per queue, its depth and how long its
/// oldest claimable entry has waited, `[{"queueName", "depth", "oldestVisibleAt",
/// "oldestAgeMs"}]` (the last two null when nothing is claimable yet), ordered by name. One
/// grouped read over the queue index, like `queue/all`.
pub async fn queue_stats(
    State(s): State<AppState>,
    scope: TaskScope,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let (stats, now) = s.runtime.queue_stats().await?;
    Ok(Json(
        stats
            .into_iter()
            .filter(|q| scope.allows_queue(&q.queue))
            .map(|q| {
                serde_json::json!({
                    "queueName": q.queue,
                    "depth": q.depth,
                    "oldestVisibleAt": q.oldest_visible_at,
                    "oldestAgeMs": q.oldest_visible_at.map(|at| now.saturating_sub(at).max(0)),
                })
            })
            .collect(),
    ))
}

/// `POST /api/tasks/{workflowId}/{taskRefName}/{status}`: completes (or fails) the first
/// pending task with that reference, merging the body into its output.
pub async fn update_by_ref(
    State(s): State<AppState>,
    Path((workflow_id, reference, status)): Path<(String, String, String)>,
    Query(q): Query<QueryMap>,
    req: Request,
) -> ApiResult<Response> {
    let status = baton_model::TaskResultStatus::parse_lenient(&status).ok_or_else(|| {
        ApiError::bad_request(format!(
            "path parameter 'status' must be a task status such as COMPLETED or FAILED, got '{status}'"
        ))
    })?;
    let bytes = Bytes::from_request(req, &()).await.map_err(body_error)?;
    let output: baton_model::JsonMap = if bytes.iter().all(u8::is_ascii_whitespace) {
        baton_model::JsonMap::new()
    } else {
        crate::extract::parse_json(&bytes)?
    };
    let id = s
        .runtime
        .update_task_by_ref(
            &workflow_id,
            &reference,
            status,
            output,
            text(&q, "workerid"),
        )
        .await?;
    Ok(plain(id.unwrap_or_default()))
}

/// Parses `start, size, freeText, query` for task search (fields: taskType/taskDefName,
/// status, workflowId, taskId with `=` or `IN`).
pub(crate) fn task_query(q: &QueryMap) -> Result<baton_store::TaskQuery, ApiError> {
    super::search_grammar::task_query(q)
}

/// `TaskSummary` (§3.9): times as ISO strings, input and output as strings.
fn task_summary(t: &baton_model::Task) -> serde_json::Value {
    use super::workflow::iso;
    let input = serde_json::to_string(&t.input_data).unwrap_or_default();
    let output = serde_json::to_string(&t.output_data).unwrap_or_default();
    let mut v = serde_json::json!({
        "workflowId": t.workflow_instance_id,
        "workflowType": t.workflow_type,
        "status": t.status,
        "executionTime": if t.end_time > 0 && t.start_time > 0 { t.end_time - t.start_time } else { 0 },
        "queueWaitTime": t.queue_wait_time,
        "taskDefName": t.task_def_name,
        "taskType": t.task_type,
        "input": input,
        "output": output,
        "taskId": t.task_id,
        "workflowPriority": t.workflow_priority,
    });
    for (k, val) in [
        ("scheduledTime", iso(t.scheduled_time)),
        ("startTime", iso(t.start_time)),
        ("updateTime", iso(t.update_time)),
        ("endTime", iso(t.end_time)),
        ("correlationId", t.correlation_id.clone()),
        ("reasonForIncompletion", t.reason_for_incompletion.clone()),
        ("domain", t.domain.clone()),
        (
            "externalInputPayloadStoragePath",
            t.external_input_payload_storage_path.clone(),
        ),
        (
            "externalOutputPayloadStoragePath",
            t.external_output_payload_storage_path.clone(),
        ),
    ] {
        if let Some(val) = val {
            v[k] = serde_json::json!(val);
        }
    }
    v
}

/// A task search limited to the caller's task types: the types and definition names the query
/// names must be among them, and a query naming none is narrowed to them.
fn scoped_task_query(q: &QueryMap, scope: &TaskScope) -> ApiResult<baton_store::TaskQuery> {
    let mut query = task_query(q)?;
    if let Some(types) = scope.types() {
        if query.task_types.is_empty() && query.task_def_names.is_empty() {
            query.task_types = types.to_vec();
        }
        for t in query.task_types.iter().chain(&query.task_def_names) {
            scope.check(t)?;
        }
    }
    Ok(query)
}

pub async fn search(
    State(s): State<AppState>,
    scope: TaskScope,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<serde_json::Value>> {
    let (total, found) = s
        .runtime
        .search_tasks(&scoped_task_query(&q, &scope)?)
        .await?;
    let results: Vec<serde_json::Value> = found.iter().map(task_summary).collect();
    Ok(Json(
        serde_json::json!({"totalHits": total, "results": results}),
    ))
}

pub async fn search_v2(
    State(s): State<AppState>,
    scope: TaskScope,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<serde_json::Value>> {
    let (total, found) = s
        .runtime
        .search_tasks(&scoped_task_query(&q, &scope)?)
        .await?;
    Ok(Json(
        serde_json::json!({"totalHits": total, "results": found}),
    ))
}

pub async fn poll_data(
    State(s): State<AppState>,
    scope: TaskScope,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Vec<baton_model::PollData>>> {
    let Some(task_type) = text(&q, "taskType") else {
        return Err(ApiError::bad_request(
            "query parameter 'taskType' is required",
        ));
    };
    scope.check_queue(&task_type)?;
    let all = s.runtime.poll_data().await?;
    Ok(Json(
        all.into_iter()
            .filter(|p| p.queue_name == task_type)
            .collect(),
    ))
}

pub async fn poll_data_all(
    State(s): State<AppState>,
    scope: TaskScope,
) -> ApiResult<Json<Vec<baton_model::PollData>>> {
    let mut all = s.runtime.poll_data().await?;
    all.retain(|p| scope.allows_queue(&p.queue_name));
    Ok(Json(all))
}

/// `GET /api/tasks/queue/all/verbose`: `{queue: {shard: {size, uacked}}}`. Baton's queue has
/// one shard (`a`), and a claimed task leaves the queue at once, so nothing is unacked.
pub async fn queue_all_verbose(
    State(s): State<AppState>,
    scope: TaskScope,
) -> ApiResult<Json<IndexMap<String, serde_json::Value>>> {
    let mut sizes = s.runtime.queue_sizes().await?;
    sizes.retain(|(q, _)| scope.allows_queue(q));
    sizes.sort();
    Ok(Json(
        sizes
            .into_iter()
            .map(|(q, n)| (q, serde_json::json!({"a": {"size": n, "uacked": 0}})))
            .collect(),
    ))
}

/// `POST /api/tasks/queue/requeue/{taskType}`: re-pushes the type's scheduled tasks; answers
/// how many, as text.
pub async fn requeue(
    State(s): State<AppState>,
    Path(task_type): Path<String>,
) -> ApiResult<Response> {
    let n = s.runtime.requeue_pending(&task_type).await?;
    Ok(plain(n.to_string()))
}
