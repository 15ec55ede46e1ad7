//! Queries run on the reader connections.

use crate::codec::{from_json, DefCache};
use crate::{Millis, Result, StoreError, WorkflowState};
use baton_model::{HistoryEvent, PollData, Task, TaskDef, TaskExecLog, Workflow, WorkflowDef};
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ----- definitions -----

pub(crate) fn get_task_def(conn: &Connection, name: &str) -> Result<Option<TaskDef>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT json FROM task_defs WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    json.map(|j| from_json(&j, &format!("task definition {name}")))
        .transpose()
}

pub(crate) fn list_task_defs(conn: &Connection) -> Result<Vec<TaskDef>> {
    let mut stmt = conn.prepare_cached("SELECT name, json FROM task_defs ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, json) = row?;
        out.push(from_json(&json, &format!("task definition {name}"))?);
    }
    Ok(out)
}

pub(crate) fn get_workflow_def(
    conn: &Connection,
    name: &str,
    version: Option<i32>,
) -> Result<Option<WorkflowDef>> {
    let json: Option<String> = match version {
        Some(v) => conn
            .prepare_cached("SELECT json FROM workflow_defs WHERE name = ?1 AND version = ?2")?
            .query_row(params![name, v], |r| r.get(0))
            .optional()?,
        None => conn
            .prepare_cached(
                "SELECT json FROM workflow_defs WHERE name = ?1 ORDER BY version DESC LIMIT 1",
            )?
            .query_row([name], |r| r.get(0))
            .optional()?,
    };
    json.map(|j| from_json(&j, &format!("workflow definition {name}")))
        .transpose()
}

pub(crate) fn list_workflow_defs(conn: &Connection) -> Result<Vec<WorkflowDef>> {
    let mut stmt =
        conn.prepare_cached("SELECT name, json FROM workflow_defs ORDER BY name, version")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, json) = row?;
        out.push(from_json(&json, &format!("workflow definition {name}"))?);
    }
    Ok(out)
}

// ----- executions -----

/// The definition snapshot `hash`, from the cache or the database.
fn snapshot(conn: &Connection, defs: &DefCache, hash: &str) -> Result<Arc<WorkflowDef>> {
    if let Some(def) = defs.get(hash) {
        return Ok(def);
    }
    let json: Option<String> = conn
        .prepare_cached("SELECT json FROM def_snapshots WHERE hash = ?1")?
        .query_row([hash], |r| r.get(0))
        .optional()?;
    let Some(json) = json else {
        return Err(StoreError::Corrupt(format!(
            "definition snapshot {hash} is missing"
        )));
    };
    let def: WorkflowDef = from_json(&json, &format!("definition snapshot {hash}"))?;
    Ok(defs.insert(hash, Arc::new(def)))
}

pub(crate) fn load_workflow(
    conn: &Connection,
    defs: &DefCache,
    workflow_id: &str,
) -> Result<Option<WorkflowState>> {
    // One read transaction: the row, its version and its tasks come from one snapshot.
    let tx = conn.unchecked_transaction()?;
    // (json, input json, version, definition hash, pending wake count)
    type Row = (String, Option<String>, i64, String, Option<i64>);
    let row: Option<Row> = tx
        .prepare_cached(
            "SELECT json, (SELECT input_json FROM workflow_inputs WHERE workflow_id = ?1),
                 version, def_hash, CASE WHEN woken_at IS NOT NULL THEN wake_seq END
             FROM workflows WHERE workflow_id = ?1",
        )?
        .query_row([workflow_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((json, input, version, hash, woken)) = row else {
        return Ok(None);
    };
    let mut workflow = workflow_from(&json, input.as_deref(), workflow_id)?;
    let tasks = tasks_of(&tx, workflow_id)?;
    let def = snapshot(&tx, defs, &hash)?;
    tx.finish()?;
    workflow.workflow_definition = Some(def.clone());
    Ok(Some(WorkflowState {
        workflow,
        def,
        tasks,
        version,
        woken,
    }))
}

fn tasks_of(conn: &Connection, workflow_id: &str) -> Result<Vec<Task>> {
    let mut stmt = conn.prepare_cached(
        "SELECT task_id, json FROM tasks WHERE workflow_id = ?1 ORDER BY seq, rowid",
    )?;
    let rows = stmt.query_map([workflow_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, json) = row?;
        out.push(from_json(&json, &format!("task {id}"))?);
    }
    Ok(out)
}

pub(crate) fn get_workflow(
    conn: &Connection,
    defs: &DefCache,
    workflow_id: &str,
) -> Result<Option<Workflow>> {
    let row: Option<(String, Option<String>, String)> = conn
        .prepare_cached(
            "SELECT json, (SELECT input_json FROM workflow_inputs WHERE workflow_id = ?1),
                 def_hash
             FROM workflows WHERE workflow_id = ?1",
        )?
        .query_row([workflow_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((json, input, hash)) = row else {
        return Ok(None);
    };
    let mut workflow = workflow_from(&json, input.as_deref(), workflow_id)?;
    workflow.workflow_definition = Some(snapshot(conn, defs, &hash)?);
    Ok(Some(workflow))
}

/// The workflow row without its input or definition (see `Store::get_workflow_status`).
pub(crate) fn get_workflow_status(
    conn: &Connection,
    workflow_id: &str,
) -> Result<Option<Workflow>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT json FROM workflows WHERE workflow_id = ?1")?
        .query_row([workflow_id], |r| r.get(0))
        .optional()?;
    json.map(|j| workflow_from(&j, None, workflow_id))
        .transpose()
}

/// A workflow from its row: the row's JSON and its input, in its own table since migration 19
/// (written when the workflow starts, not on every commit).
pub(crate) fn workflow_from(
    json: &str,
    input: Option<&str>,
    workflow_id: &str,
) -> Result<Workflow> {
    let what = format!("workflow {workflow_id}");
    let mut workflow: Workflow = from_json(json, &what)?;
    if let Some(input) = input {
        workflow.input = from_json(input, &what)?;
    }
    Ok(workflow)
}

pub(crate) fn get_task(conn: &Connection, task_id: &str) -> Result<Option<Task>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT json FROM tasks WHERE task_id = ?1")?
        .query_row([task_id], |r| r.get(0))
        .optional()?;
    json.map(|j| from_json(&j, &format!("task {task_id}")))
        .transpose()
}

pub(crate) fn find_by_idempotency_key(
    conn: &Connection,
    name: &str,
    key: &str,
) -> Result<Vec<Workflow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT workflow_id, json, (SELECT input_json FROM workflow_inputs i WHERE i.workflow_id = workflows.workflow_id)
         FROM workflows WHERE name = ?1 AND idempotency_key = ?2
         ORDER BY start_time DESC, rowid DESC",
    )?;
    let rows = stmt.query_map(params![name, key], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, json, input) = row?;
        out.push(workflow_from(&json, input.as_deref(), &id)?);
    }
    Ok(out)
}

// ----- queues and timers -----

pub(crate) fn due_workflows(conn: &Connection, now: Millis, limit: usize) -> Result<Vec<String>> {
    // Due by its own wake-up or by a pending wake from another workflow.
    let mut stmt = conn.prepare_cached(
        "SELECT workflow_id FROM (
             SELECT workflow_id, next_wake_at AS at FROM workflows
             WHERE next_wake_at IS NOT NULL AND next_wake_at <= ?1
             UNION ALL
             SELECT workflow_id, woken_at FROM workflows
             WHERE woken_at IS NOT NULL AND woken_at <= ?1)
         GROUP BY workflow_id ORDER BY MIN(at), workflow_id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, to_i64(limit)], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
}

pub(crate) fn pending_follow_ups(conn: &Connection, limit: usize) -> Result<Vec<crate::FollowUp>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, workflow_id, payload, created_at FROM follow_ups ORDER BY id LIMIT ?1",
    )?;
    let rows = stmt.query_map([to_i64(limit)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, workflow_id, payload, created_at) = row?;
        let payload = from_json(&payload, "follow-up")?;
        out.push(crate::FollowUp {
            id,
            workflow_id,
            payload,
            created_at,
        });
    }
    Ok(out)
}

pub(crate) fn next_wake_at(conn: &Connection) -> Result<Option<Millis>> {
    Ok(conn
        .prepare_cached(
            // Aggregate MIN skips the NULL of an empty side (scalar MIN would not).
            "SELECT MIN(at) FROM (
                 SELECT MIN(next_wake_at) AS at FROM workflows WHERE next_wake_at IS NOT NULL
                 UNION ALL
                 SELECT MIN(woken_at) FROM workflows WHERE woken_at IS NOT NULL)",
        )?
        .query_row([], |r| r.get(0))?)
}

pub(crate) fn queue_sizes(conn: &Connection) -> Result<Vec<(String, i64)>> {
    // One row per queue, kept by the triggers of migration 13.
    let mut stmt = conn
        .prepare_cached("SELECT queue_name, n FROM queue_counts WHERE n > 0 ORDER BY queue_name")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(crate) fn queue_stats(conn: &Connection, now: Millis) -> Result<Vec<crate::QueueStat>> {
    let mut stmt = conn.prepare_cached(
        "SELECT queue_name, COUNT(*), MIN(CASE WHEN visible_at <= ?1 THEN visible_at END)
         FROM queue GROUP BY queue_name ORDER BY queue_name",
    )?;
    let rows = stmt.query_map([now], |r| {
        Ok(crate::QueueStat {
            queue: r.get(0)?,
            depth: r.get(1)?,
            oldest_visible_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(crate) fn active_workflow_stats(conn: &Connection) -> Result<Vec<crate::ActiveWorkflows>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, COUNT(*), MIN(start_time) FROM workflows
         WHERE status IN ('RUNNING', 'PAUSED') GROUP BY name ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(crate::ActiveWorkflows {
            name: r.get(0)?,
            count: r.get(1)?,
            oldest_start_time: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(crate) fn poll_data(conn: &Connection) -> Result<Vec<PollData>> {
    let mut stmt = conn.prepare_cached(
        "SELECT queue_name, domain, worker_id, last_poll_time FROM poll_data
         ORDER BY queue_name, domain",
    )?;
    let rows = stmt.query_map([], |r| {
        let domain: String = r.get(1)?;
        Ok(PollData {
            queue_name: r.get(0)?,
            domain: (!domain.is_empty()).then_some(domain),
            worker_id: r.get(2)?,
            last_poll_time: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

// ----- logs and history -----

pub(crate) fn task_logs(conn: &Connection, task_id: &str) -> Result<Vec<TaskExecLog>> {
    let mut stmt = conn
        .prepare_cached("SELECT log, created_time FROM task_logs WHERE task_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([task_id], |r| {
        Ok(TaskExecLog {
            log: r.get(0)?,
            task_id: Some(task_id.to_string()),
            created_time: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(crate) fn history(conn: &Connection, workflow_id: &str) -> Result<Vec<HistoryEvent>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, json FROM history WHERE workflow_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([workflow_id], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, json) = row?;
        let mut event: HistoryEvent = from_json(&json, &format!("history event {id}"))?;
        event.id = id;
        out.push(event);
    }
    Ok(out)
}
