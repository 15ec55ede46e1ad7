//! `/api/workflow/...` lookups beside get and search: executions by correlation id, a
//! workflow's tasks page by page, search by tasks, and the external storage location.

use super::params::{flag, opt, QueryMap};
use super::workflow::summary;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use baton_model::{TaskStatus, Workflow};
use indexmap::IndexMap;
use serde_json::{json, Value};

type ApiResult<T> = Result<T, ApiError>;

/// `GET /api/workflow/{name}/correlated/{correlationId}?includeClosed=false&includeTasks=false`
pub async fn correlated_one(
    State(s): State<AppState>,
    Path((name, cid)): Path<(String, String)>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Vec<Workflow>>> {
    let include_closed = flag(&q, "includeClosed", false)?;
    let include_tasks = flag(&q, "includeTasks", false)?;
    let mut found = s
        .runtime
        .correlated(
            &name,
            std::slice::from_ref(&cid),
            include_closed,
            include_tasks,
        )
        .await?;
    Ok(Json(found.swap_remove(&cid).unwrap_or_default()))
}

/// `POST /api/workflow/{name}/correlated` with a JSON list of correlation ids: a map from
/// each id to its executions.
pub async fn correlated_many(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QueryMap>,
    JsonBody(ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<IndexMap<String, Vec<Workflow>>>> {
    let max = s.runtime.max_bulk_ids();
    if ids.len() > max {
        return Err(ApiError::bad_request(format!(
            "request body lists {} correlation ids; the limit is {max} (--max-bulk-ids)",
            ids.len()
        )));
    }
    let include_closed = flag(&q, "includeClosed", false)?;
    let include_tasks = flag(&q, "includeTasks", false)?;
    Ok(Json(
        s.runtime
            .correlated(&name, &ids, include_closed, include_tasks)
            .await?,
    ))
}

/// `GET /api/workflow/{id}/tasks?start=0&count=15&status=...`: `SearchResult<Task>`.
/// `status` may repeat or list several, comma-separated, in any case.
pub async fn tasks(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let q: QueryMap = pairs.iter().cloned().collect();
    let start = opt::<usize>(&q, "start")?.unwrap_or(0);
    let count = opt::<usize>(&q, "count")?.unwrap_or(15);
    if count > 5000 {
        return Err(ApiError::bad_request(format!(
            "query parameter 'count' must be at most 5000, got {count}"
        )));
    }
    let mut statuses = Vec::new();
    for v in pairs
        .iter()
        .filter(|(k, _)| k == "status")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        statuses.push(TaskStatus::parse(&v.to_ascii_uppercase()).ok_or_else(|| {
            ApiError::bad_request(format!(
                "query parameter 'status': '{v}' is not a task status"
            ))
        })?);
    }
    let (total, page) = s
        .runtime
        .workflow_tasks(&id, start, count, &statuses)
        .await?;
    Ok(Json(json!({"totalHits": total, "results": page})))
}

/// Runs a search by tasks: `query` and `freeText` apply to task attempts; `start`/`size`
/// page the matching attempts, as Conductor pages them, and the page lists their workflows.
async fn by_tasks(s: &AppState, q: &QueryMap) -> ApiResult<(i64, Vec<Workflow>)> {
    let tasks = super::tasks::task_query(q)?;
    let (start, size) = (tasks.offset, tasks.limit);
    Ok(s.runtime.search_by_tasks(&tasks, start, size).await?)
}

/// `GET /api/workflow/search-by-tasks`: `SearchResult<WorkflowSummary>`.
pub async fn search_by_tasks(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Value>> {
    let (total, found) = by_tasks(&s, &q).await?;
    let results: Vec<Value> = found.iter().map(summary).collect();
    Ok(Json(json!({"totalHits": total, "results": results})))
}

/// `GET /api/workflow/search-by-tasks-v2`: `SearchResult<Workflow>`.
pub async fn search_by_tasks_v2(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Value>> {
    let (total, found) = by_tasks(&s, &q).await?;
    Ok(Json(json!({"totalHits": total, "results": found})))
}

/// `GET .../externalstoragelocation?path=&operation=&payloadType=`. Baton keeps every
/// payload in its own store; the answer names the path the client gave and no URI, so a
/// client that asks never uploads anywhere.
pub async fn external_storage_location(Query(q): Query<QueryMap>) -> ApiResult<Json<Value>> {
    for p in ["path", "operation", "payloadType"] {
        if !q.contains_key(p) {
            return Err(ApiError::bad_request(format!(
                "query parameter '{p}' is required"
            )));
        }
    }
    let operation = &q["operation"];
    if !["READ", "WRITE"]
        .iter()
        .any(|o| o.eq_ignore_ascii_case(operation))
    {
        return Err(ApiError::bad_request(format!(
            "query parameter 'operation' must be READ or WRITE, got '{operation}'"
        )));
    }
    Ok(Json(json!({"uri": null, "path": q["path"]})))
}
