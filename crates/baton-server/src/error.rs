//! The one HTTP error type: Conductor's `ErrorResponse` body with a message naming the problem.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use baton_engine::validate::ValidationError;
use baton_runtime::Error;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub validation_errors: Vec<ValidationError>,
    /// What the log should say beyond `message` (the cause of a 5xx); never sent to clients.
    pub detail: Option<String>,
}

/// Left in the response's extensions for the trace layer, which logs each failed request once.
#[derive(Debug, Clone)]
pub(crate) struct ErrorDetail(pub String);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    status: u16,
    message: &'a str,
    instance: &'static str,
    retryable: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    validation_errors: &'a [ValidationError],
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            validation_errors: Vec::new(),
            detail: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(m) => ApiError::not_found(m),
            Error::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            Error::Invalid(m) => ApiError::bad_request(m),
            Error::Validation(errors) => {
                let message = Error::Validation(errors.clone()).to_string();
                ApiError {
                    status: StatusCode::BAD_REQUEST,
                    message,
                    validation_errors: errors,
                    detail: None,
                }
            }
            Error::Store(baton_store::StoreError::Unavailable(detail)) => {
                tracing::warn!(%detail, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; retry later",
                )
            }
            Error::Store(inner) => {
                // The detail goes to the log (by the trace layer), not to the client.
                let mut e =
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal store error");
                e.detail = Some(format!("store error: {inner}"));
                e
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: self.status.as_u16(),
            message: &self.message,
            instance: "baton",
            retryable: self.status == StatusCode::SERVICE_UNAVAILABLE,
            validation_errors: &self.validation_errors,
        };
        let detail = self.detail.clone().unwrap_or_else(|| self.message.clone());
        let mut res = (self.status, axum::Json(body)).into_response();
        res.extensions_mut().insert(ErrorDetail(detail));
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_store::StoreError;

    #[test]
    fn an_unavailable_database_is_a_retryable_503_without_details() {
        let e = ApiError::from(Error::Store(StoreError::Unavailable(
            "error connecting to server: Connection refused".into(),
        )));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!e.message.contains("refused"), "{}", e.message);
        let other = ApiError::from(Error::Store(StoreError::Database("boom".into())));
        assert_eq!(other.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
