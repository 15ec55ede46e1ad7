//! `baton server` / `baton start` flags for retention (README, Retention): off unless
//! `--retention-days` is given.

use baton_server::retention::{RetentionConfig, RetentionPolicy};
use clap::ValueEnum;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Policy {
    /// Append to a compressed JSON-lines file per day under --archive-dir, then delete.
    Archive,
    /// Delete with the history.
    Delete,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RetentionArgs {
    /// Remove ended executions (COMPLETED, FAILED, TIMED_OUT, TERMINATED) whose end is older
    /// than this many days [default: off, everything is kept].
    #[arg(long, env = "BATON_RETENTION_DAYS",
          value_parser = clap::value_parser!(u64).range(1..=36_500))]
    retention_days: Option<u64>,
    /// What retention does with them.
    #[arg(long, env = "BATON_RETENTION_POLICY", value_enum, default_value_t = Policy::Archive)]
    retention_policy: Policy,
    /// Where `archive` writes `baton-archive-YYYY-MM-DD.jsonl.gz` (one per UTC day of end).
    #[arg(long, env = "BATON_ARCHIVE_DIR", default_value = "baton-archive")]
    archive_dir: PathBuf,
    /// Executions removed per retention batch.
    #[arg(long, env = "BATON_RETENTION_BATCH", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    retention_batch: u64,
    /// Pause between two full retention batches, in ms (keeps the store free for the hot path).
    #[arg(long, env = "BATON_RETENTION_PAUSE_MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(0..=600_000))]
    retention_pause_ms: u64,
    /// How often retention looks for executions past the age once it has caught up, in seconds.
    #[arg(long, env = "BATON_RETENTION_INTERVAL_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    retention_interval_secs: u64,
}

impl RetentionArgs {
    pub(crate) fn config(&self) -> Option<RetentionConfig> {
        let days = self.retention_days?;
        Some(RetentionConfig {
            max_age: Duration::from_secs(days.saturating_mul(86_400)),
            policy: match self.retention_policy {
                Policy::Archive => RetentionPolicy::Archive {
                    dir: self.archive_dir.clone(),
                },
                Policy::Delete => RetentionPolicy::Delete,
            },
            batch: usize::try_from(self.retention_batch).unwrap_or(100),
            pause: Duration::from_millis(self.retention_pause_ms),
            interval: Duration::from_secs(self.retention_interval_secs),
        })
    }
}
