//! Execution writes: commits, logs, removal. Each is one transaction; a commit checks
//! everything it can fail on before its first write, and any error rolls it back.

use super::Inner;
use crate::codec::to_json;
use crate::{Commit, Millis, Result, StoreError, WorkflowWrite};
use baton_model::{HistoryEvent, TaskExecLog, Workflow};
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
    // The row locks and the reads the checks need go out together (one round trip); the
    // server runs them in order, workflow rows first.
    let reads = commit.workflows.iter().map(|w| read_for_check(tx, w));
    let (versions, stored) = futures_util::future::try_join(
        lock_workflows(tx, &commit),
        futures_util::future::try_join_all(reads),
    )
    .await?;
    for (write, stored) in commit.workflows.iter().zip(&stored) {
        check_workflow(write, stored, &versions)?;
    }
    for r in &commit.reschedule {
        match versions.get(&r.workflow_id) {
            Some((version, _)) if *version == r.version => {}
            _ => return Err(StoreError::Conflict(r.workflow_id.clone())),
        }
    }

    // Everything is checked: the writes go out pipelined, one round trip for all of them.
    let mut writes = Pipeline::default();
    let mut snapshots = Vec::new();
    for write in commit.workflows {
        if let Some(hash) = plan_workflow(tx, inner, write, &versions, &mut writes).await? {
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
        writes.push(stmt, vec![Box::new(ids), Box::new(dues)], OnNoRow::Fine);
    }
    for r in commit.reschedule {
        // Only the wake-up column, and the sweeper's claim the decision ends: no version
        // bump, no document rewrite, and no new row version when neither changed.
        let stmt = tx
            .prepare_cached(
                "UPDATE workflows SET next_wake_at = $2, sweep_until = NULL
                 WHERE workflow_id = $1
                   AND (next_wake_at IS DISTINCT FROM $2 OR sweep_until IS NOT NULL)",
            )
            .await?;
        writes.push(
            stmt,
            vec![Box::new(r.workflow_id), Box::new(r.next_wake_at)],
            OnNoRow::Fine,
        );
    }
    for f in commit.follow_ups {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO follow_ups (id, workflow_id, payload, created_at)
                 VALUES ($1, $2, $3::text::json, $4) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        let payload = to_json(&f.payload)?;
        writes.push(
            stmt,
            vec![
                Box::new(f.id),
                Box::new(f.workflow_id),
                Box::new(payload),
                Box::new(f.created_at),
            ],
            OnNoRow::Fine,
        );
    }
    if !commit.follow_ups_done.is_empty() {
        let stmt = tx
            .prepare_cached("DELETE FROM follow_ups WHERE id = ANY($1)")
            .await?;
        writes.push(stmt, vec![Box::new(commit.follow_ups_done)], OnNoRow::Fine);
    }
    plan_logs(tx, &commit.logs, &mut writes).await?;
    writes.run(tx).await?;
    Ok(snapshots)
}

/// A statement's parameter, owned so that the statements of a commit can be sent together.
type Param = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

/// What a write that changed no row means.
enum OnNoRow {
    Fine,
    Conflict(String),
    AlreadyExists(String),
}

/// Statements sent together: tokio-postgres pipelines the requests of futures polled at
/// once, so N checked writes cost one round trip instead of N. The server runs them in
/// order; the first error aborts the transaction, which the caller rolls back.
#[derive(Default)]
struct Pipeline {
    statements: Vec<(tokio_postgres::Statement, Vec<Param>, OnNoRow)>,
}

impl Pipeline {
    fn push(&mut self, stmt: tokio_postgres::Statement, params: Vec<Param>, on_no_row: OnNoRow) {
        self.statements.push((stmt, params, on_no_row));
    }

    async fn run(self, tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
        let refs: Vec<Vec<&(dyn tokio_postgres::types::ToSql + Sync)>> = self
            .statements
            .iter()
            .map(|(_, params, _)| {
                params
                    .iter()
                    .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect()
            })
            .collect();
        let sent = self
            .statements
            .iter()
            .zip(&refs)
            .map(|((stmt, _, _), params)| tx.execute(stmt, params));
        let counts = futures_util::future::try_join_all(sent).await?;
        for ((_, _, on_no_row), n) in self.statements.into_iter().zip(counts) {
            if n == 0 {
                match on_no_row {
                    OnNoRow::Fine => {}
                    OnNoRow::Conflict(id) => return Err(StoreError::Conflict(id)),
                    OnNoRow::AlreadyExists(what) => return Err(StoreError::AlreadyExists(what)),
                }
            }
        }
        Ok(())
    }
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

/// What the store holds that a write is checked against.
enum Stored {
    /// A new workflow: whether its id is taken.
    IdTaken(bool),
    /// An update: the poll counts of the tasks it writes, their rows locked.
    PollCounts(HashMap<String, i32>),
}

/// Reads what [`check_workflow`] needs for `write`. Locking the task rows makes the check
/// hold until commit: a claim skips a locked task (SKIP LOCKED), and one that got there
/// first has raised the poll count seen here.
async fn read_for_check(
    tx: &deadpool_postgres::Transaction<'_>,
    write: &WorkflowWrite,
) -> Result<Stored> {
    let id = write.workflow.workflow_id.as_str();
    if write.expected_version.is_none() {
        let stmt = tx
            .prepare_cached("SELECT 1 FROM workflows WHERE workflow_id = $1")
            .await?;
        return Ok(Stored::IdTaken(
            tx.query_opt(&stmt, &[&id]).await?.is_some(),
        ));
    }
    let mut counts = HashMap::new();
    if write.tasks.is_empty() {
        return Ok(Stored::PollCounts(counts));
    }
    let ids: Vec<&str> = write.tasks.iter().map(|t| t.task_id.as_str()).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT task_id, poll_count FROM tasks WHERE task_id = ANY($1)
             ORDER BY task_id FOR UPDATE",
        )
        .await?;
    for row in tx.query(&stmt, &[&ids]).await? {
        counts.insert(row.try_get::<_, String>(0)?, row.try_get::<_, i32>(1)?);
    }
    Ok(Stored::PollCounts(counts))
}

/// Checks one write against the locked rows: a new id must be free, an update must name the
/// stored version, and no task it writes may have been claimed since its copy was read.
fn check_workflow(
    write: &WorkflowWrite,
    stored: &Stored,
    versions: &HashMap<String, (i64, Option<Millis>)>,
) -> Result<()> {
    let id = write.workflow.workflow_id.as_str();
    match (write.expected_version, stored) {
        (None, Stored::IdTaken(true)) => Err(StoreError::AlreadyExists(format!("workflow {id}"))),
        (None, _) => Ok(()),
        (Some(expected), _) if versions.get(id).map(|v| v.0) != Some(expected) => {
            Err(StoreError::Conflict(id.to_string()))
        }
        (Some(_), Stored::PollCounts(counts))
            if write
                .tasks
                .iter()
                .any(|t| counts.get(&t.task_id).is_some_and(|p| *p > t.poll_count)) =>
        {
            Err(StoreError::Conflict(id.to_string()))
        }
        (Some(_), _) => Ok(()),
    }
}

/// Plans the writes of one checked workflow into `writes`; returns the snapshot hash if it
/// had to make sure of it.
async fn plan_workflow(
    tx: &deadpool_postgres::Transaction<'_>,
    inner: &Inner,
    write: WorkflowWrite,
    versions: &HashMap<String, (i64, Option<Millis>)>,
    writes: &mut Pipeline,
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
        writes.push(
            stmt,
            vec![Box::new(key.hash.clone()), Box::new(json)],
            OnNoRow::Fine,
        );
        snapshot = Some(key.hash.clone());
    }

    let json = to_json(&workflow)?;
    let status = workflow.status.as_str();
    let columns: Vec<Param> = vec![
        Box::new(id.clone()),
        Box::new(workflow.workflow_name.clone()),
        Box::new(workflow.workflow_version),
        Box::new(status),
        Box::new(workflow.correlation_id.clone()),
        Box::new(workflow.idempotency_key.clone()),
        Box::new(workflow.parent_workflow_id.clone()),
        Box::new(workflow.start_time),
        Box::new(workflow.update_time),
        Box::new(workflow.end_time),
        Box::new(workflow.priority),
        Box::new(key.hash.clone()),
        Box::new(next_wake_at),
        Box::new(json),
        Box::new(input_json),
        Box::new(state_text(&workflow)?),
    ];
    match expected_version {
        None => {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO workflows (workflow_id, name, def_version, status,
                         correlation_id, idempotency_key, parent_workflow_id, start_time,
                         update_time, end_time, priority, def_hash, next_wake_at, json,
                         input_json, version, search_text)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                         $14::text::json, $15::text::json, 1,
                         $1 || E'\n' || COALESCE($5, '') || E'\n' || $2 || E'\n' || $4
                             || E'\n' || COALESCE($15, '') || E'\n' || $16)
                     ON CONFLICT (workflow_id) DO NOTHING",
                )
                .await?;
            writes.push(
                stmt,
                columns,
                OnNoRow::AlreadyExists(format!("workflow {id}")),
            );
        }
        Some(version) => {
            if !versions.contains_key(&id) {
                return Err(StoreError::Conflict(id));
            }
            // The row is locked and its version checked; the WHERE only guards the guard.
            let stmt = tx
                .prepare_cached(
                    "UPDATE workflows SET version = version + 1, name = $2, def_version = $3,
                         status = $4, correlation_id = $5, idempotency_key = $6,
                         parent_workflow_id = $7, start_time = $8, update_time = $9,
                         end_time = $10, priority = $11, def_hash = $12, next_wake_at = $13,
                         sweep_until = NULL, json = $14::text::json,
                         input_json = COALESCE($15::text::json, input_json),
                         search_text = CASE
                             WHEN $15 IS NULL AND status = $4
                                 AND correlation_id IS NOT DISTINCT FROM $5
                             THEN search_text
                             ELSE $1 || E'\n' || COALESCE($5, '') || E'\n' || $2 || E'\n'
                                 || $4 || E'\n' || COALESCE($15, input_json::text, '')
                                 || E'\n' || $16 END
                     WHERE workflow_id = $1 AND version = $17",
                )
                .await?;
            let mut params = columns;
            params.push(Box::new(version));
            writes.push(stmt, params, OnNoRow::Conflict(id.clone()));
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
        let doc = to_json(&task)?;
        writes.push(
            stmt,
            vec![
                Box::new(task.task_id),
                Box::new(id.clone()),
                Box::new(task.seq),
                Box::new(task.reference_task_name),
                Box::new(task.task_type),
                Box::new(task.task_def_name),
                Box::new(task.status.as_str()),
                Box::new(task.domain),
                Box::new(doc),
                Box::new(task.poll_count),
                Box::new(task.start_time),
                Box::new(task.end_time),
            ],
            OnNoRow::Conflict(id.clone()),
        );
    }
    let mut unqueue: Vec<String> = removed_tasks.clone();
    unqueue.extend(queue_remove);
    if !removed_tasks.is_empty() {
        let stmt = tx
            .prepare_cached("DELETE FROM tasks WHERE task_id = ANY($1) AND workflow_id = $2")
            .await?;
        writes.push(
            stmt,
            vec![Box::new(removed_tasks), Box::new(id.clone())],
            OnNoRow::Fine,
        );
    }
    if !unqueue.is_empty() {
        let stmt = tx
            .prepare_cached("DELETE FROM queue WHERE task_id = ANY($1)")
            .await?;
        writes.push(stmt, vec![Box::new(unqueue)], OnNoRow::Fine);
    }
    for entry in queue_push {
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
        writes.push(
            stmt,
            vec![
                Box::new(entry.task_id),
                Box::new(entry.queue),
                Box::new(entry.workflow_id),
                Box::new(entry.priority),
                Box::new(entry.visible_at),
            ],
            OnNoRow::Fine,
        );
    }
    plan_history(tx, &history, writes).await?;
    Ok(snapshot)
}

/// The end of a workflow's search document (migration 7) that changes with its state:
/// output and reason. PostgreSQL's text holds no NUL character, so one in the reason reads
/// as a space (the output's JSON escapes it).
fn state_text(workflow: &Workflow) -> Result<String> {
    let mut text = to_json(&workflow.output)?;
    text.push('\n');
    if let Some(reason) = &workflow.reason_for_incompletion {
        text.push_str(&reason.replace('\0', " "));
    }
    Ok(text)
}

/// Plans history events as one statement of `writes`.
async fn plan_history(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[HistoryEvent],
    writes: &mut Pipeline,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let (stmt, params) = history_insert(tx, events).await?;
    writes.push(stmt, params, OnNoRow::Fine);
    Ok(())
}

/// The statement that appends `events` (in their order) and its parameters.
async fn history_insert(
    c: &impl GenericClient,
    events: &[HistoryEvent],
) -> Result<(tokio_postgres::Statement, Vec<Param>)> {
    let mut workflow_ids = Vec::with_capacity(events.len());
    let mut task_ids = Vec::with_capacity(events.len());
    let mut docs = Vec::with_capacity(events.len());
    for e in events {
        workflow_ids.push(e.workflow_id.clone());
        task_ids.push(e.task_id.clone());
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
    Ok((
        stmt,
        vec![Box::new(workflow_ids), Box::new(task_ids), Box::new(docs)],
    ))
}

/// Plans task log lines as one statement of `writes`.
async fn plan_logs(
    tx: &deadpool_postgres::Transaction<'_>,
    logs: &[TaskExecLog],
    writes: &mut Pipeline,
) -> Result<()> {
    if let Some((stmt, params)) = logs_insert(tx, logs).await? {
        writes.push(stmt, params, OnNoRow::Fine);
    }
    Ok(())
}

pub(super) async fn append_logs(c: &impl GenericClient, logs: &[TaskExecLog]) -> Result<()> {
    if let Some((stmt, params)) = logs_insert(c, logs).await? {
        execute_owned(c, &stmt, &params).await?;
    }
    Ok(())
}

async fn execute_owned(
    c: &impl GenericClient,
    stmt: &tokio_postgres::Statement,
    params: &[Param],
) -> Result<()> {
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
        .iter()
        .map(|p| &**p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    c.execute(stmt, &refs).await?;
    Ok(())
}

/// The statement that appends the log lines that name a task, if any, and its parameters.
async fn logs_insert(
    c: &impl GenericClient,
    logs: &[TaskExecLog],
) -> Result<Option<(tokio_postgres::Statement, Vec<Param>)>> {
    // A log line that names no task cannot be read back; drop it.
    let logs: Vec<&TaskExecLog> = logs.iter().filter(|l| l.task_id.is_some()).collect();
    if logs.is_empty() {
        return Ok(None);
    }
    let task_ids: Vec<String> = logs.iter().filter_map(|l| l.task_id.clone()).collect();
    let texts: Vec<String> = logs.iter().map(|l| l.log.clone()).collect();
    let times: Vec<i64> = logs.iter().map(|l| l.created_time).collect();
    let stmt = c
        .prepare_cached(
            "INSERT INTO task_logs (task_id, log, created_time)
             SELECT t, l, c FROM unnest($1::text[], $2::text[], $3::bigint[])
                 WITH ORDINALITY AS u(t, l, c, n) ORDER BY n",
        )
        .await?;
    Ok(Some((
        stmt,
        vec![Box::new(task_ids), Box::new(texts), Box::new(times)],
    )))
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
