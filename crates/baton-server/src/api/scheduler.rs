//! `/api/scheduler/...`: cron schedules that start workflows (Orkes scheduler paths).

use super::params::{opt, text, QueryMap};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use baton_store::WorkflowSchedule;

type ApiResult<T> = Result<T, ApiError>;

/// Most due times `nextFewSchedules` answers.
const MAX_NEXT_FEW: usize = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/scheduler/schedules", get(list).post(save))
        .route(
            "/api/scheduler/schedules/{name}",
            get(get_one).delete(delete),
        )
        .route(
            "/api/scheduler/schedules/{name}/pause",
            get(pause).put(pause),
        )
        .route(
            "/api/scheduler/schedules/{name}/resume",
            get(resume).put(resume),
        )
        .route("/api/scheduler/nextFewSchedules", get(next_few))
}

/// Create or replace; answers the schedule as stored, with `nextRunTime`.
async fn save(
    State(s): State<AppState>,
    JsonBody(schedule): JsonBody<WorkflowSchedule>,
) -> ApiResult<Json<WorkflowSchedule>> {
    Ok(Json(s.runtime.save_schedule(schedule).await?))
}

/// Every schedule (or those of `?workflowName=`), each with `nextRunTime`.
async fn list(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Vec<WorkflowSchedule>>> {
    let workflow = text(&q, "workflowName");
    Ok(Json(s.runtime.list_schedules(workflow.as_deref()).await?))
}

async fn get_one(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<WorkflowSchedule>> {
    Ok(Json(s.runtime.get_schedule(&name).await?))
}

async fn delete(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<()> {
    Ok(s.runtime.delete_schedule(&name).await?)
}

async fn pause(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<()> {
    Ok(s.runtime.pause_schedule(&name).await?)
}

async fn resume(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<()> {
    Ok(s.runtime.resume_schedule(&name).await?)
}

/// `?cronExpression=&scheduleStartTime=&scheduleEndTime=&limit=3&zoneId=`: the next due
/// times (epoch ms).
async fn next_few(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Vec<i64>>> {
    let Some(cron) = text(&q, "cronExpression") else {
        return Err(ApiError::bad_request(
            "query parameter 'cronExpression' is required",
        ));
    };
    let start: Option<i64> = opt(&q, "scheduleStartTime")?;
    let end: Option<i64> = opt(&q, "scheduleEndTime")?;
    let limit: usize = opt(&q, "limit")?.unwrap_or(3);
    if limit == 0 || limit > MAX_NEXT_FEW {
        return Err(ApiError::bad_request(format!(
            "query parameter 'limit' must be between 1 and {MAX_NEXT_FEW}"
        )));
    }
    let zone = text(&q, "zoneId");
    Ok(Json(s.runtime.next_schedule_times(
        &cron,
        zone.as_deref(),
        start,
        end,
        limit,
    )?))
}
