//! Ending tasks from outside without their ids: the synchronous update by reference and
//! the task signals (`/api/tasks/{workflowId}/{status}/signal[/sync]`).

use super::params::{opt, QueryMap};
use super::signal_response::{render, ReturnStrategy};
use super::workflow::MAX_SYNC_WAIT_SECS;
use crate::error::ApiError;
use crate::extract::{body_error, parse_json};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::response::Response;
use axum::Json;
use baton_model::{JsonMap, TaskResultStatus, Workflow};
use std::time::Duration;

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn parse_status(raw: &str) -> ApiResult<TaskResultStatus> {
    TaskResultStatus::parse_lenient(raw).ok_or_else(|| {
        ApiError::bad_request(format!(
            "path parameter 'status' must be a task status such as COMPLETED or FAILED, got '{raw}'"
        ))
    })
}

/// The body as an output map; an empty body is an empty map.
pub(crate) async fn output_body(req: Request) -> ApiResult<JsonMap> {
    let bytes = Bytes::from_request(req, &()).await.map_err(body_error)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(JsonMap::new())
    } else {
        parse_json(&bytes)
    }
}

/// `POST /api/tasks/{workflowId}/{taskRefName}/{status}/sync?workerid=`: the update by
/// reference, answered with the workflow after it; 404 if no such task is pending.
pub async fn update_by_ref_sync(
    State(s): State<AppState>,
    Path((workflow_id, reference, status)): Path<(String, String, String)>,
    Query(q): Query<QueryMap>,
    req: Request,
) -> ApiResult<Json<Workflow>> {
    let status = parse_status(&status)?;
    let output = output_body(req).await?;
    let worker = super::params::text(&q, "workerid");
    let updated = s
        .runtime
        .update_task_by_ref(&workflow_id, &reference, status, output, worker)
        .await?;
    if updated.is_none() {
        return Err(ApiError::not_found(format!(
            "Found no running task {reference} of workflow {workflow_id} to update"
        )));
    }
    Ok(Json(s.runtime.get_workflow(&workflow_id, true).await?))
}

/// `POST /api/tasks/{workflowId}/{status}/signal`: ends the task the workflow waits on.
pub async fn signal(
    State(s): State<AppState>,
    Path((workflow_id, status)): Path<(String, String)>,
    req: Request,
) -> ApiResult<()> {
    let status = parse_status(&status)?;
    let output = output_body(req).await?;
    s.runtime.signal(&workflow_id, status, output).await?;
    Ok(())
}

/// `POST /api/tasks/{workflowId}/{status}/signal/sync?returnStrategy=&timeoutMillis=5000`:
/// the signal, then a wait until the workflow blocks again or ends.
pub async fn signal_sync(
    State(s): State<AppState>,
    Path((workflow_id, status)): Path<(String, String)>,
    Query(q): Query<QueryMap>,
    req: Request,
) -> ApiResult<Response> {
    let status = parse_status(&status)?;
    let strategy = ReturnStrategy::from_query(&q)?;
    let timeout = opt::<u64>(&q, "timeoutMillis")?.unwrap_or(5000);
    if timeout > MAX_SYNC_WAIT_SECS * 1000 {
        return Err(ApiError::bad_request(format!(
            "query parameter 'timeoutMillis' must be at most {}, got {timeout}",
            MAX_SYNC_WAIT_SECS * 1000
        )));
    }
    let output = output_body(req).await?;
    s.runtime.signal(&workflow_id, status, output).await?;
    let blocking = s
        .runtime
        .await_blocking(&workflow_id, &[], Duration::from_millis(timeout))
        .await?;
    let request_id = uuid::Uuid::new_v4().to_string();
    Ok(render(&blocking, strategy, &request_id))
}
