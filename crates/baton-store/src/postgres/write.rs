//! Execution writes: commits, logs, removal. Each is one transaction; a commit checks
//! everything it can fail on before its first write, and any error rolls it back.

use super::Inner;
use crate::codec::to_json;
use crate::{Commit, Millis, Result, StoreError, WorkflowWrite};
use baton_model::{HistoryEvent, TaskExecLog};
use deadpool_postgres::{Client, GenericClient};
use std::collections::HashMap;

// ----- executions -----

/// Applies a commit in one transaction; returns the definition snapshots it made sure of.
///
/// The workflow rows it names are locked first, in id order (so two commits never wait for
/// each other in a cycle over them), then every version and every written task's poll count
/// is checked, and only then is anything written. A deadlock that remains possible (two
/// commits waking each other's workflows) is a Conflict, retried by the runtime.
pub(super) async fn commit(c: &mut Client, inner: &Inner, commit: Commit) -> Result<Vec<String>> {
    let tx = c.transaction().await?;
    let result = apply(&tx, inner, commit).await;
    match result {
        Ok(snapshots) => {
            tx.commit().await?;
            Ok(snapshots)
        }
        Err(e) => {
            // Dropping the transaction would roll back too; saying so keeps the connection
            // clean for the pool at once.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    inner: &Inner,
    commit: Commit,
) -> Result<Vec<String>> {
    let versions = lock_workflows(tx, &commit).await?;
    for write in &commit.workflows {
        check_workflow(tx, write, &versions).await?;
    }
    let mut moved = Vec::new();
    for r in &commit.reschedule {
        match versions.get(&r.workflow_id) {
            Some((version, wake)) if *version == r.version => {
                if *wake != r.next_wake_at {
                    moved.push(r);
                }
            }
            _ => return Err(StoreError::Conflict(r.workflow_id.clone())),
        }
    }

    let mut snapshots = Vec::new();
    for write in commit.workflows {
        if let Some(hash) = write_workflow(tx, inner, write, &versions).await? {
            snapshots.push(hash);
        }
    }
    if !commit.wake.is_empty() {
        let (ids, dues): (Vec<String>, Vec<Millis>) = commit.wake.into_iter().unzip();
        // Earlier only; rows already due sooner are left alone (no new row version).
        let stmt = tx
            .prepare_cached(
                "UPDATE workflows w SET next_wake_at = d.due
                 FROM (SELECT id, MIN(due) AS due FROM unnest($1::text[], $2::bigint[])
                       AS u(id, due) GROUP BY id) d
                 WHERE w.workflow_id = d.id AND (w.next_wake_at IS NULL OR w.next_wake_at > d.due)",
            )
            .await?;
        tx.execute(&stmt, &[&ids, &dues]).await?;
    }
    for r in moved {
        // Only the wake-up column: no version bump, no document rewrite.
        let stmt = tx
            .prepare_cached("UPDATE workflows SET next_wake_at = $2 WHERE workflow_id = $1")
            .await?;
        tx.execute(&stmt, &[&r.workflow_id, &r.next_wake_at])
            .await?;
    }
    for f in &commit.follow_ups {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO follow_ups (id, workflow_id, payload, created_at)
                 VALUES ($1, $2, $3::text::json, $4) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        tx.execute(
            &stmt,
            &[&f.id, &f.workflow_id, &to_json(&f.payload)?, &f.created_at],
        )
        .await?;
    }
    if !commit.follow_ups_done.is_empty() {
        let stmt = tx
            .prepare_cached("DELETE FROM follow_ups WHERE id = ANY($1)")
            .await?;
        tx.execute(&stmt, &[&commit.follow_ups_done]).await?;
    }
    append_logs(tx, &commit.logs).await?;
    Ok(snapshots)
}

/// Locks the rows of every workflow the commit updates or reschedules, in id order, and
/// returns their stored (version, next_wake_at).
async fn lock_workflows(
    tx: &deadpool_postgres::Transaction<'_>,
    commit: &Commit,
) -> Result<HashMap<String, (i64, Option<Millis>)>> {
    let mut ids: Vec<&str> = commit
        .workflows
        .iter()
        .filter(|w| w.expected_version.is_some())
        .map(|w| w.workflow.workflow_id.as_str())
        .chain(commit.reschedule.iter().map(|r| r.workflow_id.as_str()))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort_unstable();
    ids.dedup();
    let stmt = tx
        .prepare_cached(
            "SELECT workflow_id, version, next_wake_at FROM workflows
             WHERE workflow_id = ANY($1) ORDER BY workflow_id FOR UPDATE",
        )
        .await?;
    let mut out = HashMap::new();
    for row in tx.query(&stmt, &[&ids]).await? {
        out.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    Ok(out)
}

/// Checks one write against the locked rows: a new id must be free, an update must name the
/// stored version, and no task it writes may have been claimed since its copy was read.
async fn check_workflow(
    tx: &deadpool_postgres::Transaction<'_>,
    write: &WorkflowWrite,
    versions: &HashMap<String, (i64, Option<Millis>)>,
) -> Result<()> {
    let id = write.workflow.workflow_id.as_str();
    let Some(expected) = write.expected_version else {
        let stmt = tx
            .prepare_cached("SELECT 1 FROM workflows WHERE workflow_id = $1")
            .await?;
        if tx.query_opt(&stmt, &[&id]).await?.is_some() {
            return Err(StoreError::AlreadyExists(format!("workflow {id}")));
        }
        return Ok(());
    };
    if versions.get(id).map(|v| v.0) != Some(expected) {
        return Err(StoreError::Conflict(id.to_string()));
    }
    if write.tasks.is_empty() {
        return Ok(());
    }
    // Locking the task rows makes the check hold until commit: a claim skips a locked task
    // (SKIP LOCKED), and one that got there first has raised the poll count seen here.
    let ids: Vec<&str> = write.tasks.iter().map(|t| t.task_id.as_str()).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT task_id, poll_count FROM tasks WHERE task_id = ANY($1)
             ORDER BY task_id FOR UPDATE",
        )
        .await?;
    let mut stored = HashMap::new();
    for row in tx.query(&stmt, &[&ids]).await? {
        stored.insert(row.try_get::<_, String>(0)?, row.try_get::<_, i32>(1)?);
    }
    if write
        .tasks
        .iter()
        .any(|t| stored.get(&t.task_id).is_some_and(|p| *p > t.poll_count))
    {
        return Err(StoreError::Conflict(id.to_string()));
    }
    Ok(())
}

/// Writes one checked workflow; returns the snapshot hash if it had to make sure of it.
async fn write_workflow(
    tx: &deadpool_postgres::Transaction<'_>,
    inner: &Inner,
    write: WorkflowWrite,
    versions: &HashMap<String, (i64, Option<Millis>)>,
) -> Result<Option<String>> {
    let WorkflowWrite {
        mut workflow,
        def,
        expected_version,
        tasks,
        removed_tasks,
        queue_push,
        queue_remove,
        history,
        next_wake_at,
        keep_input,
    } = write;
    // Tasks and the definition live in their own rows; never serialise them with the row.
    drop(std::mem::take(&mut workflow.tasks));
    workflow.workflow_definition = None;
    let id = workflow.workflow_id.clone();
    // The input lives in its own column, written only when given (`read::workflow_from`).
    let input = std::mem::take(&mut workflow.input);
    let input_json: Option<String> = match (keep_input, expected_version) {
        (true, Some(_)) => None,
        _ => Some(to_json(&input)?),
    };

    let key = inner.defs.key_of(&def)?;
    let mut snapshot = None;
    if !inner.snapshots.lock().contains(&key.hash) {
        let json = match key.json {
            Some(json) => json,
            None => to_json(def.as_ref())?,
        };
        let stmt = tx
            .prepare_cached(
                "INSERT INTO def_snapshots (hash, json) VALUES ($1, $2::text::json)
                 ON CONFLICT (hash) DO NOTHING",
            )
            .await?;
        tx.execute(&stmt, &[&key.hash, &json]).await?;
        snapshot = Some(key.hash.clone());
    }

    let json = to_json(&workflow)?;
    let status = workflow.status.as_str();
    match expected_version {
        None => {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO workflows (workflow_id, name, def_version, status,
                         correlation_id, idempotency_key, parent_workflow_id, start_time,
                         update_time, end_time, priority, def_hash, version, next_wake_at, json,
                         input_json)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13,
                         $14::text::json, $15::text::json)
                     ON CONFLICT (workflow_id) DO NOTHING",
                )
                .await?;
            let n = tx
                .execute(
                    &stmt,
                    &[
                        &id,
                        &workflow.workflow_name,
                        &workflow.workflow_version,
                        &status,
                        &workflow.correlation_id,
                        &workflow.idempotency_key,
                        &workflow.parent_workflow_id,
                        &workflow.start_time,
                        &workflow.update_time,
                        &workflow.end_time,
                        &workflow.priority,
                        &key.hash,
                        &next_wake_at,
                        &json,
                        &input_json,
                    ],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::AlreadyExists(format!("workflow {id}")));
            }
        }
        Some(version) => {
            // The row is locked and its version checked; the WHERE only guards the guard.
            let stmt = tx
                .prepare_cached(
                    "UPDATE workflows SET version = version + 1, name = $3, def_version = $4,
                         status = $5, correlation_id = $6, idempotency_key = $7,
                         parent_workflow_id = $8, start_time = $9, update_time = $10,
                         end_time = $11, priority = $12, def_hash = $13, next_wake_at = $14,
                         json = $15::text::json,
                         input_json = COALESCE($16::text::json, input_json)
                     WHERE workflow_id = $1 AND version = $2",
                )
                .await?;
            let n = tx
                .execute(
                    &stmt,
                    &[
                        &id,
                        &version,
                        &workflow.workflow_name,
                        &workflow.workflow_version,
                        &status,
                        &workflow.correlation_id,
                        &workflow.idempotency_key,
                        &workflow.parent_workflow_id,
                        &workflow.start_time,
                        &workflow.update_time,
                        &workflow.end_time,
                        &workflow.priority,
                        &key.hash,
                        &next_wake_at,
                        &json,
                        &input_json,
                    ],
                )
                .await?;
            if n == 0 || !versions.contains_key(&id) {
                return Err(StoreError::Conflict(id));
            }
        }
    }

    for mut task in tasks {
        if task.workflow_instance_id.is_empty() {
            task.workflow_instance_id = id.clone();
        }
        task.workflow_task = None;
        task.task_definition = None;
        // A write from a copy that saw every claim of the task ends the claim's own lease
        // record: its decision's wake-up covers the task's response timeout.
        let stmt = tx
            .prepare_cached(
                "INSERT INTO tasks (task_id, workflow_id, seq, ref_name, task_type,
                     task_def_name, status, domain, json, poll_count, lease_until,
                     start_time, end_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::json, $10, NULL, $11, $12)
                 ON CONFLICT (task_id) DO UPDATE SET
                     ref_name = excluded.ref_name, task_type = excluded.task_type,
                     task_def_name = excluded.task_def_name, status = excluded.status,
                     domain = excluded.domain, json = excluded.json,
                     poll_count = excluded.poll_count, lease_until = NULL,
                     start_time = excluded.start_time, end_time = excluded.end_time
                 WHERE tasks.poll_count <= excluded.poll_count",
            )
            .await?;
        let n = tx
            .execute(
                &stmt,
                &[
                    &task.task_id,
                    &id,
                    &task.seq,
                    &task.reference_task_name,
                    &task.task_type,
                    &task.task_def_name,
                    &task.status.as_str(),
                    &task.domain,
                    &to_json(&task)?,
                    &task.poll_count,
                    &task.start_time,
                    &task.end_time,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(id));
        }
    }
    if !removed_tasks.is_empty() {
        let stmt = tx
            .prepare_cached("DELETE FROM tasks WHERE task_id = ANY($1) AND workflow_id = $2")
            .await?;
        tx.execute(&stmt, &[&removed_tasks, &id]).await?;
    }
    let unqueue: Vec<&String> = removed_tasks.iter().chain(&queue_remove).collect();
    if !unqueue.is_empty() {
        let stmt = tx
            .prepare_cached("DELETE FROM queue WHERE task_id = ANY($1)")
            .await?;
        tx.execute(&stmt, &[&unqueue]).await?;
    }
    for entry in &queue_push {
        // A task queued again goes to the back of its priority, as SQLite's REPLACE does.
        let stmt = tx
            .prepare_cached(
                "INSERT INTO queue (task_id, queue_name, workflow_id, priority, visible_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (task_id) DO UPDATE SET queue_name = excluded.queue_name,
                     workflow_id = excluded.workflow_id, priority = excluded.priority,
                     visible_at = excluded.visible_at",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &entry.task_id,
                &entry.queue,
                &entry.workflow_id,
                &entry.priority,
                &entry.visible_at,
            ],
        )
        .await?;
    }
    append_history(tx, &history).await?;
    Ok(snapshot)
}

/// Appends history events in one statement.
pub(super) async fn append_history(c: &impl GenericClient, events: &[HistoryEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut workflow_ids = Vec::with_capacity(events.len());
    let mut task_ids = Vec::with_capacity(events.len());
    let mut docs = Vec::with_capacity(events.len());
    for e in events {
        workflow_ids.push(e.workflow_id.as_str());
        task_ids.push(e.task_id.as_deref());
        docs.push(to_json(e)?);
    }
    // WITH ORDINALITY keeps the events' order in their ids.
    let stmt = c
        .prepare_cached(
            "INSERT INTO history (workflow_id, task_id, json)
             SELECT w, t, j::json FROM unnest($1::text[], $2::text[], $3::text[])
                 WITH ORDINALITY AS u(w, t, j, n) ORDER BY n",
        )
        .await?;
    c.execute(&stmt, &[&workflow_ids, &task_ids, &docs]).await?;
    Ok(())
}

pub(super) async fn append_logs(c: &impl GenericClient, logs: &[TaskExecLog]) -> Result<()> {
    // A log line that names no task cannot be read back; drop it.
    let logs: Vec<&TaskExecLog> = logs.iter().filter(|l| l.task_id.is_some()).collect();
    if logs.is_empty() {
        return Ok(());
    }
    let task_ids: Vec<&str> = logs.iter().filter_map(|l| l.task_id.as_deref()).collect();
    let texts: Vec<&str> = logs.iter().map(|l| l.log.as_str()).collect();
    let times: Vec<i64> = logs.iter().map(|l| l.created_time).collect();
    let stmt = c
        .prepare_cached(
            "INSERT INTO task_logs (task_id, log, created_time)
             SELECT t, l, c FROM unnest($1::text[], $2::text[], $3::bigint[])
                 WITH ORDINALITY AS u(t, l, c, n) ORDER BY n",
        )
        .await?;
    c.execute(&stmt, &[&task_ids, &texts, &times]).await?;
    Ok(())
}

pub(super) async fn remove_workflow(c: &mut Client, workflow_id: &str) -> Result<()> {
    let tx = c.transaction().await?;
    let n = tx
        .execute(
            &tx.prepare_cached("DELETE FROM workflows WHERE workflow_id = $1")
                .await?,
            &[&workflow_id],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("workflow {workflow_id}")));
    }
    for sql in [
        "DELETE FROM task_logs WHERE task_id IN (SELECT task_id FROM tasks WHERE workflow_id = $1)",
        "DELETE FROM queue WHERE task_id IN (SELECT task_id FROM tasks WHERE workflow_id = $1)",
        "DELETE FROM tasks WHERE workflow_id = $1",
    ] {
        tx.execute(&tx.prepare_cached(sql).await?, &[&workflow_id])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
