//! PostgreSQL errors in the store's terms: which are conflicts to retry, which mean
//! "already exists", and which mean the database is away for now (503, retryable).

use crate::StoreError;
use tokio_postgres::error::SqlState;

impl From<tokio_postgres::Error> for StoreError {
    /// Keeps the kind of error where the caller can act on it: a unique violation is
    /// "already exists", a serialization failure or deadlock a conflict to retry.
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(&SqlState::UNIQUE_VIOLATION) => StoreError::AlreadyExists(db_message(&e)),
            Some(&SqlState::T_R_SERIALIZATION_FAILURE) | Some(&SqlState::T_R_DEADLOCK_DETECTED) => {
                StoreError::Conflict(db_message(&e))
            }
            _ if unavailable(&e) => StoreError::Unavailable(db_message(&e)),
            _ => StoreError::Database(db_message(&e)),
        }
    }
}

/// Whether an error means the server cannot be reached now rather than that the operation
/// is wrong: a lost or refused connection, or the server shutting down or starting up.
fn unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        // Class 08 (connection exception), and 57P01-57P03 (shutdown, crash, starting up).
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(code);
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The server's message when there is one (tokio-postgres' Display says only "db error"),
/// else the error with its causes.
pub(super) fn db_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.code().code(), db.message());
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            deadpool_postgres::PoolError::Timeout(_) => {
                StoreError::Unavailable(format!("connection pool: {e}"))
            }
            other => StoreError::Database(format!("connection pool: {other}")),
        }
    }
}
