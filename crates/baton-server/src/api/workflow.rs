//! `/api/workflow/...`: start, read, terminate.

use super::params::{flag, opt, plain, text, QueryMap};
use crate::error::ApiError;
use crate::extract::{body_error, parse_json, JsonBody};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::extract::{Path, Query, Request, State};
use axum::response::Response;
use axum::Json;
use baton_model::{HistoryEvent, JsonMap, StartWorkflowRequest, Workflow};
use serde_json::{json, Value};

type ApiResult<T> = Result<T, ApiError>;

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
    let w = s.runtime.get_workflow(&id, false).await?;
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
