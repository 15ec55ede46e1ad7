//! Copying executions: one source execution becomes one commit of the target holding the
//! workflow row, its tasks, their queue entries and logs, its history and pending
//! follow-ups (see [`ExecutionRecord`]). Then it is read back and compared.

use super::record::{now_millis, ExecutionRecord};
use super::Tally;
use anyhow::Context;
use baton_store::{FollowUp, Store, WorkflowQuery};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Arc;

/// Most pending follow-ups read from the source (they are short-lived outbox rows).
const MAX_FOLLOW_UPS: usize = 100_000;

pub(crate) struct Report {
    pub tally: Tally,
    pub stopped_at_limit: bool,
    /// Executions that did not read back equal.
    pub mismatches: Vec<String>,
    /// Executions not copied, and why.
    pub notes: Vec<String>,
}

pub(crate) async fn copy_executions(
    from: &Arc<dyn Store>,
    to: &Arc<dyn Store>,
    limit: u64,
    page_size: usize,
) -> anyhow::Result<Report> {
    let mut follow_ups: HashMap<String, Vec<FollowUp>> = HashMap::new();
    for f in from.pending_follow_ups(MAX_FOLLOW_UPS).await? {
        follow_ups.entry(f.workflow_id.clone()).or_default().push(f);
    }
    let mut report = Report {
        tally: super::Tally::default(),
        stopped_at_limit: false,
        mismatches: Vec::new(),
        notes: Vec::new(),
    };
    let mut query = WorkflowQuery {
        limit: page_size,
        // Oldest first, ties by id: a stable order to page through.
        sort: Some(("startTime".into(), false)),
        ..Default::default()
    };
    let (total, _) = from
        .search_workflows(&WorkflowQuery {
            limit: 1,
            ..Default::default()
        })
        .await
        .context("counting executions")?;
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("executions {bar:40} {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    'pages: loop {
        let (_, page) = from.search_workflows(&query).await?;
        if page.is_empty() {
            break;
        }
        query.offset += page.len();
        for listed in page {
            if report.tally.moved >= limit {
                report.stopped_at_limit = true;
                break 'pages;
            }
            let id = listed.workflow_id;
            bar.inc(1);
            let Some(src) = ExecutionRecord::read(from, &id).await? else {
                continue; // removed since it was listed
            };
            if let Some(tgt) = ExecutionRecord::read(to, &id).await? {
                if tgt == src {
                    report.tally.unchanged += 1;
                    continue;
                }
                if tgt.progress() >= src.progress() {
                    report.tally.kept_newer += 1;
                    report.notes.push(format!(
                        "{id}: the target's copy is as new or newer (updated {} vs {}); not overwritten",
                        tgt.progress().0,
                        src.progress().0
                    ));
                    continue;
                }
                // The source progressed since an earlier copy: replace it whole.
                to.remove_workflow(&id).await?;
                to.delete_history(&id).await?;
            }
            let pending = follow_ups.remove(&id).unwrap_or_default();
            let Some(commit) = src.commit(pending, now_millis(), to.task_text_bytes())? else {
                report
                    .notes
                    .push(format!("{id}: no definition stored with it; skipped"));
                continue;
            };
            to.commit(commit)
                .await
                .with_context(|| format!("copying execution {id}"))?;
            report.tally.moved += 1;
            if ExecutionRecord::read(to, &id).await?.as_ref() == Some(&src) {
                report.tally.verified += 1;
            } else {
                report.mismatches.push(id);
            }
        }
    }
    bar.finish_and_clear();
    Ok(report)
}
