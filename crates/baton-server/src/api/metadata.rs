//! `/api/metadata/...`: task and workflow definitions.

use super::params::{flag, opt, QueryMap};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use baton_model::{BulkResponse, TaskDef, WorkflowDef, WorkflowDefSummary};
use indexmap::IndexMap;

type ApiResult<T> = Result<T, ApiError>;

pub async fn create_task_defs(
    State(s): State<AppState>,
    JsonBody(defs): JsonBody<Vec<TaskDef>>,
) -> ApiResult<()> {
    Ok(s.runtime.register_task_defs(defs).await?)
}

pub async fn update_task_def(
    State(s): State<AppState>,
    JsonBody(def): JsonBody<TaskDef>,
) -> ApiResult<()> {
    Ok(s.runtime.update_task_def(def).await?)
}

pub async fn list_task_defs(State(s): State<AppState>) -> ApiResult<Json<Vec<TaskDef>>> {
    Ok(Json(s.runtime.list_task_defs().await?))
}

pub async fn get_task_def(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<TaskDef>> {
    Ok(Json(s.runtime.get_task_def(&name).await?))
}

pub async fn delete_task_def(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<()> {
    Ok(s.runtime.delete_task_def(&name).await?)
}

pub async fn create_workflow_def(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
    JsonBody(def): JsonBody<WorkflowDef>,
) -> ApiResult<()> {
    let overwrite = flag(&q, "overwrite", false)?;
    Ok(s.runtime.register_workflow_def(def, overwrite).await?)
}

pub async fn update_workflow_defs(
    State(s): State<AppState>,
    JsonBody(defs): JsonBody<Vec<WorkflowDef>>,
) -> ApiResult<Json<BulkResponse>> {
    Ok(Json(s.runtime.update_workflow_defs(defs).await?))
}

pub async fn validate_workflow_def(
    State(s): State<AppState>,
    JsonBody(def): JsonBody<WorkflowDef>,
) -> ApiResult<()> {
    Ok(s.runtime.validate_workflow_def(&def)?)
}

pub async fn get_workflow_def(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<WorkflowDef>> {
    let version = opt::<i32>(&q, "version")?;
    Ok(Json(s.runtime.get_workflow_def(&name, version).await?))
}

/// Every version of every definition; `classifier=a,b` keeps those whose classifier (see
/// [`WorkflowDef::classifier`]) is one of them.
pub async fn list_workflow_defs(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Vec<WorkflowDef>>> {
    let mut defs = s.runtime.list_workflow_defs().await?;
    let wanted: Vec<String> = q
        .get("classifier")
        .map(|c| {
            c.split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !wanted.is_empty() {
        defs.retain(|d| wanted.iter().any(|w| w == d.classifier()));
    }
    Ok(Json(defs))
}

fn latest(defs: Vec<WorkflowDef>) -> Vec<WorkflowDef> {
    let mut by_name: IndexMap<String, WorkflowDef> = IndexMap::new();
    for d in defs {
        match by_name.get(&d.name) {
            Some(existing) if existing.version >= d.version => {}
            _ => {
                by_name.insert(d.name.clone(), d);
            }
        }
    }
    by_name.into_values().collect()
}

fn summary(d: &WorkflowDef) -> WorkflowDefSummary {
    WorkflowDefSummary {
        name: d.name.clone(),
        version: d.version,
        create_time: d.create_time,
        update_time: d.update_time,
    }
}

pub async fn latest_versions(State(s): State<AppState>) -> ApiResult<Json<Vec<WorkflowDef>>> {
    Ok(Json(latest(s.runtime.list_workflow_defs().await?)))
}

pub async fn names(State(s): State<AppState>) -> ApiResult<Json<Vec<String>>> {
    let defs = latest(s.runtime.list_workflow_defs().await?);
    Ok(Json(defs.into_iter().map(|d| d.name).collect()))
}

pub async fn names_and_versions(
    State(s): State<AppState>,
) -> ApiResult<Json<IndexMap<String, Vec<WorkflowDefSummary>>>> {
    let mut out: IndexMap<String, Vec<WorkflowDefSummary>> = IndexMap::new();
    for d in s.runtime.list_workflow_defs().await? {
        out.entry(d.name.clone()).or_default().push(summary(&d));
    }
    Ok(Json(out))
}

pub async fn versions(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<WorkflowDefSummary>>> {
    let all = s.runtime.list_workflow_defs().await?;
    Ok(Json(
        all.iter().filter(|d| d.name == name).map(summary).collect(),
    ))
}

pub async fn delete_workflow_def(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<()> {
    let version: i32 = version.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "path parameter 'version' must be an integer, got '{version}'"
        ))
    })?;
    Ok(s.runtime.delete_workflow_def(&name, version).await?)
}
