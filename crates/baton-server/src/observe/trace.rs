//! The per-request layers: request id, tracing span, error logging and HTTP metrics.
//!
//! Order, outermost first: a request id is taken from the client's `x-request-id` (when it is
//! short and plain) or made up; the `TraceLayer` span carries it, so every log line of the
//! request's work names it; the id is copied to the response; the metrics layer counts the
//! answer by route template. A failed request is logged once, here, with the detail the
//! handler left in the response (clients only see a fixed message for 5xx).

use crate::error::ErrorDetail;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Response};
use axum::middleware::Next;
use baton_runtime::metrics::Metrics;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// Longest client-sent request id kept; longer or unusual ones are replaced.
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// Makes ids for requests that came without a usable one: time-ordered UUIDs.
#[derive(Clone, Copy, Default)]
struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
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

async fn drop_unusable_request_id(mut req: Request, next: Next) -> axum::response::Response {
    if let Some(v) = req.headers().get(REQUEST_ID) {
        if !usable_client_id(v) {
            req.headers_mut().remove(REQUEST_ID);
        }
    }
    next.run(req).await
}

const REQUEST_ID: &str = "x-request-id";

fn route_of<B>(req: &axum::http::Request<B>) -> &str {
    req.extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched")
}

fn make_span<B>(req: &axum::http::Request<B>) -> Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // The route template, never the path: paths carry ids and user-chosen names.
    tracing::info_span!(
        "request",
        request_id = id,
        method = %req.method(),
        route = route_of(req),
        key_id = tracing::field::Empty
    )
}

fn on_response<B>(res: &Response<B>, latency: Duration, _: &Span) {
    let status = res.status();
    let detail = res.extensions().get::<ErrorDetail>().map(|d| d.0.as_str());
    let ms = latency.as_secs_f64() * 1000.0;
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

async fn count(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> axum::response::Response {
    let method = req.method().as_str().to_string();
    let route = route_of(&req).to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    metrics.http_request(&method, &route, res.status().as_u16(), started.elapsed());
    res
}

/// Applies the request id, tracing and metrics layers to `router`.
pub(crate) fn layer<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    metrics: Arc<Metrics>,
) -> axum::Router<S> {
    // `Router::layer` wraps every route, so the matched route template is known inside.
    // Added innermost first.
    router
        .layer(axum::middleware::from_fn_with_state(metrics, count))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_request(())
                .on_response(on_response)
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeId))
        .layer(axum::middleware::from_fn(drop_unusable_request_id))
}
