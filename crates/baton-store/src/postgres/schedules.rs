//! Cron schedules: one row per schedule, its JSON plus the paused flag and the due time of its
//! next run, which a compare-and-set moves so that one node claims each due time.

use super::to_i64;
use crate::codec::{from_json, to_json};
use crate::schedule::WorkflowSchedule;
use crate::{Millis, Result, StoreError};
use deadpool_postgres::GenericClient;

fn decode(rows: Vec<tokio_postgres::Row>) -> Result<Vec<WorkflowSchedule>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get(0)?;
        let mut s: WorkflowSchedule = from_json(row.try_get(1)?, &format!("schedule {name}"))?;
        s.next_run_time = row.try_get(2)?;
        out.push(s);
    }
    Ok(out)
}

pub(super) async fn put(c: &impl GenericClient, mut schedule: WorkflowSchedule) -> Result<()> {
    let next = schedule.next_run_time.take();
    let stmt = c
        .prepare_cached(
            "INSERT INTO schedules (name, json, paused, next_run_at)
             VALUES ($1, $2::text::json, $3, $4)
             ON CONFLICT (name) DO UPDATE SET
                 json = excluded.json, paused = excluded.paused, next_run_at = excluded.next_run_at",
        )
        .await?;
    c.execute(
        &stmt,
        &[
            &schedule.name,
            &to_json(&schedule)?,
            &schedule.paused,
            &next,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn delete(c: &impl GenericClient, name: &str) -> Result<()> {
    let stmt = c
        .prepare_cached("DELETE FROM schedules WHERE name = $1")
        .await?;
    if c.execute(&stmt, &[&name]).await? == 0 {
        return Err(StoreError::NotFound(format!("schedule {name}")));
    }
    Ok(())
}

/// The compare-and-set that makes each due time fire on one node only.
pub(super) async fn claim(
    c: &impl GenericClient,
    name: &str,
    expected: Millis,
    next: Option<Millis>,
) -> Result<bool> {
    let stmt = c
        .prepare_cached(
            "UPDATE schedules SET next_run_at = $3 WHERE name = $1 AND next_run_at = $2",
        )
        .await?;
    Ok(c.execute(&stmt, &[&name, &expected, &next]).await? == 1)
}

pub(super) async fn get(c: &impl GenericClient, name: &str) -> Result<Option<WorkflowSchedule>> {
    let stmt = c
        .prepare_cached("SELECT name, json::text, next_run_at FROM schedules WHERE name = $1")
        .await?;
    Ok(decode(c.query(&stmt, &[&name]).await?)?.pop())
}

pub(super) async fn list(c: &impl GenericClient) -> Result<Vec<WorkflowSchedule>> {
    let stmt = c
        .prepare_cached("SELECT name, json::text, next_run_at FROM schedules ORDER BY name")
        .await?;
    decode(c.query(&stmt, &[]).await?)
}

pub(super) async fn due(
    c: &impl GenericClient,
    now: Millis,
    limit: usize,
) -> Result<Vec<WorkflowSchedule>> {
    let stmt = c
        .prepare_cached(
            "SELECT name, json::text, next_run_at FROM schedules
             WHERE NOT paused AND next_run_at IS NOT NULL AND next_run_at <= $1
             ORDER BY next_run_at, name LIMIT $2",
        )
        .await?;
    decode(c.query(&stmt, &[&now, &to_i64(limit)]).await?)
}

pub(super) async fn next_run_at(c: &impl GenericClient) -> Result<Option<Millis>> {
    let stmt = c
        .prepare_cached(
            "SELECT MIN(next_run_at) FROM schedules WHERE NOT paused AND next_run_at IS NOT NULL",
        )
        .await?;
    Ok(c.query_one(&stmt, &[]).await?.try_get(0)?)
}
