//! The web UI: plain ES modules and CSS (no build step, no Node), embedded in the binary and
//! served by the same server as the API. Everything the UI does goes through the public API
//! (`/api/...`) and its live feed (`/api/events/stream`); this crate only serves files.
//!
//! `GET /` answers `index.html`, which loads the assets from `/ui/<build>/...`, `<build>`
//! being a hash of every embedded file. Those URLs change whenever any asset does, so they
//! are cached for a year (`immutable`); `index.html` itself is revalidated on every load.
//! Every answer carries a strict Content-Security-Policy: same-origin scripts, styles,
//! images and connections only, no inline script, no framing.

mod assets;

use assets::Asset;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use assets::{asset_names, build_id, content_type};

/// Same-origin only; `'unsafe-inline'` nowhere (the UI sets styles through the CSSOM, which
/// CSP allows, never through style attributes).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Cache-Control of assets under the current build prefix.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of the page and of assets asked for under an older build prefix.
const REVALIDATE: &str = "no-cache";

/// The UI's routes: `/` and `/ui/{build}/{file}`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{build}/{*file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    let page = assets::index_page();
    respond(page, REVALIDATE, &headers)
}

async fn asset(Path((build, file)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(found) = assets::get(&file) else {
        return not_found(&file);
    };
    // An older page may still ask under its own build prefix: answer the current file, but
    // let it be revalidated rather than pinned for a year.
    let cache = if build == build_id() {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    respond(found, cache, &headers)
}

fn respond(a: &Asset, cache: &'static str, request: &HeaderMap) -> Response {
    let etag = HeaderValue::from_str(&a.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            )],
            a.body.clone(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    security_headers(h);
    response
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn not_found(file: &str) -> Response {
    // Conductor's error shape, as the API answers; the name is echoed as JSON, not markup.
    let body = format!(
        "{{\"status\":404,\"message\":{},\"instance\":\"baton\",\"retryable\":false}}",
        json_string(&format!("no UI asset named '{file}'"))
    );
    let mut response = (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    security_headers(response.headers_mut());
    response
}

/// A JSON string literal (the only JSON this crate writes, so no serde dependency).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
