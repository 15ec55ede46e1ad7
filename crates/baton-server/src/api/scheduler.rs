//! `/api/scheduler/...`: cron schedules that start workflows (Orkes scheduler paths).

use super::params::{opt, text, QueryMap};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::routing::{get, put};
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
        .route("/api/scheduler/schedules/search", get(search))
        .route("/api/scheduler/search/executions", get(executions))
        .route("/api/scheduler/bulk/pause", put(bulk_pause))
        .route("/api/scheduler/bulk/resume", put(bulk_resume))
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

/// Deleting an unknown schedule is a no-op, as in Conductor.
async fn delete(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<()> {
    match s.runtime.delete_schedule(&name).await {
        Ok(()) | Err(baton_runtime::Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `?reason=` is kept as `pausedReason` until the schedule is resumed.
async fn pause(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<()> {
    Ok(s.runtime.pause_schedule(&name, text(&q, "reason")).await?)
}

async fn resume(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<()> {
    Ok(s.runtime.resume_schedule(&name).await?)
}

/// `?cronExpression=&scheduleStartTime=&scheduleEndTime=&limit=5&zoneId=`: the next due
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
    let limit: usize = opt(&q, "limit")?.unwrap_or(5);
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

/// `GET /api/scheduler/schedules/search?workflowName=&scheduleName=&paused=&freeText=&start=0&size=100&sort=`:
/// a `SearchResult` of schedules. Names match exactly or with `*` wildcards; `freeText`
/// matches anywhere in the schedule's JSON; `sort` is `field[:ASC|DESC]` over `name`,
/// `workflowName`, `createTime`, `updatedTime` or `nextRunTime`.
async fn search(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<serde_json::Value>> {
    let start: usize = opt(&q, "start")?.unwrap_or(0);
    let size: usize = opt(&q, "size")?.unwrap_or(100);
    if size > 5000 {
        return Err(ApiError::bad_request(format!(
            "query parameter 'size' must be at most 5000, got {size}"
        )));
    }
    let paused = super::params::opt_flag(&q, "paused")?;
    let workflow = text(&q, "workflowName");
    let name = text(&q, "scheduleName");
    let free = text(&q, "freeText").filter(|f| f.trim() != "*");
    let mut all = s.runtime.list_schedules(None).await?;
    all.retain(|sc| {
        workflow
            .as_deref()
            .is_none_or(|w| wildcard(w, &sc.start_workflow_request.name))
            && name.as_deref().is_none_or(|n| wildcard(n, &sc.name))
            && paused.is_none_or(|p| sc.paused == p)
            && free.as_deref().is_none_or(|f| {
                serde_json::to_string(sc)
                    .is_ok_and(|j| j.to_lowercase().contains(&f.to_lowercase()))
            })
    });
    if let Some(sort) = text(&q, "sort") {
        let (field, dir) = sort.split_once(':').unwrap_or((sort.as_str(), "ASC"));
        let desc = dir.eq_ignore_ascii_case("DESC");
        match field {
            "name" => all.sort_by(|a, b| a.name.cmp(&b.name)),
            "workflowName" => all.sort_by(|a, b| {
                a.start_workflow_request
                    .name
                    .cmp(&b.start_workflow_request.name)
            }),
            "createTime" => all.sort_by_key(|a| a.create_time),
            "updatedTime" | "updateTime" => all.sort_by_key(|a| a.updated_time),
            "nextRunTime" => all.sort_by_key(|a| a.next_run_time),
            other => {
                return Err(ApiError::bad_request(format!(
                    "query parameter 'sort': cannot sort schedules by '{other}' (name, workflowName, createTime, updatedTime, nextRunTime)"
                )))
            }
        }
        if desc {
            all.reverse();
        }
    }
    let total = all.len();
    let page: Vec<WorkflowSchedule> = all.into_iter().skip(start).take(size).collect();
    Ok(Json(
        serde_json::json!({"totalHits": total, "results": page}),
    ))
}

/// `*` matches any run of characters; otherwise the text must be equal.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// `GET /api/scheduler/search/executions?query=&start=0&size=100&sort=`: the workflows the
/// schedules started, as `WorkflowScheduleExecutionModel`s (state EXECUTED), newest first.
/// `query` takes `scheduleName` and `workflowName` with `=` or `IN`.
async fn executions(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<serde_json::Value>> {
    let start: usize = opt(&q, "start")?.unwrap_or(0);
    let size: usize = opt(&q, "size")?.unwrap_or(100);
    if size > 5000 {
        return Err(ApiError::bad_request(format!(
            "query parameter 'size' must be at most 5000, got {size}"
        )));
    }
    let mut names: Vec<String> = Vec::new();
    let mut workflows: Vec<String> = Vec::new();
    if let Some(query) = text(&q, "query") {
        for (field, op, values) in super::search_grammar::conditions(&query)? {
            match (field.as_str(), op) {
                ("scheduleName", "=" | "IN") => names.extend(values),
                ("workflowName" | "workflowType", "=" | "IN") => workflows.extend(values),
                (f, o) => {
                    return Err(ApiError::bad_request(format!(
                        "query: condition on '{f}' with '{o}' is not supported for schedule executions (scheduleName, workflowName with = or IN)"
                    )))
                }
            }
        }
    }
    let (total, found) = s
        .runtime
        .schedule_executions(&names, &workflows, start, size)
        .await?;
    let results: Vec<serde_json::Value> = found
        .iter()
        .map(|(schedule, w)| {
            let input = &w.input;
            serde_json::json!({
                "executionId": w.workflow_id,
                "scheduleName": schedule,
                "scheduledTime": input.get("_scheduledTime"),
                "executionTime": input.get("_executionTime"),
                "workflowName": w.workflow_name,
                "workflowId": w.workflow_id,
                "state": "EXECUTED",
                "startWorkflowRequest": {
                    "name": w.workflow_name,
                    "version": w.workflow_version,
                    "input": w.input,
                    "correlationId": w.correlation_id,
                },
            })
        })
        .collect();
    Ok(Json(
        serde_json::json!({"totalHits": total, "results": results}),
    ))
}

/// `PUT /api/scheduler/bulk/pause` with a JSON list of schedule names: a `BulkResponse`.
async fn bulk_pause(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
    JsonBody(names): JsonBody<Vec<String>>,
) -> ApiResult<Json<baton_model::BulkResponse>> {
    check_bulk(&s, &names)?;
    let reason = text(&q, "reason");
    let mut out = baton_model::BulkResponse::default();
    for n in names {
        match s.runtime.pause_schedule(&n, reason.clone()).await {
            Ok(()) => out.bulk_successful_results.push(n),
            Err(e) => {
                out.bulk_error_results.insert(n, e.to_string());
            }
        }
    }
    Ok(Json(out))
}

/// `PUT /api/scheduler/bulk/resume` with a JSON list of schedule names.
async fn bulk_resume(
    State(s): State<AppState>,
    JsonBody(names): JsonBody<Vec<String>>,
) -> ApiResult<Json<baton_model::BulkResponse>> {
    check_bulk(&s, &names)?;
    let mut out = baton_model::BulkResponse::default();
    for n in names {
        match s.runtime.resume_schedule(&n).await {
            Ok(()) => out.bulk_successful_results.push(n),
            Err(e) => {
                out.bulk_error_results.insert(n, e.to_string());
            }
        }
    }
    Ok(Json(out))
}

fn check_bulk(s: &AppState, names: &[String]) -> ApiResult<()> {
    let max = s.runtime.max_bulk_ids();
    if names.len() > max {
        return Err(ApiError::bad_request(format!(
            "Cannot process more than {max} schedules. Please use multiple requests."
        )));
    }
    Ok(())
}
