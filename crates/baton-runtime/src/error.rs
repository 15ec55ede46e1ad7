use baton_engine::validate::ValidationError;
use baton_store::StoreError;

/// What an operation can fail with; the HTTP layer maps each to a status code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404: an unknown workflow, task or definition.
    #[error("{0}")]
    NotFound(String),
    /// 409: the operation conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 400: a bad argument, named in the message.
    #[error("{0}")]
    Invalid(String),
    /// 400: a definition that fails validation.
    #[error("{}", summarize(.0))]
    Validation(Vec<ValidationError>),
    /// 500: the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn summarize(errors: &[ValidationError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("Validation failed: {}", parts.join("; "))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
