//! [`Worker`]: the code that turns a task into an [`Outcome`].

use crate::context::TaskContext;
use crate::outcome::Outcome;
use async_trait::async_trait;
use baton_model::Task;
use std::future::Future;

/// Executes tasks of the types it is registered for (see [`crate::Runner::register`]).
///
/// A worker is shared by every execution of its types, which may run at once (up to the
/// configured concurrency), so it takes `&self`. Panics are caught and reported as a
/// retryable failure of that task.
#[async_trait]
pub trait Worker: Send + Sync + 'static {
    /// Runs one task. `ctx` appends to the task's log and extends its lease.
    async fn execute(&self, task: Task, ctx: TaskContext) -> Outcome;
}

/// A [`Worker`] made from an async function or closure; see [`worker_fn`].
pub struct FnWorker<F> {
    f: F,
}

/// Wraps `f(task, ctx) -> impl Future<Output = Outcome>` as a [`Worker`].
///
/// ```
/// use baton_worker::{worker_fn, Outcome};
/// let greet = worker_fn(|task, _ctx| async move {
///     let who = task.input_data.get("who").and_then(|v| v.as_str()).unwrap_or("world");
///     Outcome::completed_value(serde_json::json!({ "greeting": format!("hello {who}") }))
/// });
/// # let _ = greet;
/// ```
pub fn worker_fn<F, Fut>(f: F) -> FnWorker<F>
where
    F: Fn(Task, TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    FnWorker { f }
}

#[async_trait]
impl<F, Fut> Worker for FnWorker<F>
where
    F: Fn(Task, TaskContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    async fn execute(&self, task: Task, ctx: TaskContext) -> Outcome {
        (self.f)(task, ctx).await
    }
}
