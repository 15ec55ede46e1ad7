//! [`Outcome`]: what a worker made of a task, and how it becomes a `TaskResult`.

use baton_model::{JsonMap, Task, TaskExecLog, TaskResult, TaskResultStatus};
use std::time::Duration;

/// The result of one execution of a task.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The task succeeded; `output` becomes its `outputData`.
    Completed {
        /// The task's output.
        output: JsonMap,
    },
    /// The task failed; the server retries it if its definition allows.
    Failed {
        /// Why, shown as the task's `reasonForIncompletion`.
        reason: String,
        /// Output kept on the failed attempt (for diagnosis).
        output: JsonMap,
    },
    /// The task failed for good (`FAILED_WITH_TERMINAL_ERROR`): no retry.
    FailedTerminal {
        /// Why, shown as the task's `reasonForIncompletion`.
        reason: String,
        /// Output kept on the failed attempt.
        output: JsonMap,
    },
    /// Not done yet: the task goes back to the queue and is handed out again (to any worker
    /// of its type) after `callback_after`, with `output` as its current output. The way to
    /// split long work into steps and to publish progress.
    InProgress {
        /// Progress so far, visible in the task's output.
        output: JsonMap,
        /// When to hand the task out again.
        callback_after: Duration,
    },
}

impl Outcome {
    /// [`Outcome::Completed`] with `output`.
    pub fn completed(output: JsonMap) -> Self {
        Outcome::Completed { output }
    }

    /// [`Outcome::Completed`] with a JSON value: an object is the output as is, any other
    /// value is wrapped as `{"result": value}` (as the official SDKs do).
    pub fn completed_value(value: serde_json::Value) -> Self {
        Outcome::Completed {
            output: into_map(value),
        }
    }

    /// [`Outcome::Failed`] (retryable) with a reason and no output.
    pub fn failed(reason: impl Into<String>) -> Self {
        Outcome::Failed {
            reason: reason.into(),
            output: JsonMap::new(),
        }
    }

    /// [`Outcome::FailedTerminal`] (never retried) with a reason and no output.
    pub fn failed_terminal(reason: impl Into<String>) -> Self {
        Outcome::FailedTerminal {
            reason: reason.into(),
            output: JsonMap::new(),
        }
    }

    /// [`Outcome::InProgress`]: hand the task out again after `callback_after`.
    pub fn in_progress(output: JsonMap, callback_after: Duration) -> Self {
        Outcome::InProgress {
            output,
            callback_after,
        }
    }

    /// The `TaskResult` that reports this outcome for `task`, with `logs` appended.
    pub fn into_result(self, task: &Task, worker_id: &str, logs: Vec<TaskExecLog>) -> TaskResult {
        let (status, output, reason, callback) = match self {
            Outcome::Completed { output } => (TaskResultStatus::Completed, output, None, 0),
            Outcome::Failed { reason, output } => {
                (TaskResultStatus::Failed, output, Some(reason), 0)
            }
            Outcome::FailedTerminal { reason, output } => (
                TaskResultStatus::FailedWithTerminalError,
                output,
                Some(reason),
                0,
            ),
            Outcome::InProgress {
                output,
                callback_after,
            } => (
                TaskResultStatus::InProgress,
                output,
                None,
                // Rounded up: a sub-second delay still means "not immediately".
                i64::try_from(callback_after.as_millis().div_ceil(1000)).unwrap_or(i64::MAX),
            ),
        };
        let mut r = TaskResult::new(&task.workflow_instance_id, &task.task_id, status);
        r.output_data = Some(output);
        r.reason_for_incompletion = reason;
        r.callback_after_seconds = callback;
        r.worker_id = Some(worker_id.to_string());
        r.logs = logs;
        r
    }

    /// True for outcomes after which the task is finished (not [`Outcome::InProgress`]).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Outcome::InProgress { .. })
    }
}

/// An object as is; anything else as `{"result": value}`.
pub(crate) fn into_map(value: serde_json::Value) -> JsonMap {
    match value {
        serde_json::Value::Object(m) => m,
        other => {
            let mut m = JsonMap::new();
            m.insert("result".into(), other);
            m
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task() -> Task {
        Task {
            task_id: "t1".into(),
            workflow_instance_id: "w1".into(),
            ..Task::default()
        }
    }

    #[test]
    fn outcomes_map_to_conductor_results() {
        let r = Outcome::completed_value(json!(7)).into_result(&task(), "me", vec![]);
        assert_eq!(r.status, TaskResultStatus::Completed);
        assert_eq!(
            serde_json::to_value(&r.output_data).unwrap(),
            json!({"result": 7})
        );
        assert_eq!(r.worker_id.as_deref(), Some("me"));
        assert_eq!(
            (r.task_id.as_str(), r.workflow_instance_id.as_str()),
            ("t1", "w1")
        );

        let r = Outcome::failed_terminal("bad input").into_result(&task(), "me", vec![]);
        assert_eq!(r.status, TaskResultStatus::FailedWithTerminalError);
        assert_eq!(r.reason_for_incompletion.as_deref(), Some("bad input"));

        let r = Outcome::in_progress(JsonMap::new(), Duration::from_millis(1500)).into_result(
            &task(),
            "me",
            vec![],
        );
        assert_eq!(r.status, TaskResultStatus::InProgress);
        assert_eq!(r.callback_after_seconds, 2);
    }
}
