//! The per-request layer: request id, tracing span, authentication, error logging and HTTP
//! metrics, in one middleware.
//!
//! A request id is taken from the client's `x-request-id` (when it is short and plain) or
//! made up; the request's span carries it, so every log line of the request's work names it;
//! the id is copied to the response; the answer is counted by route template. A failed
//! request is logged once, here, with the detail the handler left in the response (clients
//! only see a fixed message for 5xx).
//!
//! One function rather than a stack of layers: each `from_fn` layer clones and boxes the
//! service beneath it on every request, so a stack of them costs on every request.

use crate::auth::{self, Auth};
use crate::error::ErrorDetail;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use baton_runtime::metrics::Metrics;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Longest client-sent request id kept; longer or unusual ones are replaced.
const MAX_CLIENT_REQUEST_ID: usize = 128;

const REQUEST_ID: &str = "x-request-id";

/// What the per-request layer needs.
#[derive(Clone)]
pub(crate) struct RequestLayer {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) auth: Arc<Auth>,
}

/// A client id is kept only if it is short and made of `[A-Za-z0-9._:-]`, so it cannot
/// bloat or garble log lines.
fn usable_client_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_CLIENT_REQUEST_ID
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

/// The client's request id when usable, else a new time-ordered UUID; set on the request
/// for the handlers.
fn request_id(req: &mut Request) -> HeaderValue {
    if let Some(v) = req
        .headers()
        .get(REQUEST_ID)
        .filter(|v| usable_client_id(v))
    {
        return v.clone();
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let made = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf);
    // A hyphenated UUID is always a valid header value.
    let id = HeaderValue::from_str(made).unwrap_or_else(|_| HeaderValue::from_static("-"));
    req.headers_mut().insert(REQUEST_ID, id.clone());
    id
}

async fn per_request(State(layer): State<RequestLayer>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&mut req);
    // The route template, never the path: paths carry ids and user-chosen names.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or("-"),
        method = method.as_str(),
        route,
        key_id = tracing::field::Empty
    );
    let mut res = async {
        match auth::admit(&layer.auth, route, &mut req).await {
            Ok(()) => next.run(req).await,
            Err(refused) => refused,
        }
    }
    .instrument(span.clone())
    .await;
    let took = started.elapsed();
    let status = res.status();
    layer
        .metrics
        .http_request(method.as_str(), route, status.as_u16(), took);
    span.in_scope(|| log_outcome(&res, status, took.as_secs_f64() * 1000.0));
    res.headers_mut().entry(REQUEST_ID).or_insert(id);
    res
}

fn log_outcome(res: &Response, status: StatusCode, ms: f64) {
    let detail = res.extensions().get::<ErrorDetail>().map(|d| d.0.as_str());
    if status.is_server_error() {
        tracing::error!(
            status = status.as_u16(),
            ms,
            error = detail.unwrap_or(""),
            "request failed"
        );
    } else if status.is_client_error() {
        tracing::info!(
            status = status.as_u16(),
            ms,
            error = detail.unwrap_or(""),
            "request refused"
        );
    } else {
        tracing::debug!(status = status.as_u16(), ms, "request done");
    }
}

/// Applies the per-request layer to `router` (every route and the fallback).
pub(crate) fn layer<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    state: RequestLayer,
) -> axum::Router<S> {
    // `Router::layer` wraps every route, so the matched route template is known inside.
    router.layer(axum::middleware::from_fn_with_state(state, per_request))
}
