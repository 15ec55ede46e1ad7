//! Worker keys limited to some task types: the handlers of the worker protocol and of task
//! and queue reads ask a [`TaskScope`] whether the caller may touch a type. The role check in
//! the middleware comes first; this narrows what a role already allows.

use super::Principal;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use std::convert::Infallible;
use std::sync::Arc;

/// The task types the caller may work on: every type when auth is off or the key is not
/// limited.
#[derive(Debug, Clone, Default)]
pub struct TaskScope(Option<Arc<[String]>>);

impl<S: Send + Sync> FromRequestParts<S> for TaskScope {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(TaskScope(
            parts
                .extensions
                .get::<Principal>()
                .and_then(|p| p.task_types.clone()),
        ))
    }
}

impl TaskScope {
    /// A scope limited to `types` (for tests and callers outside a request).
    pub fn limited(types: Vec<String>) -> Self {
        TaskScope(Some(Arc::from(types)))
    }

    /// The types the key is limited to, or None for every type.
    pub fn types(&self) -> Option<&[String]> {
        self.0.as_deref()
    }

    pub fn allows(&self, task_type: &str) -> bool {
        self.types()
            .is_none_or(|types| types.iter().any(|t| t == task_type))
    }

    /// Whether the caller may see a queue (`[domain:]taskType`).
    pub fn allows_queue(&self, queue: &str) -> bool {
        self.allows(queue)
            || queue
                .split_once(':')
                .is_some_and(|(_, task_type)| self.allows(task_type))
    }

    /// 403 naming the type when the key may not work on `task_type`; nothing changes.
    pub fn check(&self, task_type: &str) -> Result<(), ApiError> {
        if self.allows(task_type) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this key may not work on task type '{task_type}'; it is limited to {}",
                self.types().unwrap_or_default().join(", ")
            ),
        ))
    }

    /// As [`TaskScope::check`], for a queue name.
    pub fn check_queue(&self, queue: &str) -> Result<(), ApiError> {
        if self.allows_queue(queue) {
            return Ok(());
        }
        let task_type = queue.split_once(':').map_or(queue, |(_, t)| t);
        self.check(task_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limited_scope_allows_its_types_in_any_domain_and_nothing_else() {
        let open = TaskScope::default();
        assert!(open.allows("anything") && open.check("x").is_ok());
        let s = TaskScope::limited(vec!["build".into(), "flash".into()]);
        assert!(s.allows("build") && s.allows("flash"));
        assert!(!s.allows("deploy") && !s.allows("buil"));
        assert!(s.allows_queue("lab:build") && !s.allows_queue("lab:deploy"));
        let err = s.check("deploy").unwrap_err();
        assert_eq!(err.status, StatusCode::FORBIDDEN);
        assert!(
            err.message.contains("'deploy'") && err.message.contains("build, flash"),
            "{}",
            err.message
        );
        assert!(s
            .check_queue("lab:deploy")
            .unwrap_err()
            .message
            .contains("'deploy'"));
    }
}
