//! Cron schedules that start workflows: the stored model.
//!
//! The JSON shape follows the Orkes scheduler (`WorkflowSchedule` / `SaveScheduleRequest`) so
//! the SDKs' scheduler clients work, plus Baton's `catchupPolicy` and the computed
//! `nextRunTime`. Cron parsing and the firing loop live in `baton-runtime` (`scheduler.rs`).

use crate::Millis;
use baton_model::StartWorkflowRequest;
use serde::{Deserialize, Serialize};

/// What to do with due times that passed while no node was running the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CatchupPolicy {
    /// Missed times are skipped; a run is started only if the latest due time is at most a
    /// minute old.
    None,
    /// All missed times together start one run (the default).
    #[default]
    One,
    /// Every missed time starts its own run (at most 100 per scheduler tick).
    All,
}

impl CatchupPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            CatchupPolicy::None => "NONE",
            CatchupPolicy::One => "ONE",
            CatchupPolicy::All => "ALL",
        }
    }
}

fn utc() -> String {
    "UTC".to_string()
}

/// A named cron schedule. `nextRunTime` is not part of the stored JSON: the store keeps it in
/// its own column (the claim token of the next run) and fills it in when reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSchedule {
    pub name: String,
    /// 6-field (seconds first, Spring/Quartz style) or 5-field (standard cron) expression.
    pub cron_expression: String,
    pub start_workflow_request: StartWorkflowRequest,
    #[serde(default)]
    pub paused: bool,
    /// Why it was paused (`PUT .../pause?reason=`); cleared on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// No run before this time (epoch ms).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "baton_model::lenient::opt_i64"
    )]
    pub schedule_start_time: Option<Millis>,
    /// No run after this time (epoch ms).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "baton_model::lenient::opt_i64"
    )]
    pub schedule_end_time: Option<Millis>,
    /// `UTC` (default) or a fixed offset such as `+02:00`.
    #[serde(default = "utc")]
    pub zone_id: String,
    /// Baton's catch-up policy. When absent, the Orkes flag `runCatchupScheduleInstances`
    /// decides: true means ALL, false the default ONE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catchup_policy: Option<CatchupPolicy>,
    /// The Orkes flag; written back as `catchupPolicy == ALL`.
    #[serde(default)]
    pub run_catchup_schedule_instances: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(default)]
    pub create_time: Millis,
    #[serde(default)]
    pub updated_time: Millis,
    /// The next due time (epoch ms); `None` when the schedule has no more runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_time: Option<Millis>,
}

impl WorkflowSchedule {
    /// The catch-up policy in force (see [`WorkflowSchedule::catchup_policy`]).
    pub fn effective_catchup(&self) -> CatchupPolicy {
        self.catchup_policy
            .unwrap_or(if self.run_catchup_schedule_instances {
                CatchupPolicy::All
            } else {
                CatchupPolicy::One
            })
    }
}
