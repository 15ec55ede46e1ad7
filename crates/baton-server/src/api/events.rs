//! `/api/event`: event handlers (§2.11), and `GET /api/event/published`, the messages
//! published to Baton's own event sink (a Baton extension).
//!
//! `published` is a fixed path segment, so it shadows a handler *event* named exactly
//! `published` on `GET /api/event/{event}` (event names are `<provider>:<queue>` in practice).

use super::params::{flag, opt, text, QueryMap};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::Json;
use baton_model::{EventHandler, PublishedEvent};

type ApiResult<T> = Result<T, ApiError>;

/// Default and largest `limit` of `GET /api/event/published`.
const DEFAULT_PUBLISHED_LIMIT: usize = 100;
const MAX_PUBLISHED_LIMIT: usize = 1000;

pub async fn create(
    State(s): State<AppState>,
    JsonBody(handler): JsonBody<EventHandler>,
) -> ApiResult<()> {
    Ok(s.runtime.create_event_handler(handler).await?)
}

pub async fn update(
    State(s): State<AppState>,
    JsonBody(handler): JsonBody<EventHandler>,
) -> ApiResult<()> {
    Ok(s.runtime.update_event_handler(handler).await?)
}

pub async fn list(State(s): State<AppState>) -> ApiResult<Json<Vec<EventHandler>>> {
    Ok(Json(s.runtime.list_event_handlers().await?))
}

/// `GET /api/event/{event}?activeOnly=true`.
pub async fn for_event(
    State(s): State<AppState>,
    Path(event): Path<String>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Vec<EventHandler>>> {
    let active_only = flag(&q, "activeOnly", true)?;
    Ok(Json(
        s.runtime.event_handlers_for(&event, active_only).await?,
    ))
}

pub async fn delete(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<()> {
    Ok(s.runtime.delete_event_handler(&name).await?)
}

/// `GET /api/event/published?event=<queue>&limit=<n>`: newest first; `limit` 1..=1000
/// (default 100).
pub async fn published(
    State(s): State<AppState>,
    Query(q): Query<QueryMap>,
) -> ApiResult<Json<Vec<PublishedEvent>>> {
    let limit = opt::<usize>(&q, "limit")?.unwrap_or(DEFAULT_PUBLISHED_LIMIT);
    if !(1..=MAX_PUBLISHED_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "query parameter 'limit' must be between 1 and {MAX_PUBLISHED_LIMIT}, got {limit}"
        )));
    }
    let event = text(&q, "event");
    Ok(Json(
        s.runtime.published_events(event.as_deref(), limit).await?,
    ))
}
