//! The multi-row statements a group of commits is written with (ADR 23): one per table and
//! kind of write, taking every commit's rows as column arrays (`unnest`), so a group of any
//! size costs the same dozen statements.

use super::commit_rows::{PreparedCommit, QueueRow, TaskRow, WorkflowRow};
use super::write::{column, count, Expect, Param, Pipeline};
use crate::{Millis, Result, StoreError};
use std::collections::HashMap;

type Tx<'t> = deadpool_postgres::Transaction<'t>;

/// Appends task log lines (their order is kept in their ids).
pub(super) const INSERT_LOGS: &str = "INSERT INTO task_logs (task_id, log, created_time)
     SELECT t, l, c FROM unnest($1::text[], $2::text[], $3::bigint[])
         WITH ORDINALITY AS u(t, l, c, n) ORDER BY n";

/// The seventeen columns a workflow row is written with, in the order of the statements below.
fn workflow_columns<'a>(rows: &[&'a WorkflowRow]) -> Vec<Param<'a>> {
    vec![
        Box::new(column(rows, |r| r.id.as_str())),
        Box::new(column(rows, |r| r.name.as_str())),
        Box::new(column(rows, |r| r.def_version)),
        Box::new(column(rows, |r| r.status.as_str())),
        Box::new(column(rows, |r| r.correlation_id.as_deref())),
        Box::new(column(rows, |r| r.idempotency_key.as_deref())),
        Box::new(column(rows, |r| r.parent_workflow_id.as_deref())),
        Box::new(column(rows, |r| r.start_time)),
        Box::new(column(rows, |r| r.update_time)),
        Box::new(column(rows, |r| r.end_time)),
        Box::new(column(rows, |r| r.priority)),
        Box::new(column(rows, |r| r.def_hash.as_str())),
        Box::new(column(rows, |r| r.next_wake_at)),
        Box::new(column(rows, |r| r.json.as_str())),
        Box::new(column(rows, |r| r.input_json.as_deref())),
        Box::new(column(rows, |r| r.state_text.as_str())),
        Box::new(column(rows, |r| r.classifier.as_str())),
    ]
}

const WORKFLOW_ARRAYS: &str = "unnest($1::text[], $2::text[], $3::integer[], $4::text[],
         $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[],
         $11::integer[], $12::text[], $13::bigint[], $14::text[], $15::text[], $16::text[],
         $17::text[]";
const WORKFLOW_NAMES: &str =
    "u(id, name, v, st, corr, idem, parent, started, updated, ended, prio, hash, wake, j, i, state,
         cls";

/// The search document of a workflow (migration 7) from the columns of [`TEXT_NAMES`], with
/// `input` the SQL of its input's text: id, correlation id, type, status, input, output and
/// reason, one per line, in lower case (migration 14: free text folds only its own case).
fn document(input: &str) -> String {
    format!(
        "lower(u.id || E'\\n' || COALESCE(u.corr, '') || E'\\n' || u.name || E'\\n' || u.st
             || E'\\n' || {input} || E'\\n' || u.state)"
    )
}

/// The search key of a workflow's document (migration 16) from the columns of
/// [`TEXT_NAMES`], with `input` the SQL of its input's key, in lower case as the document
/// is.
fn document_key(input: &str) -> String {
    format!("lower(u.kh || {input} || u.kt)")
}

/// The ten columns a workflow's search document (migration 14) and its key (migration 16)
/// are written from.
fn text_columns<'a>(rows: &[&'a WorkflowRow]) -> Vec<Param<'a>> {
    vec![
        Box::new(column(rows, |r| r.id.as_str())),
        Box::new(column(rows, |r| r.correlation_id.as_deref())),
        Box::new(column(rows, |r| r.name.as_str())),
        Box::new(column(rows, |r| r.status.as_str())),
        Box::new(column(rows, |r| r.input_json.as_deref())),
        Box::new(column(rows, |r| r.state_text.as_str())),
        Box::new(column(rows, |r| r.start_time)),
        Box::new(column(rows, |r| r.key_head.as_str())),
        Box::new(column(rows, |r| r.key_input.as_deref())),
        Box::new(column(rows, |r| r.key_tail.as_str())),
    ]
}

const TEXT_ARRAYS: &str = "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
         $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[]";
const TEXT_NAMES: &str = "u(id, corr, name, st, i, state, started, kh, ki, kt";

/// New workflows, then updates of locked and checked ones. Either changing fewer rows
/// than it names means a check did not hold: the group is rolled back.
pub(super) async fn plan_workflows<'a>(
    tx: &Tx<'_>,
    group: &[&'a PreparedCommit],
    writes: &mut Pipeline<'a>,
) -> Result<()> {
    let (new, updated): (Vec<&WorkflowRow>, Vec<&WorkflowRow>) = group
        .iter()
        .flat_map(|p| &p.workflows)
        .partition(|w| w.expected_version.is_none());
    if let Some(first) = new.first() {
        let stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO workflows (workflow_id, name, def_version, status,
                     correlation_id, idempotency_key, parent_workflow_id, start_time,
                     update_time, end_time, priority, def_hash, next_wake_at, json,
                     input_json, version, classifier)
                 SELECT id, name, v, st, corr, idem, parent, started, updated, ended, prio,
                     hash, wake, j::json, i::json, 1, cls
                 FROM {WORKFLOW_ARRAYS}) AS {WORKFLOW_NAMES})
                 ON CONFLICT (workflow_id) DO NOTHING"
            ))
            .await?;
        let taken = StoreError::AlreadyExists(format!("workflow {}", first.id));
        writes.push(
            stmt,
            workflow_columns(&new),
            Expect::Rows(count(new.len()), taken),
        );
        // Their search documents (migration 14). A taken id failed the insert above, and
        // the group is rolled back.
        let stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO workflow_texts (workflow_id, start_time, status, search_text,
                     search_key)
                 SELECT id, started, st, {document}, {key}
                 FROM {TEXT_ARRAYS}) AS {TEXT_NAMES})
                 ON CONFLICT (workflow_id) DO UPDATE SET start_time = excluded.start_time,
                     status = excluded.status, search_text = excluded.search_text,
                     search_key = excluded.search_key",
                document = document("COALESCE(u.i, '')"),
                key = document_key("COALESCE(u.ki, '')"),
            ))
            .await?;
        writes.push(stmt, text_columns(&new), Expect::Any);
    }
    if let Some(first) = updated.first() {
        // The search documents first: whether one is rewritten depends on the row as it
        // was before this commit. A document is rewritten when the status, the correlation
        // id or the input changes (not for each output a running workflow sets, as since
        // migration 7); the start time and status beside it follow theirs (migration 14).
        // Most commits of a running workflow change none of them and write nothing here.
        // `= ANY($1)` bounds the documents read by any plan: one a connection keeps from
        // when the table was small joins them by hash over a scan of the whole key index.
        let stmt = tx
            .prepare_cached(&format!(
                "UPDATE workflow_texts d SET start_time = u.started, status = u.st,
                     search_text = CASE
                         WHEN u.i IS NULL AND w.status = u.st
                             AND w.correlation_id IS NOT DISTINCT FROM u.corr
                         THEN d.search_text
                         ELSE {document} END,
                     search_key = CASE
                         WHEN u.i IS NULL AND w.status = u.st
                             AND w.correlation_id IS NOT DISTINCT FROM u.corr
                         THEN d.search_key
                         ELSE {key} END
                 FROM {TEXT_ARRAYS}) AS {TEXT_NAMES}), workflows w
                 WHERE d.workflow_id = ANY($1) AND d.workflow_id = u.id
                   AND w.workflow_id = u.id
                   AND (u.i IS NOT NULL OR w.status <> u.st
                       OR w.correlation_id IS DISTINCT FROM u.corr
                       OR w.start_time <> u.started)",
                // An update that keeps the input leaves the stored one in place.
                document = document("COALESCE(u.i, w.input_json::text, '')"),
                // The key of a kept input is made here, once per rewrite of its document.
                key = document_key(
                    "COALESCE(u.ki, baton_search_key(COALESCE(w.input_json::text, '')))"
                ),
            ))
            .await?;
        writes.push(stmt, text_columns(&updated), Expect::Any);
        // The rows are locked and their versions checked; the WHERE only guards the guard.
        let stmt = tx
            .prepare_cached(&format!(
                "UPDATE workflows w SET version = w.version + 1, name = u.name,
                     def_version = u.v, status = u.st, correlation_id = u.corr,
                     idempotency_key = u.idem, parent_workflow_id = u.parent,
                     start_time = u.started, update_time = u.updated, end_time = u.ended,
                     priority = u.prio, def_hash = u.hash, next_wake_at = u.wake,
                     sweep_until = NULL, json = u.j::json, classifier = u.cls,
                     input_json = COALESCE(u.i::json, w.input_json)
                 FROM {WORKFLOW_ARRAYS}, $18::bigint[]) AS {WORKFLOW_NAMES}, expected)
                 WHERE w.workflow_id = u.id AND w.version = u.expected"
            ))
            .await?;
        let mut params = workflow_columns(&updated);
        params.push(Box::new(column(&updated, |r| r.expected_version)));
        writes.push(
            stmt,
            params,
            Expect::Rows(count(updated.len()), StoreError::Conflict(first.id.clone())),
        );
    }
    Ok(())
}

/// Task attempts written (inserted, or replaced where no claim came since the copy was
/// read), then attempts removed (rerun, restart).
pub(super) async fn plan_tasks<'a>(
    tx: &Tx<'_>,
    group: &[&'a PreparedCommit],
    writes: &mut Pipeline<'a>,
) -> Result<()> {
    // One statement may not change a row twice: the last write of a task wins.
    let rows: Vec<&TaskRow> = last_by_key(group.iter().flat_map(|p| &p.tasks), |t| &t.task_id);
    if let Some(first) = rows.first() {
        // A write from a copy that saw every claim of the task ends the claim's own lease
        // record: its decision's wake-up covers the task's response timeout.
        let stmt = tx
            .prepare_cached(
                "INSERT INTO tasks (task_id, workflow_id, seq, ref_name, task_type,
                     task_def_name, status, domain, json, poll_count, lease_until,
                     start_time, end_time)
                 SELECT id, wf, seq, ref, ty, def, st, dom, j::json, pc, NULL::bigint,
                     started, ended
                 FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::integer[],
                     $11::bigint[], $12::bigint[])
                     AS u(id, wf, seq, ref, ty, def, st, dom, j, pc, started, ended)
                 ON CONFLICT (task_id) DO UPDATE SET
                     ref_name = excluded.ref_name, task_type = excluded.task_type,
                     task_def_name = excluded.task_def_name, status = excluded.status,
                     domain = excluded.domain, json = excluded.json,
                     poll_count = excluded.poll_count, lease_until = NULL,
                     start_time = excluded.start_time, end_time = excluded.end_time
                 WHERE tasks.poll_count <= excluded.poll_count",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&rows, |t| t.task_id.as_str())),
                Box::new(column(&rows, |t| t.workflow_id.as_str())),
                Box::new(column(&rows, |t| t.seq)),
                Box::new(column(&rows, |t| t.ref_name.as_str())),
                Box::new(column(&rows, |t| t.task_type.as_str())),
                Box::new(column(&rows, |t| t.task_def_name.as_str())),
                Box::new(column(&rows, |t| t.status.as_str())),
                Box::new(column(&rows, |t| t.domain.as_deref())),
                Box::new(column(&rows, |t| t.json.as_str())),
                Box::new(column(&rows, |t| t.poll_count)),
                Box::new(column(&rows, |t| t.start_time)),
                Box::new(column(&rows, |t| t.end_time)),
            ],
            Expect::Rows(
                count(rows.len()),
                StoreError::Conflict(first.workflow_id.clone()),
            ),
        );
        // The search documents (migration 12), rewritten only where they changed: the
        // completion that sets an output, not a write that changes only the status. (A
        // refused task write above fails the whole group, which is then rolled back.) Each
        // with its task's row id, which the write above gave it and which never changes
        // (migration 13: free text is counted and ordered from the documents alone). In lower
        // case (migration 15): free text folds only its own case. With its key (migration
        // 16), under the trigram index.
        let stmt = tx
            .prepare_cached(
                "INSERT INTO task_texts (task_id, row_id, search_text, search_key)
                 SELECT u.id, t.row_id, lower(u.text), lower(u.key)
                 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, text, key)
                 JOIN tasks t ON t.task_id = u.id
                 ON CONFLICT (task_id) DO UPDATE SET search_text = excluded.search_text,
                     search_key = excluded.search_key
                 WHERE task_texts.search_text IS DISTINCT FROM excluded.search_text",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&rows, |t| t.task_id.as_str())),
                Box::new(column(&rows, |t| t.search_text.as_str())),
                Box::new(column(&rows, |t| t.search_key.as_str())),
            ],
            Expect::Any,
        );
    }
    let removed: Vec<&(String, String)> = group.iter().flat_map(|p| &p.removed_tasks).collect();
    if !removed.is_empty() {
        let stmt = tx
            .prepare_cached(
                "DELETE FROM tasks t USING unnest($1::text[], $2::text[]) AS u(id, wf)
                 WHERE t.task_id = u.id AND t.workflow_id = u.wf",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&removed, |r| r.0.as_str())),
                Box::new(column(&removed, |r| r.1.as_str())),
            ],
            Expect::Any,
        );
    }
    Ok(())
}

/// Queue entries removed, then (re)placed. A task queued again goes to the back of its
/// priority, as SQLite's REPLACE does.
pub(super) async fn plan_queue<'a>(
    tx: &Tx<'_>,
    group: &[&'a PreparedCommit],
    writes: &mut Pipeline<'a>,
) -> Result<()> {
    let unqueue: Vec<&str> = group
        .iter()
        .flat_map(|p| &p.unqueue)
        .map(String::as_str)
        .collect();
    if !unqueue.is_empty() {
        let stmt = tx
            .prepare_cached("DELETE FROM queue WHERE task_id = ANY($1)")
            .await?;
        writes.push(stmt, vec![Box::new(unqueue)], Expect::Any);
    }
    let pushed: Vec<&QueueRow> =
        last_by_key(group.iter().flat_map(|p| &p.queue_push), |q| &q.task_id);
    if !pushed.is_empty() {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO queue (task_id, queue_name, workflow_id, priority, visible_at)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[],
                     $5::bigint[])
                 ON CONFLICT (task_id) DO UPDATE SET queue_name = excluded.queue_name,
                     workflow_id = excluded.workflow_id, priority = excluded.priority,
                     visible_at = excluded.visible_at",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&pushed, |q| q.task_id.as_str())),
                Box::new(column(&pushed, |q| q.queue.as_str())),
                Box::new(column(&pushed, |q| q.workflow_id.as_str())),
                Box::new(column(&pushed, |q| q.priority)),
                Box::new(column(&pushed, |q| q.visible_at)),
            ],
            Expect::Any,
        );
    }
    Ok(())
}

/// History, reschedules, follow-ups, logs, and last the pending wakes of other workflows.
pub(super) async fn plan_rest<'a>(
    tx: &Tx<'_>,
    group: &[&'a PreparedCommit],
    writes: &mut Pipeline<'a>,
) -> Result<()> {
    let history: Vec<&(String, Option<String>, String)> =
        group.iter().flat_map(|p| &p.history).collect();
    if !history.is_empty() {
        // WITH ORDINALITY keeps the events' order in their ids.
        let stmt = tx
            .prepare_cached(
                "INSERT INTO history (workflow_id, task_id, json)
                 SELECT w, t, j::json FROM unnest($1::text[], $2::text[], $3::text[])
                     WITH ORDINALITY AS u(w, t, j, n) ORDER BY n",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&history, |h| h.0.as_str())),
                Box::new(column(&history, |h| h.1.as_deref())),
                Box::new(column(&history, |h| h.2.as_str())),
            ],
            Expect::Any,
        );
    }
    let reschedule: Vec<&(String, i64, Option<Millis>)> =
        last_by_key(group.iter().flat_map(|p| &p.reschedule), |r| &r.0);
    if !reschedule.is_empty() {
        // Only the wake-up column, and the sweeper's claim the decision ends: no version
        // bump, no document rewrite, and no new row version when neither changed.
        let stmt = tx
            .prepare_cached(
                "UPDATE workflows w SET next_wake_at = u.due, sweep_until = NULL
                 FROM unnest($1::text[], $2::bigint[]) AS u(id, due)
                 WHERE w.workflow_id = u.id
                   AND (w.next_wake_at IS DISTINCT FROM u.due OR w.sweep_until IS NOT NULL)",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&reschedule, |r| r.0.as_str())),
                Box::new(column(&reschedule, |r| r.2)),
            ],
            Expect::Any,
        );
    }
    let follow_ups: Vec<&(String, String, String, Millis)> =
        group.iter().flat_map(|p| &p.follow_ups).collect();
    if !follow_ups.is_empty() {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO follow_ups (id, workflow_id, payload, created_at)
                 SELECT i, w, p::json, c
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(i, w, p, c)
                 ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&follow_ups, |f| f.0.as_str())),
                Box::new(column(&follow_ups, |f| f.1.as_str())),
                Box::new(column(&follow_ups, |f| f.2.as_str())),
                Box::new(column(&follow_ups, |f| f.3)),
            ],
            Expect::Any,
        );
    }
    let done: Vec<&str> = group
        .iter()
        .flat_map(|p| &p.follow_ups_done)
        .map(String::as_str)
        .collect();
    if !done.is_empty() {
        let stmt = tx
            .prepare_cached("DELETE FROM follow_ups WHERE id = ANY($1)")
            .await?;
        writes.push(stmt, vec![Box::new(done)], Expect::Any);
    }
    let logs: Vec<&(String, String, i64)> = group.iter().flat_map(|p| &p.logs).collect();
    if !logs.is_empty() {
        let stmt = tx.prepare_cached(INSERT_LOGS).await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&logs, |l| l.0.as_str())),
                Box::new(column(&logs, |l| l.1.as_str())),
                Box::new(column(&logs, |l| l.2)),
            ],
            Expect::Any,
        );
    }
    let unwake: Vec<&(String, i64)> = group.iter().flat_map(|p| &p.unwake).collect();
    if !unwake.is_empty() {
        // Before this group's wakes: a wake in the same group is then kept whatever the order
        // of the two commits in the group.
        let stmt = tx
            .prepare_cached(
                "UPDATE workflows w SET woken_at = NULL
                 FROM unnest($1::text[], $2::bigint[]) AS u(id, seen)
                 WHERE w.workflow_id = u.id AND w.wake_seq = u.seen AND w.woken_at IS NOT NULL",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&unwake, |w| w.0.as_str())),
                Box::new(column(&unwake, |w| w.1)),
            ],
            Expect::Any,
        );
    }
    let wake: Vec<&(String, Millis)> = group.iter().flat_map(|p| &p.wake).collect();
    if !wake.is_empty() {
        // Kept apart from next_wake_at and counted (see migration 8): a decision that read the
        // workflow before this wake can neither overwrite nor clear it.
        let stmt = tx
            .prepare_cached(
                "UPDATE workflows w SET woken_at = LEAST(w.woken_at, d.due),
                     wake_seq = w.wake_seq + d.n
                 FROM (SELECT id, MIN(due) AS due, COUNT(*) AS n
                       FROM unnest($1::text[], $2::bigint[]) AS u(id, due) GROUP BY id) d
                 WHERE w.workflow_id = d.id",
            )
            .await?;
        writes.push(
            stmt,
            vec![
                Box::new(column(&wake, |w| w.0.as_str())),
                Box::new(column(&wake, |w| w.1)),
            ],
            Expect::Any,
        );
    }
    Ok(())
}

/// The rows in order, keeping only the last of those that share a key.
fn last_by_key<'a, T: 'a>(
    rows: impl Iterator<Item = &'a T>,
    key: impl Fn(&'a T) -> &'a String,
) -> Vec<&'a T> {
    let rows: Vec<&T> = rows.collect();
    let mut last: HashMap<&String, usize> = HashMap::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        last.insert(key(r), i);
    }
    rows.iter()
        .enumerate()
        .filter(|(i, r)| last.get(key(r)) == Some(i))
        .map(|(_, r)| *r)
        .collect()
}
