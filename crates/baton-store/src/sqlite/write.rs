//! Execution commits run by the writer thread, each inside its own savepoint (definitions
//! are in `write_defs.rs`, the task queue in `queue.rs`).

use super::writer::WriterCtx;
use crate::codec::to_json;
use crate::task_text::text_hash;
use crate::{Commit, Millis, Result, StoreError, TaskWrite, WorkflowWrite};
use baton_model::{HistoryEvent, TaskExecLog, Workflow};
use rusqlite::{named_params, params, params_from_iter, Connection, OptionalExtension, ToSql};

pub(crate) fn commit(ctx: &mut WriterCtx, commit: Commit) -> Result<()> {
    // Every expected failure (Conflict, AlreadyExists) is found before the first write, so
    // a failed commit leaves nothing behind even without a savepoint.
    let mut current = Vec::with_capacity(commit.workflows.len());
    for write in &commit.workflows {
        current.push(check_workflow(&ctx.conn, write)?);
    }
    let mut moved = Vec::new();
    for r in &commit.reschedule {
        if check_reschedule(&ctx.conn, r)? {
            moved.push(r);
        }
    }
    for (write, current) in commit.workflows.into_iter().zip(current) {
        write_workflow(ctx, write, current)?;
    }
    for (workflow_id, due) in &commit.wake {
        // Kept apart from next_wake_at (see migration 14) and counted, so that a decision
        // that read the workflow before this wake does not clear it.
        ctx.conn
            .prepare_cached(
                "UPDATE workflows SET woken_at = MIN(COALESCE(woken_at, ?2), ?2),
                     wake_seq = wake_seq + 1
                 WHERE workflow_id = ?1",
            )?
            .execute(params![workflow_id, due])?;
    }
    for (workflow_id, seen) in &commit.unwake {
        ctx.conn
            .prepare_cached(
                "UPDATE workflows SET woken_at = NULL
                 WHERE workflow_id = ?1 AND wake_seq = ?2 AND woken_at IS NOT NULL",
            )?
            .execute(params![workflow_id, seen])?;
    }
    for r in moved {
        // Only the wake-up column: no version bump, no row rewrite.
        ctx.conn
            .prepare_cached("UPDATE workflows SET next_wake_at = ?2 WHERE workflow_id = ?1")?
            .execute(params![r.workflow_id, r.next_wake_at])?;
        respect_leases(&ctx.conn, &r.workflow_id)?;
    }
    for f in &commit.follow_ups {
        ctx.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO follow_ups (id, workflow_id, payload, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                f.id,
                f.workflow_id,
                to_json(&f.payload)?,
                f.created_at
            ])?;
    }
    for id in &commit.follow_ups_done {
        ctx.conn
            .prepare_cached("DELETE FROM follow_ups WHERE id = ?1")?
            .execute([id])?;
    }
    append_logs(&ctx.conn, commit.logs)
}

/// What [`check_workflow`] found stored for a write.
struct Stored {
    /// The row's indexed columns; `None` for a new workflow.
    row: Option<IndexedColumns>,
    /// Per task of the write, in its order: its stored row, `None` for a new attempt.
    tasks: Vec<Option<StoredTask>>,
}

/// A task row as a write finds it.
#[derive(Clone, Copy)]
struct StoredTask {
    rowid: i64,
    /// The digest of its search document (migration 17); `None` for a row written before.
    text_hash: Option<i64>,
    /// Whether the write leaves the row's `task_def_name` and `start_time` as they are: an
    /// UPDATE that names an indexed column rewrites its index entry even when the value is
    /// the same, and a completion changes neither.
    same_index_keys: bool,
}

/// Checks a write against the stored row: the row's indexed columns when the expected
/// version matches (`None` for a new workflow that does not exist yet), and its tasks' rows.
fn check_workflow(conn: &Connection, write: &WorkflowWrite) -> Result<Stored> {
    let id = write.workflow.workflow_id.as_str();
    match write.expected_version {
        None => {
            let exists = conn
                .prepare_cached("SELECT 1 FROM workflows WHERE workflow_id = ?1")?
                .exists([id])?;
            if exists {
                return Err(StoreError::AlreadyExists(format!("workflow {id}")));
            }
            Ok(Stored {
                row: None,
                tasks: vec![None; write.tasks.len()],
            })
        }
        Some(version) => {
            let current = conn
                .prepare_cached(
                    "SELECT version, name, status, correlation_id, idempotency_key, start_time,
                         next_wake_at, classifier
                     FROM workflows WHERE workflow_id = ?1",
                )?
                .query_row([id], |r| {
                    Ok(IndexedColumns {
                        version: r.get(0)?,
                        name: r.get(1)?,
                        status: r.get(2)?,
                        correlation_id: r.get(3)?,
                        idempotency_key: r.get(4)?,
                        start_time: r.get(5)?,
                        next_wake_at: r.get(6)?,
                        classifier: r.get(7)?,
                    })
                })
                .optional()?;
            let Some(current) = current.filter(|c| c.version == version) else {
                return Err(StoreError::Conflict(id.to_string()));
            };
            // A task claimed after this copy was read has a higher poll count (see
            // `put_task`); writing it from the copy would undo the claim.
            let mut stmt = conn.prepare_cached(
                "SELECT poll_count, rowid, text_hash, task_def_name, start_time
                 FROM tasks WHERE task_id = ?1",
            )?;
            let mut tasks = Vec::with_capacity(write.tasks.len());
            for task in &write.tasks {
                let stored: Option<(i32, StoredTask)> = stmt
                    .query_row([&task.task_id], |r| {
                        let same_def = r.get_ref(3)?.as_str()? == task.task_def_name;
                        let same_start = r.get::<_, Option<i64>>(4)? == Some(task.start_time);
                        Ok((
                            r.get(0)?,
                            StoredTask {
                                rowid: r.get(1)?,
                                text_hash: r.get(2)?,
                                same_index_keys: same_def && same_start,
                            },
                        ))
                    })
                    .optional()?;
                if stored.is_some_and(|(p, _)| p > task.poll_count) {
                    return Err(StoreError::Conflict(id.to_string()));
                }
                tasks.push(stored.map(|(_, t)| t));
            }
            Ok(Stored {
                row: Some(current),
                tasks,
            })
        }
    }
}

/// Whether a reschedule moves the stored wake-up; Conflict if the workflow is no longer at
/// the version the decision read (its newer commit set its own wake-up).
fn check_reschedule(conn: &Connection, r: &crate::Reschedule) -> Result<bool> {
    let row: Option<(i64, Option<Millis>)> = conn
        .prepare_cached("SELECT version, next_wake_at FROM workflows WHERE workflow_id = ?1")?
        .query_row([&r.workflow_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match row {
        Some((version, wake)) if version == r.version => Ok(wake != r.next_wake_at),
        _ => Err(StoreError::Conflict(r.workflow_id.clone())),
    }
}

/// `stored`: what [`check_workflow`] returned for this write.
fn write_workflow(ctx: &mut WriterCtx, write: WorkflowWrite, stored: Stored) -> Result<()> {
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
    // The input lives in its own table (migration 19), written only when given.
    let input = std::mem::take(&mut workflow.input);
    let input_json = match (keep_input, expected_version) {
        (true, Some(_)) => None,
        _ => Some(to_json(&input)?),
    };

    let key = ctx.defs.key_of(&def)?;
    if !ctx.snapshot_known(&key.hash) {
        let present = ctx
            .conn
            .prepare_cached("SELECT 1 FROM def_snapshots WHERE hash = ?1")?
            .exists([&key.hash])?;
        if !present {
            let json = match key.json {
                Some(json) => json,
                None => to_json(def.as_ref())?,
            };
            ctx.conn
                .prepare_cached("INSERT INTO def_snapshots (hash, json) VALUES (?1, ?2)")?
                .execute(params![key.hash, json])?;
        }
        ctx.snapshot_written(key.hash.clone());
    }

    let conn = &ctx.conn;
    let id = workflow.workflow_id.as_str();
    let json = to_json(&workflow)?;
    match expected_version {
        None => {
            // Before the workflow's row, whose insert trigger puts the input in the search
            // document; a row left by nothing that still exists is replaced.
            conn.prepare_cached(
                "INSERT OR REPLACE INTO workflow_inputs (workflow_id, input_json) VALUES (?1, ?2)",
            )?
            .execute(params![id, input_json])?;
            let n = conn
                .prepare_cached(
                    "INSERT INTO workflows (workflow_id, name, def_version, status,
                         correlation_id, idempotency_key, parent_workflow_id, start_time,
                         update_time, end_time, priority, def_hash, version, next_wake_at, json,
                         classifier)
                     VALUES (:id, :name, :def_version, :status, :correlation_id,
                         :idempotency_key, :parent, :start_time, :update_time, :end_time,
                         :priority, :def_hash, 1, :wake, :json, :classifier)
                     ON CONFLICT (workflow_id) DO NOTHING",
                )?
                .execute(named_params! {
                    ":id": id,
                    ":name": workflow.workflow_name,
                    ":def_version": workflow.workflow_version,
                    ":status": workflow.status.as_str(),
                    ":correlation_id": workflow.correlation_id,
                    ":idempotency_key": workflow.idempotency_key,
                    ":parent": workflow.parent_workflow_id,
                    ":start_time": workflow.start_time,
                    ":update_time": workflow.update_time,
                    ":end_time": workflow.end_time,
                    ":priority": workflow.priority,
                    ":def_hash": key.hash,
                    ":wake": next_wake_at,
                    ":json": json,
                    ":classifier": def.classifier(),
                })?;
            if n == 0 {
                return Err(StoreError::AlreadyExists(format!("workflow {id}")));
            }
        }
        Some(version) => {
            let current = stored
                .row
                .as_ref()
                .ok_or_else(|| StoreError::Conflict(id.to_string()))?;
            update_workflow_row(
                conn,
                &workflow,
                current,
                version,
                (&key.hash, def.classifier()),
                next_wake_at,
                &json,
                input_json.as_deref(),
            )?
        }
    }

    for (task, before) in tasks.iter().zip(stored.tasks) {
        put_task(conn, id, task, before)?;
    }
    for task_id in &removed_tasks {
        conn.prepare_cached("DELETE FROM tasks WHERE task_id = ?1 AND workflow_id = ?2")?
            .execute(params![task_id, id])?;
        conn.prepare_cached("DELETE FROM queue WHERE task_id = ?1")?
            .execute([task_id])?;
    }
    for task_id in &queue_remove {
        conn.prepare_cached("DELETE FROM queue WHERE task_id = ?1")?
            .execute([task_id])?;
    }
    for entry in &queue_push {
        ctx.hints.pushed(&entry.queue);
        conn.prepare_cached(
            "INSERT OR REPLACE INTO queue (task_id, queue_name, workflow_id, priority, visible_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            entry.task_id,
            entry.queue,
            entry.workflow_id,
            entry.priority,
            entry.visible_at
        ])?;
    }
    for event in &history {
        append_history(conn, event)?;
    }
    respect_leases(conn, id)?;
    Ok(())
}

/// The indexed columns of a workflow row as stored.
struct IndexedColumns {
    version: i64,
    name: String,
    status: String,
    correlation_id: Option<String>,
    idempotency_key: Option<String>,
    start_time: i64,
    next_wake_at: Option<Millis>,
    classifier: String,
}

/// Updates a workflow row if its version is still `version` (Conflict otherwise); `current`
/// is the stored row as [`check_workflow`] read it.
///
/// An UPDATE that names an indexed column rewrites that index entry even when the value is
/// unchanged, so indexed columns are set only when they differ from the stored row: most
/// decisions then touch the row's page and nothing else.
#[allow(clippy::too_many_arguments)]
fn update_workflow_row(
    conn: &Connection,
    workflow: &Workflow,
    current: &IndexedColumns,
    version: i64,
    (def_hash, classifier): (&str, &str),
    next_wake_at: Option<Millis>,
    json: &str,
    input_json: Option<&str>,
) -> Result<()> {
    let id = workflow.workflow_id.as_str();
    let status = workflow.status.as_str();
    let mut sql = String::from(
        "UPDATE workflows SET version = version + 1, def_version = :def_version,
             parent_workflow_id = :parent, update_time = :update_time, end_time = :end_time,
             priority = :priority, def_hash = :def_hash, json = :json",
    );
    let mut args: Vec<(&str, &dyn ToSql)> = vec![
        (":id", &id),
        (":version", &version),
        (":def_version", &workflow.workflow_version),
        (":parent", &workflow.parent_workflow_id),
        (":update_time", &workflow.update_time),
        (":end_time", &workflow.end_time),
        (":priority", &workflow.priority),
        (":def_hash", &def_hash),
        (":json", &json),
    ];
    if current.name != workflow.workflow_name || current.status != status {
        sql.push_str(", name = :name, status = :status");
        args.push((":name", &workflow.workflow_name));
        args.push((":status", &status));
    }
    if current.correlation_id != workflow.correlation_id {
        sql.push_str(", correlation_id = :correlation_id");
        args.push((":correlation_id", &workflow.correlation_id));
    }
    if current.idempotency_key != workflow.idempotency_key {
        sql.push_str(", idempotency_key = :idempotency_key");
        args.push((":idempotency_key", &workflow.idempotency_key));
    }
    if current.start_time != workflow.start_time {
        sql.push_str(", start_time = :start_time");
        args.push((":start_time", &workflow.start_time));
    }
    if current.next_wake_at != next_wake_at {
        sql.push_str(", next_wake_at = :wake");
        args.push((":wake", &next_wake_at));
    }
    // Changes only with the definition (a restart onto the latest version).
    if current.classifier != classifier {
        sql.push_str(", classifier = :classifier");
        args.push((":classifier", &classifier));
    }
    if let Some(input) = input_json {
        // In its own table (migration 19): the row's other commits never rewrite it. Its
        // update trigger refreshes the search document.
        conn.prepare_cached(
            "INSERT INTO workflow_inputs (workflow_id, input_json) VALUES (?1, ?2)
             ON CONFLICT (workflow_id) DO UPDATE SET input_json = excluded.input_json",
        )?
        .execute(params![id, input])?;
    }
    sql.push_str(" WHERE workflow_id = :id AND version = :version");
    let n = conn.prepare_cached(&sql)?.execute(&args[..])?;
    if n == 0 {
        return Err(StoreError::Conflict(id.to_string()));
    }
    Ok(())
}

/// Moves a workflow's wake-up time earlier to `due` (never later); no version bump.
pub(super) fn wake_by(conn: &Connection, workflow_id: &str, due: Millis) -> Result<()> {
    // The WHERE clause leaves the row (and the wake index) untouched when nothing changes.
    conn.prepare_cached(
        "UPDATE workflows SET next_wake_at = ?2
         WHERE workflow_id = ?1 AND (next_wake_at IS NULL OR next_wake_at > ?2)",
    )?
    .execute(params![workflow_id, due])?;
    Ok(())
}

/// Inserts or updates a task row, and queues its search document when it changed; `before`:
/// the row as the commit found it.
fn put_task(
    conn: &Connection,
    workflow_id: &str,
    task: &TaskWrite,
    before: Option<StoredTask>,
) -> Result<()> {
    let hash = text_hash(&task.text);
    // A new attempt is inserted, a stored one updated in place (never INSERT OR REPLACE,
    // which deletes and re-inserts the row and every index entry; updating an attempt leaves
    // `tasks_workflow` alone, since its workflow and seq never change). Two plain statements
    // rather than one upsert with `RETURNING`: SQLite runs `RETURNING` as a trigger, and a
    // statement with a trigger copies every page it touches into a statement journal first
    // (a sixth of this function's cost on W1).
    //
    // Claims change task rows without a workflow version bump; only the engine's claim rule
    // raises a poll count. A copy with a lower poll count than the row has not seen a claim
    // of this task: `check_workflow` refused it already, and the update's guard says the
    // same. A write from a copy that saw the claim ends the claim's own lease record
    // (`lease_until`): its decision's wake-up already covers the task's response timeout.
    let status = task.status.as_str();
    // The row's columns in the order both statements number them, after their keys.
    let columns: [&dyn ToSql; 10] = [
        &task.reference_task_name,
        &task.task_type,
        &task.task_def_name,
        &status,
        &task.domain,
        &task.json,
        &task.poll_count,
        &hash,
        &task.start_time,
        &task.end_time,
    ];
    let rowid = match before {
        None => {
            let n = conn
                .prepare_cached(
                    "INSERT INTO tasks (task_id, workflow_id, seq, ref_name, task_type,
                         task_def_name, status, domain, json, poll_count, lease_until,
                         text_hash, start_time, end_time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?12, ?13)
                     ON CONFLICT (task_id) DO NOTHING",
                )?
                .execute(params_from_iter(
                    [&task.task_id as &dyn ToSql, &workflow_id, &task.seq]
                        .into_iter()
                        .chain(columns),
                ))?;
            if n == 0 {
                // Written by another write of this commit: the decisions overlapped.
                return Err(StoreError::Conflict(workflow_id.to_string()));
            }
            conn.last_insert_rowid()
        }
        Some(stored) => {
            let sql = if stored.same_index_keys {
                // ?4 and ?10 are left unused (numbered parameters may skip): one parameter
                // list serves both forms.
                "UPDATE tasks SET ref_name = ?2, task_type = ?3, status = ?5, domain = ?6,
                     json = ?7, poll_count = ?8, lease_until = NULL, text_hash = ?9,
                     end_time = ?11
                 WHERE rowid = ?1 AND poll_count <= ?8"
            } else {
                "UPDATE tasks SET ref_name = ?2, task_type = ?3, task_def_name = ?4,
                     status = ?5, domain = ?6, json = ?7, poll_count = ?8,
                     lease_until = NULL, text_hash = ?9, start_time = ?10, end_time = ?11
                 WHERE rowid = ?1 AND poll_count <= ?8"
            };
            let n = conn.prepare_cached(sql)?.execute(params_from_iter(
                [&stored.rowid as &dyn ToSql].into_iter().chain(columns),
            ))?;
            if n == 0 {
                return Err(StoreError::Conflict(workflow_id.to_string()));
            }
            stored.rowid
        }
    };
    // Queued for the trigram index (migration 17): a claim never changes the document, a
    // status change alone neither; the completion that sets an output does. A document
    // still queued is replaced in its entry, which keeps saying whether the index holds an
    // older one.
    let stale = match before {
        Some(b) if b.text_hash == Some(hash) => return Ok(()),
        Some(_) => true,
        None => false,
    };
    conn.prepare_cached(
        "INSERT INTO tasks_text_pending (task_rowid, stale, doc) VALUES (?1, ?2, ?3)
         ON CONFLICT (task_rowid) DO UPDATE SET doc = excluded.doc",
    )?
    .execute(params![rowid, stale, task.text])?;
    Ok(())
}

/// Keeps a workflow's wake-up no later than the earliest lease a claim granted that no commit
/// has seen yet (see `put_task`), after a commit or reschedule set it from its own decision.
fn respect_leases(conn: &Connection, workflow_id: &str) -> Result<()> {
    let lease: Option<Millis> = conn
        .prepare_cached(
            "SELECT MIN(lease_until) FROM tasks INDEXED BY tasks_lease
             WHERE workflow_id = ?1 AND lease_until IS NOT NULL",
        )?
        .query_row([workflow_id], |r| r.get(0))?;
    if let Some(due) = lease {
        wake_by(conn, workflow_id, due)?;
    }
    Ok(())
}

pub(super) fn append_history(conn: &Connection, event: &HistoryEvent) -> Result<i64> {
    conn.prepare_cached("INSERT INTO history (workflow_id, task_id, json) VALUES (?1, ?2, ?3)")?
        .execute(params![event.workflow_id, event.task_id, to_json(event)?])?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn append_logs(conn: &Connection, logs: Vec<TaskExecLog>) -> Result<()> {
    for log in logs {
        let Some(task_id) = log.task_id else {
            // A log line that names no task cannot be read back; drop it.
            continue;
        };
        conn.prepare_cached(
            "INSERT INTO task_logs (task_id, log, created_time) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![task_id, log.log, log.created_time])?;
    }
    Ok(())
}

pub(crate) fn remove_workflow(conn: &Connection, workflow_id: &str) -> Result<()> {
    let n = conn
        .prepare_cached("DELETE FROM workflows WHERE workflow_id = ?1")?
        .execute([workflow_id])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("workflow {workflow_id}")));
    }
    conn.prepare_cached(
        "DELETE FROM task_logs WHERE task_id IN (SELECT task_id FROM tasks WHERE workflow_id = ?1)",
    )?
    .execute([workflow_id])?;
    conn.prepare_cached(
        "DELETE FROM queue WHERE task_id IN (SELECT task_id FROM tasks WHERE workflow_id = ?1)",
    )?
    .execute([workflow_id])?;
    conn.prepare_cached("DELETE FROM tasks WHERE workflow_id = ?1")?
        .execute([workflow_id])?;
    Ok(())
}

pub(crate) fn delete_history(conn: &Connection, workflow_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM history WHERE workflow_id = ?1")?
        .execute([workflow_id])?;
    Ok(())
}
