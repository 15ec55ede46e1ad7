//! Cron schedules: one row per schedule, its JSON plus the paused flag and the due time of its
//! next run. Reads run on the reader connections, writes on the writer thread.

use crate::codec::{from_json, to_json};
use crate::schedule::WorkflowSchedule;
use crate::{Millis, Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension};

fn decode(name: &str, json: &str, next_run_at: Option<Millis>) -> Result<WorkflowSchedule> {
    let mut s: WorkflowSchedule = from_json(json, &format!("schedule {name}"))?;
    s.next_run_time = next_run_at;
    Ok(s)
}

fn collect(
    rows: impl Iterator<Item = rusqlite::Result<(String, String, Option<Millis>)>>,
) -> Result<Vec<WorkflowSchedule>> {
    let mut out = Vec::new();
    for row in rows {
        let (name, json, next) = row?;
        out.push(decode(&name, &json, next)?);
    }
    Ok(out)
}

// ----- writes -----

pub(crate) fn put(conn: &Connection, mut schedule: WorkflowSchedule) -> Result<()> {
    let next = schedule.next_run_time.take();
    let json = to_json(&schedule)?;
    conn.prepare_cached(
        "INSERT INTO schedules (name, json, paused, next_run_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET
             json = excluded.json, paused = excluded.paused, next_run_at = excluded.next_run_at",
    )?
    .execute(params![schedule.name, json, schedule.paused, next])?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection, name: &str) -> Result<()> {
    let n = conn
        .prepare_cached("DELETE FROM schedules WHERE name = ?1")?
        .execute([name])?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("schedule {name}")));
    }
    Ok(())
}

/// The compare-and-set that makes each due time fire on one node only.
pub(crate) fn claim(
    conn: &Connection,
    name: &str,
    expected: Millis,
    next: Option<Millis>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE schedules SET next_run_at = ?3 WHERE name = ?1 AND next_run_at = ?2",
        )?
        .execute(params![name, expected, next])?;
    Ok(n == 1)
}

// ----- reads -----

pub(crate) fn get(conn: &Connection, name: &str) -> Result<Option<WorkflowSchedule>> {
    let row: Option<(String, Option<Millis>)> = conn
        .prepare_cached("SELECT json, next_run_at FROM schedules WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(json, next)| decode(name, &json, next))
        .transpose()
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<WorkflowSchedule>> {
    let mut stmt =
        conn.prepare_cached("SELECT name, json, next_run_at FROM schedules ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    collect(rows)
}

pub(crate) fn due(conn: &Connection, now: Millis, limit: usize) -> Result<Vec<WorkflowSchedule>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, json, next_run_at FROM schedules
         WHERE paused = 0 AND next_run_at IS NOT NULL AND next_run_at <= ?1
         ORDER BY next_run_at LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![now, limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    collect(rows)
}

pub(crate) fn next_run_at(conn: &Connection) -> Result<Option<Millis>> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(next_run_at) FROM schedules
             WHERE paused = 0 AND next_run_at IS NOT NULL",
        )?
        .query_row([], |r| r.get(0))?)
}
