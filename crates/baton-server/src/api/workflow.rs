//! `/api/workflow/...`: start, read, terminate.

use super::params::{flag, opt, plain, text, QueryMap};
use super::signal_response::{check_consistency, render, ReturnStrategy};
use crate::error::ApiError;
use crate::extract::{body_error, parse_json, JsonBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use baton_model::{HistoryEvent, JsonMap, StartWorkflowRequest, Workflow, WorkflowStatus};
use baton_store::WorkflowQuery;
use serde_json::{json, Value};

type ApiResult<T> = Result<T, ApiError>;

/// Longest wait of a synchronous call (`execute`'s `waitForSeconds`, `signal/sync`'s
/// `timeoutMillis`).
pub(crate) const MAX_SYNC_WAIT_SECS: u64 = 300;

pub async fn start(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<StartWorkflowRequest>,
) -> ApiResult<Response> {
    if req.name.trim().is_empty() && req.workflow_def.is_none() {
        return Err(ApiError::bad_request("name: workflow name cannot be empty"));
    }
    Ok(plain(s.runtime.start_workflow(req).await?))
}

/// `POST /api/workflow/{name}`: the body is the input map itself.
pub async fn start_by_name(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QueryMap>,
    req: Request,
) -> ApiResult<Response> {
    let bytes = Bytes::from_request(req, &()).await.map_err(body_error)?;
    let input: JsonMap = if bytes.iter().all(u8::is_ascii_whitespace) {
        JsonMap::new()
    } else {
        parse_json(&bytes)?
    };
    let req = StartWorkflowRequest {
        name,
        version: opt::<i32>(&q, "version")?,
        correlation_id: text(&q, "correlationId"),
        priority: opt::<i32>(&q, "priority")?.unwrap_or(0),
        input,
        ..StartWorkflowRequest::default()
    };
    Ok(plain(s.runtime.start_workflow(req).await?))
}

pub async fn get(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Workflow>> {
    let include_tasks = flag(&q, "includeTasks", true)?;
    Ok(Json(s.runtime.get_workflow(&id, include_tasks).await?))
}

pub async fn status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Value>> {
    let w = s.runtime.workflow_status(&id).await?;
    let mut out = json!({"workflowId": w.workflow_id, "status": w.status});
    if let Some(c) = &w.correlation_id {
        out["correlationId"] = json!(c);
    }
    if flag(&q, "includeOutput", false)? {
        out["output"] = json!(w.output);
    }
    if flag(&q, "includeVariables", false)? {
        out["variables"] = json!(w.variables);
    }
    Ok(Json(out))
}

pub async fn terminate(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<()> {
    let trigger = flag(&q, "triggerFailureWorkflow", false)?;
    Ok(s.runtime
        .terminate(&id, text(&q, "reason"), trigger)
        .await?)
}

/// Baton extension: the append-only audit trail of one workflow.
pub async fn history(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<HistoryEvent>>> {
    s.runtime
        .get_workflow(&id, false)
        .await
        .or_else(|e| match e {
            // A removed execution keeps its history.
            baton_runtime::Error::NotFound(_) => Ok(Workflow::default()),
            other => Err(other),
        })?;
    Ok(Json(s.runtime.history(&id).await?))
}

pub async fn pause(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<()> {
    Ok(s.runtime.pause(&id).await?)
}

pub async fn resume(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<()> {
    Ok(s.runtime.resume(&id).await?)
}

pub async fn restart(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<StatusCode> {
    let latest = flag(&q, "useLatestDefinitions", false)?;
    s.runtime.restart(&id, latest).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn retry(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<StatusCode> {
    let resume_sub = flag(&q, "resumeSubworkflowTasks", false)?;
    s.runtime.retry(&id, resume_sub).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RerunRequest {
    #[serde(default)]
    re_run_from_task_id: Option<String>,
    #[serde(default)]
    task_input: Option<JsonMap>,
    #[serde(default)]
    workflow_input: Option<JsonMap>,
    #[serde(default)]
    correlation_id: Option<String>,
}

pub async fn rerun(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<RerunRequest>,
) -> ApiResult<Response> {
    s.runtime
        .rerun(
            &id,
            req.re_run_from_task_id,
            req.task_input,
            req.workflow_input,
            req.correlation_id,
        )
        .await?;
    Ok(plain(id))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SkipTaskRequest {
    #[serde(default)]
    task_input: Option<JsonMap>,
    #[serde(default)]
    task_output: Option<JsonMap>,
}

pub async fn skip_task(
    State(s): State<AppState>,
    Path((id, reference)): Path<(String, String)>,
    req: Request,
) -> ApiResult<()> {
    let bytes = Bytes::from_request(req, &()).await.map_err(body_error)?;
    let body: SkipTaskRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        SkipTaskRequest::default()
    } else {
        parse_json(&bytes)?
    };
    Ok(s.runtime
        .skip_task(&id, &reference, body.task_input, body.task_output)
        .await?)
}

/// `DELETE /api/workflow/{id}/remove?archiveWorkflow=true`: with archiving (the default)
/// the audit trail is kept; without, it is deleted with the execution.
pub async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<()> {
    let archive = flag(&q, "archiveWorkflow", true)?;
    Ok(s.runtime.remove_workflow_archiving(&id, archive).await?)
}

pub async fn running(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Vec<String>>> {
    let query = WorkflowQuery {
        workflow_types: vec![name],
        statuses: vec![WorkflowStatus::Running],
        version: Some(opt::<i32>(&q, "version")?.unwrap_or(1)),
        start_time_from: opt::<i64>(&q, "startTime")?.filter(|t| *t > 0),
        start_time_to: opt::<i64>(&q, "endTime")?.filter(|t| *t > 0),
        limit: 10_000,
        skip_total: true,
        ..WorkflowQuery::default()
    };
    let (_, found) = s.runtime.search(&query).await?;
    Ok(Json(found.into_iter().map(|w| w.workflow_id).collect()))
}

/// Parses `start, size, sort, freeText, query` (§2.7) into a store query.
pub(crate) fn search_query(q: &QueryMap) -> Result<WorkflowQuery, ApiError> {
    super::search_grammar::workflow_query(q)
}

pub(crate) fn iso(ms: i64) -> Option<String> {
    if ms <= 0 {
        return None;
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// `WorkflowSummary` (§3.9): times as ISO strings, input and output as strings.
pub(crate) fn summary(w: &Workflow) -> Value {
    let input = serde_json::to_string(&w.input).unwrap_or_default();
    let output = serde_json::to_string(&w.output).unwrap_or_default();
    let mut v = json!({
        "workflowType": w.workflow_name,
        "version": w.workflow_version,
        "workflowId": w.workflow_id,
        "status": w.status,
        "input": input,
        "output": output,
        "inputSize": input.len(),
        "outputSize": output.len(),
        "executionTime": if w.end_time > 0 { w.end_time - w.start_time } else { 0 },
        "failedReferenceTaskNames": w.failed_reference_task_names.join(","),
        "failedTaskNames": w.failed_task_names,
        "priority": w.priority,
        "taskToDomain": w.task_to_domain,
        "parentWorkflowId": w.parent_workflow_id.clone().unwrap_or_default(),
        // As searches read it from its column; else (search by tasks) from the definition
        // the execution runs, which it was taken from.
        "classifier": w.classifier.as_deref()
            .or(w.workflow_definition.as_deref().map(|d| d.classifier()))
            .unwrap_or("workflow"),
    });
    let fields = [
        ("startTime", iso(w.start_time)),
        ("updateTime", iso(w.update_time)),
        ("endTime", iso(w.end_time)),
        ("correlationId", w.correlation_id.clone()),
        ("reasonForIncompletion", w.reason_for_incompletion.clone()),
        ("createdBy", w.created_by.clone()),
        ("idempotencyKey", w.idempotency_key.clone()),
        ("event", w.event.clone()),
        (
            "externalInputPayloadStoragePath",
            w.external_input_payload_storage_path.clone(),
        ),
        (
            "externalOutputPayloadStoragePath",
            w.external_output_payload_storage_path.clone(),
        ),
    ];
    for (k, val) in fields {
        if let Some(val) = val {
            v[k] = json!(val);
        }
    }
    v
}

pub async fn search(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Value>> {
    let query = search_query(&q)?;
    let (total, found) = s.runtime.search(&query).await?;
    let results: Vec<Value> = found.iter().map(summary).collect();
    Ok(Json(json!({"totalHits": total, "results": results})))
}

pub async fn search_v2(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Value>> {
    let query = search_query(&q)?;
    let (total, found) = s.runtime.search(&query).await?;
    Ok(Json(json!({"totalHits": total, "results": found})))
}

/// `POST /api/workflow/execute/{name}/{version}`: start and wait (bounded) for the end, a
/// task (`waitUntilTaskRef`), or a blocking WAIT/HUMAN task; answers a `SignalResponse`
/// shaped by `returnStrategy`.
pub async fn execute(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<QueryMap>,
    JsonBody(mut req): JsonBody<StartWorkflowRequest>,
) -> ApiResult<Response> {
    let version: i32 = version.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "path parameter 'version' must be an integer, got '{version}'"
        ))
    })?;
    req.name = name;
    req.version = (version > 0).then_some(version);
    let strategy = ReturnStrategy::from_query(&q)?;
    check_consistency(&q)?;
    let wait_secs = opt::<u64>(&q, "waitForSeconds")?
        .filter(|s| *s > 0)
        .unwrap_or(10);
    if wait_secs > MAX_SYNC_WAIT_SECS {
        return Err(ApiError::bad_request(format!(
            "query parameter 'waitForSeconds' must be at most {MAX_SYNC_WAIT_SECS}, got {wait_secs}"
        )));
    }
    let wait_refs: Vec<String> = text(&q, "waitUntilTaskRef")
        .map(|v| {
            v.split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let request_id = text(&q, "requestId").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let blocking = s
        .runtime
        .execute(req, &wait_refs, std::time::Duration::from_secs(wait_secs))
        .await?;
    Ok(render(&blocking, strategy, &request_id))
}
