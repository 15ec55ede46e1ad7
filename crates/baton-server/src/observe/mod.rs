//! What the server tells about itself: a span per request carrying its request id (returned
//! in `x-request-id`), one log line per failed request, HTTP metrics, and `/metrics`. The
//! per-request layer also admits the request (authentication, [`crate::auth::admit`]).

mod trace;

pub(crate) use trace::{layer, RequestLayer};

use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// `GET /metrics`: every metric in the Prometheus text format (version 0.0.4).
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let body = state.runtime.render_metrics().await?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body))
}
