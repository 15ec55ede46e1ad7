//! Copying executions: one source execution becomes one commit of the target holding the
//! workflow row, its tasks, their queue entries and logs, its history and pending
//! follow-ups. Then it is read back and compared.

use super::Tally;
use anyhow::Context;
use baton_model::{HistoryEvent, QueueEntry, Task, TaskExecLog};
use baton_store::{Commit, FollowUp, Store, WorkflowQuery, WorkflowState, WorkflowWrite};
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

/// Everything of one execution that a copy carries, as both stores read it back.
#[derive(Debug, PartialEq)]
struct Snapshot {
    workflow: serde_json::Value,
    tasks: Vec<Task>,
    /// Ids are the store's own numbering; they are zeroed for comparing.
    history: Vec<HistoryEvent>,
    queue: Vec<QueueEntry>,
    logs: Vec<TaskExecLog>,
}

impl Snapshot {
    async fn read(store: &Arc<dyn Store>, state: &WorkflowState) -> anyhow::Result<Snapshot> {
        let id = &state.workflow.workflow_id;
        let mut history = store.history(id).await?;
        for event in &mut history {
            event.id = 0;
        }
        let mut logs = Vec::new();
        for task in &state.tasks {
            logs.extend(store.task_logs(&task.task_id).await?);
        }
        let mut workflow = state.workflow.clone();
        workflow.workflow_definition = None;
        Ok(Snapshot {
            workflow: serde_json::to_value(&workflow)?,
            tasks: state.tasks.clone(),
            history,
            queue: store.queue_entries(id).await?,
            logs,
        })
    }

    /// How far the execution has progressed: its last update (of the row or of any task,
    /// since claims change tasks only) and the length of its history.
    fn progress(&self, state: &WorkflowState) -> (i64, usize) {
        let last_task = state.tasks.iter().map(|t| t.update_time).max().unwrap_or(0);
        (
            state.workflow.update_time.max(last_task),
            self.history.len(),
        )
    }
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
        tally: Tally::default(),
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
            let Some(source) = from.load_workflow(&id).await? else {
                continue; // removed since it was listed
            };
            let src = Snapshot::read(from, &source).await?;
            if let Some(target) = to.load_workflow(&id).await? {
                let tgt = Snapshot::read(to, &target).await?;
                if tgt == src {
                    report.tally.unchanged += 1;
                    continue;
                }
                if tgt.progress(&target) >= src.progress(&source) {
                    report.tally.kept_newer += 1;
                    report.notes.push(format!(
                        "{id}: the target's copy is as new or newer (updated {} vs {}); not overwritten",
                        tgt.progress(&target).0,
                        src.progress(&source).0
                    ));
                    continue;
                }
                // The source progressed since an earlier copy: replace it whole.
                to.remove_workflow(&id).await?;
                to.delete_history(&id).await?;
            }
            let pending = follow_ups.remove(&id).unwrap_or_default();
            to.commit(import_commit(&source, &src, pending))
                .await
                .with_context(|| format!("copying execution {id}"))?;
            report.tally.moved += 1;
            let back = match to.load_workflow(&id).await? {
                Some(state) => Some(Snapshot::read(to, &state).await?),
                None => None,
            };
            if back.as_ref() == Some(&src) {
                report.tally.verified += 1;
            } else {
                report.mismatches.push(id);
            }
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

/// One commit inserting the execution as the source holds it. A running one is due at once
/// on the target, so its timers and leases are recomputed there by the decider.
fn import_commit(state: &WorkflowState, snap: &Snapshot, follow_ups: Vec<FollowUp>) -> Commit {
    let running = !state.workflow.status.is_terminal();
    let mut history = snap.history.clone();
    for event in &mut history {
        event.id = 0;
    }
    let mut workflow = state.workflow.clone();
    workflow.workflow_definition = None;
    Commit {
        workflows: vec![WorkflowWrite {
            workflow,
            def: state.def.clone(),
            expected_version: None,
            tasks: state.tasks.clone(),
            removed_tasks: vec![],
            queue_push: snap.queue.clone(),
            queue_remove: vec![],
            history,
            next_wake_at: running.then(now_millis),
            keep_input: false,
        }],
        logs: snap.logs.clone(),
        follow_ups,
        ..Default::default()
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
