//! Status and policy enums. Every value serialises to a name the official SDKs know (§3.11):
//! an unknown enum value makes the Python SDK drop a whole response.

use serde::{Deserialize, Serialize};

/// Status of one task attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    #[default]
    Scheduled,
    InProgress,
    Completed,
    CompletedWithErrors,
    Failed,
    FailedWithTerminalError,
    TimedOut,
    Canceled,
    Skipped,
}

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskStatus::Scheduled | TaskStatus::InProgress)
    }
    /// Terminal and not a failure (SKIPPED and COMPLETED_WITH_ERRORS count as success).
    pub fn is_successful(self) -> bool {
        !matches!(
            self,
            TaskStatus::Failed
                | TaskStatus::FailedWithTerminalError
                | TaskStatus::TimedOut
                | TaskStatus::Canceled
        )
    }
    /// Whether the retry logic may create another attempt after this status.
    pub fn is_retriable(self) -> bool {
        !matches!(
            self,
            TaskStatus::FailedWithTerminalError | TaskStatus::Canceled | TaskStatus::Skipped
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Scheduled => "SCHEDULED",
            TaskStatus::InProgress => "IN_PROGRESS",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            TaskStatus::Failed => "FAILED",
            TaskStatus::FailedWithTerminalError => "FAILED_WITH_TERMINAL_ERROR",
            TaskStatus::TimedOut => "TIMED_OUT",
            TaskStatus::Canceled => "CANCELED",
            TaskStatus::Skipped => "SKIPPED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase())).ok()
    }
}

/// Status of a workflow execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowStatus {
    #[default]
    Running,
    Paused,
    Completed,
    Failed,
    TimedOut,
    Terminated,
}

impl WorkflowStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, WorkflowStatus::Running | WorkflowStatus::Paused)
    }
    pub fn is_successful(self) -> bool {
        matches!(self, WorkflowStatus::Paused | WorkflowStatus::Completed)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Running => "RUNNING",
            WorkflowStatus::Paused => "PAUSED",
            WorkflowStatus::Completed => "COMPLETED",
            WorkflowStatus::Failed => "FAILED",
            WorkflowStatus::TimedOut => "TIMED_OUT",
            WorkflowStatus::Terminated => "TERMINATED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase())).ok()
    }
}

/// The statuses a worker may report in a `TaskResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskResultStatus {
    InProgress,
    Completed,
    Failed,
    FailedWithTerminalError,
    Canceled,
}

impl From<TaskResultStatus> for TaskStatus {
    fn from(s: TaskResultStatus) -> Self {
        match s {
            TaskResultStatus::InProgress => TaskStatus::InProgress,
            TaskResultStatus::Completed => TaskStatus::Completed,
            TaskResultStatus::Failed => TaskStatus::Failed,
            TaskResultStatus::FailedWithTerminalError => TaskStatus::FailedWithTerminalError,
            TaskResultStatus::Canceled => TaskStatus::Canceled,
        }
    }
}

impl TaskResultStatus {
    /// Parses a path segment such as `COMPLETED`; task statuses map as Conductor does
    /// (COMPLETED_WITH_ERRORS, TIMED_OUT, SKIPPED → FAILED; SCHEDULED → IN_PROGRESS).
    pub fn parse_lenient(s: &str) -> Option<Self> {
        let upper = s.to_ascii_uppercase();
        if let Ok(v) = serde_json::from_value(serde_json::Value::String(upper.clone())) {
            return Some(v);
        }
        match upper.as_str() {
            "COMPLETED_WITH_ERRORS" | "TIMED_OUT" | "SKIPPED" => Some(TaskResultStatus::Failed),
            "SCHEDULED" => Some(TaskResultStatus::InProgress),
            _ => None,
        }
    }
}

/// What happens when a task's `timeoutSeconds` (or poll timeout) trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeoutPolicy {
    Retry,
    #[default]
    TimeOutWf,
    AlertOnly,
}

/// What happens when a workflow's `timeoutSeconds` trips. Defaults to ALERT_ONLY, which the
/// SDK builders rely on (they emit `timeoutSeconds: 60` without a policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowTimeoutPolicy {
    TimeOutWf,
    #[default]
    AlertOnly,
}

/// How the delay before a retry grows with the attempt number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryLogic {
    #[default]
    Fixed,
    ExponentialBackoff,
    LinearBackoff,
}

/// What a start with an already used `idempotencyKey` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdempotencyStrategy {
    Fail,
    ReturnExisting,
    FailOnRunning,
}
