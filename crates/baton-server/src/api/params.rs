//! Query-parameter helpers: each parse error names the parameter.

use crate::error::ApiError;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::str::FromStr;

pub type QueryMap = HashMap<String, String>;

pub fn opt<T: FromStr>(q: &QueryMap, name: &str) -> Result<Option<T>, ApiError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(raw) => raw.parse::<T>().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter '{name}' has an invalid value '{raw}'"
            ))
        }),
    }
}

/// A boolean parameter. Case-insensitive: the Python SDK sends `True`/`False` on some calls.
pub fn flag(q: &QueryMap, name: &str, default: bool) -> Result<bool, ApiError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(raw) if raw.eq_ignore_ascii_case("true") => Ok(true),
        Some(raw) if raw.eq_ignore_ascii_case("false") => Ok(false),
        Some(raw) => Err(ApiError::bad_request(format!(
            "query parameter '{name}' must be true or false, got '{raw}'"
        ))),
    }
}

/// An optional boolean parameter (absent: None).
pub fn opt_flag(q: &QueryMap, name: &str) -> Result<Option<bool>, ApiError> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(_) => flag(q, name, false).map(Some),
    }
}

pub fn text(q: &QueryMap, name: &str) -> Option<String> {
    q.get(name).filter(|s| !s.is_empty()).cloned()
}

/// A bare id as `text/plain`, which the SDKs read for start and v1 update.
pub fn plain(body: String) -> Response {
    ([(CONTENT_TYPE, "text/plain")], body).into_response()
}
