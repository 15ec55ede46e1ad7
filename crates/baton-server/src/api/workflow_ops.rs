//! `/api/workflow/...` operator tools: decide, reset callbacks, terminate-and-remove, and
//! the mocked test run.

use super::params::{flag, text, QueryMap};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use baton_model::Workflow;
use baton_runtime::WorkflowTestRequest;

type ApiResult<T> = Result<T, ApiError>;

/// `PUT /api/workflow/decide/{id}`: runs the decider for the workflow now.
pub async fn decide(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<()> {
    Ok(s.runtime.decide(&id).await?)
}

/// `POST /api/workflow/{id}/resetcallbacks`: 204.
pub async fn reset_callbacks(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.runtime.reset_callbacks(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/workflow/{id}/terminate-remove?reason=&archiveWorkflow=true`.
pub async fn terminate_remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<()> {
    let archive = flag(&q, "archiveWorkflow", true)?;
    Ok(s.runtime
        .terminate_remove(&id, text(&q, "reason"), archive)
        .await?)
}

/// `POST /api/workflow/test`: runs the workflow with mocked task outputs, answers it.
pub async fn test(
    State(s): State<AppState>,
    JsonBody(req): JsonBody<WorkflowTestRequest>,
) -> ApiResult<Json<Workflow>> {
    if req.start.name.trim().is_empty() && req.start.workflow_def.is_none() {
        return Err(ApiError::bad_request(
            "name: workflow name cannot be empty (or give a workflowDef)",
        ));
    }
    Ok(Json(s.runtime.test_workflow(req).await?))
}
