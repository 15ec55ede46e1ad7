//! `/api/workflow/bulk/...`: one operation over a list of workflow ids, answered as a
//! `BulkResponse` (ids that succeeded, and the error message of each that did not).

use super::params::{flag, text, QueryMap};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use axum::extract::{Query, State};
use axum::Json;
use baton_model::BulkResponse;
use baton_runtime::Runtime;
use serde_json::{json, Value};

type ApiResult<T> = Result<T, ApiError>;

/// At most `--max-bulk-ids` ids (Conductor's 1000 by default), answered in Conductor's words.
fn check(s: &AppState, ids: &[String]) -> ApiResult<()> {
    let max = s.runtime.max_bulk_ids();
    if ids.len() > max {
        return Err(ApiError::bad_request(format!(
            "Cannot process more than {max} workflows. Please use multiple requests."
        )));
    }
    Ok(())
}

/// Applies `op` to each id in order; an error is recorded against its id (the first
/// occurrence of a repeated id decides).
async fn each<'a, F, Fut>(ids: &'a [String], op: F) -> BulkResponse
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = baton_runtime::Result<()>>,
{
    let mut out = BulkResponse::default();
    for id in ids {
        if out.bulk_successful_results.contains(id) || out.bulk_error_results.contains_key(id) {
            continue;
        }
        match op(id).await {
            Ok(()) => out.bulk_successful_results.push(id.clone()),
            Err(e) => {
                out.bulk_error_results.insert(id.clone(), e.to_string());
            }
        }
    }
    out
}

fn runtime(s: &AppState) -> &Runtime {
    &s.runtime
}

pub async fn pause(
    State(s): State<AppState>,
    JsonBody(ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<BulkResponse>> {
    check(&s, &ids)?;
    let rt = runtime(&s);
    Ok(Json(each(&ids, |id| rt.pause(id)).await))
}

pub async fn resume(
    State(s): State<AppState>,
    JsonBody(ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<BulkResponse>> {
    check(&s, &ids)?;
    let rt = runtime(&s);
    Ok(Json(each(&ids, |id| rt.resume(id)).await))
}

/// `?useLatestDefinitions=false`
pub async fn restart(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
    JsonBody(ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<BulkResponse>> {
    check(&s, &ids)?;
    let latest = flag(&q, "useLatestDefinitions", false)?;
    let rt = runtime(&s);
    Ok(Json(each(&ids, |id| rt.restart(id, latest)).await))
}

pub async fn retry(
    State(s): State<AppState>,
    JsonBody(ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<BulkResponse>> {
    check(&s, &ids)?;
    let rt = runtime(&s);
    Ok(Json(each(&ids, |id| rt.retry(id, false)).await))
}

/// `?reason=&triggerFailureWorkflow=false`
pub async fn terminate(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
    JsonBody(ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<BulkResponse>> {
    check(&s, &ids)?;
    let reason = text(&q, "reason");
    let trigger = flag(&q, "triggerFailureWorkflow", false)?;
    let rt = runtime(&s);
    Ok(Json(
        each(&ids, |id| rt.terminate(id, reason.clone(), trigger)).await,
    ))
}

/// `?archiveWorkflow=true`
pub async fn remove(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
    JsonBody(ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<BulkResponse>> {
    check(&s, &ids)?;
    let archive = flag(&q, "archiveWorkflow", true)?;
    let rt = runtime(&s);
    Ok(Json(
        each(&ids, |id| rt.remove_workflow_archiving(id, archive)).await,
    ))
}

/// `?reason=&archiveWorkflow=true`
pub async fn terminate_remove(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
    JsonBody(ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<BulkResponse>> {
    check(&s, &ids)?;
    let reason = text(&q, "reason");
    let archive = flag(&q, "archiveWorkflow", true)?;
    let rt = runtime(&s);
    Ok(Json(
        each(&ids, |id| rt.terminate_remove(id, reason.clone(), archive)).await,
    ))
}

/// `POST /bulk/search?includeTasks=true`: the executions themselves as the successful
/// results.
pub async fn search(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
    JsonBody(ids): JsonBody<Vec<String>>,
) -> ApiResult<Json<Value>> {
    check(&s, &ids)?;
    let include_tasks = flag(&q, "includeTasks", true)?;
    let mut found = Vec::new();
    let mut errors = indexmap::IndexMap::new();
    for id in &ids {
        match s.runtime.get_workflow(id, include_tasks).await {
            Ok(w) => found.push(w),
            Err(e) => {
                errors.insert(id.clone(), e.to_string());
            }
        }
    }
    Ok(Json(
        json!({"bulkErrorResults": errors, "bulkSuccessfulResults": found}),
    ))
}
