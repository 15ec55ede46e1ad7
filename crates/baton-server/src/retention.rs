//! Retention: ended executions older than a configured age leave the database, archived
//! (compressed JSON lines, one file per day of their end time) or deleted, by policy.
//!
//! It works in small batches (`batch` executions, the oldest first) with a pause between
//! batches, so it never holds the store for long: on SQLite the reads use reader
//! connections and each removal is one small write job among the others; on PostgreSQL
//! each is its own short transaction. The archive of a batch is written and fsynced before
//! any of its executions is deleted, so a crash between the two can repeat a line in an
//! archive (readers keep the last line per `workflowId`) but never loses an execution.

use baton_runtime::Runtime;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What happens to an execution past the age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionPolicy {
    /// Appended to `DIR/baton-archive-YYYY-MM-DD.jsonl.gz` (UTC day of its end), then deleted.
    Archive { dir: PathBuf },
    /// Deleted with its history.
    Delete,
}

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Ended executions whose end time is older than this are removed.
    pub max_age: Duration,
    pub policy: RetentionPolicy,
    /// Executions per batch.
    pub batch: usize,
    /// Pause between two full batches.
    pub pause: Duration,
    /// Pause once nothing is left past the age.
    pub interval: Duration,
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Executions found past the age.
    pub found: usize,
    /// Of those, written to an archive file.
    pub archived: usize,
    /// Of those, deleted from the store.
    pub deleted: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("retention: {0}")]
    Runtime(#[from] baton_runtime::Error),
    #[error("retention: {0}")]
    Store(#[from] baton_store::StoreError),
    #[error("retention: writing the archive {path}: {error}")]
    Archive { path: String, error: std::io::Error },
}

/// The archive file of executions that ended on `end_millis`'s UTC day.
pub fn archive_file_name(end_millis: i64) -> String {
    let day = chrono::DateTime::from_timestamp_millis(end_millis)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "unknown-day".to_string());
    format!("baton-archive-{day}.jsonl.gz")
}

/// Runs one batch at the runtime's clock: finds at most `config.batch` ended executions past
/// the age and archives and deletes them (or deletes them).
pub async fn sweep_once(
    runtime: &Runtime,
    config: &RetentionConfig,
) -> Result<SweepReport, RetentionError> {
    let age = i64::try_from(config.max_age.as_millis()).unwrap_or(i64::MAX);
    let cutoff = runtime.now().saturating_sub(age);
    let store = runtime.store();
    let ids = store.finished_before(cutoff, config.batch).await?;
    let mut report = SweepReport {
        found: ids.len(),
        ..Default::default()
    };
    if ids.is_empty() {
        return Ok(report);
    }
    if let RetentionPolicy::Archive { dir } = &config.policy {
        // Lines grouped by archive file, in end-time order.
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for id in &ids {
            let Some(state) = store.load_workflow(id).await? else {
                continue; // removed meanwhile (by another node or an operator)
            };
            let history = store.history(id).await?;
            let mut workflow = state.workflow;
            workflow.tasks = state.tasks;
            let line = serde_json::json!({"workflow": workflow, "history": history});
            let buf = files
                .entry(archive_file_name(workflow.end_time))
                .or_default();
            // Serialising a `Value` built from model types does not fail.
            serde_json::to_writer(&mut *buf, &line).unwrap_or_default();
            buf.push(b'\n');
            report.archived += 1;
        }
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || append_archives(&dir, files))
            .await
            .map_err(|e| RetentionError::Archive {
                path: "(archive writer)".into(),
                error: std::io::Error::other(e.to_string()),
            })??;
    }
    for id in &ids {
        match runtime.remove_workflow_archiving(id, false).await {
            Ok(()) => report.deleted += 1,
            Err(baton_runtime::Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

/// Appends each file's lines as one more gzip member (a gzip file may hold several; `zcat`
/// and multi-member decoders read them as one stream), then fsyncs it.
fn append_archives(
    dir: &std::path::Path,
    files: BTreeMap<String, Vec<u8>>,
) -> Result<(), RetentionError> {
    let fail = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |error| RetentionError::Archive {
            path: path.clone(),
            error,
        }
    };
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    for (name, lines) in files {
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(fail(&path))?;
        let mut gz = GzEncoder::new(file, Compression::default());
        gz.write_all(&lines).map_err(fail(&path))?;
        let file = gz.finish().map_err(fail(&path))?;
        file.sync_all().map_err(fail(&path))?;
    }
    Ok(())
}

/// Sweeps until `cancel`: batch after batch while executions are past the age, then every
/// `interval`. Errors are logged and retried at the next interval.
pub async fn run(runtime: Arc<Runtime>, config: RetentionConfig, cancel: CancellationToken) {
    loop {
        let pause = match sweep_once(&runtime, &config).await {
            Ok(r) if r.found >= config.batch => {
                tracing::debug!(
                    archived = r.archived,
                    deleted = r.deleted,
                    "retention batch"
                );
                config.pause
            }
            Ok(r) => {
                if r.found > 0 {
                    tracing::info!(
                        archived = r.archived,
                        deleted = r.deleted,
                        "retention batch"
                    );
                }
                config.interval
            }
            Err(e) => {
                tracing::warn!("{e}; retrying in {:?}", config.interval);
                config.interval
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
