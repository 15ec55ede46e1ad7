//! Event handlers (`event_handlers`) and Baton's own event sink (`events`, append-only).

use crate::codec::{from_json, to_json};
use crate::{Result, StoreError};
use baton_model::{EventHandler, PublishedEvent};
use deadpool_postgres::GenericClient;

/// Most published events one read returns (as on SQLite).
const MAX_EVENTS_LIMIT: usize = 1000;

fn decode(rows: Vec<tokio_postgres::Row>) -> Result<Vec<EventHandler>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get(0)?;
        out.push(from_json(
            row.try_get(1)?,
            &format!("event handler {name}"),
        )?);
    }
    Ok(out)
}

pub(super) async fn put_handler(
    c: &impl GenericClient,
    handler: &EventHandler,
    create_only: bool,
) -> Result<()> {
    // One statement either way, so a concurrent create or delete cannot slip in between a
    // check and the write.
    let sql = if create_only {
        "INSERT INTO event_handlers (name, event, active, json)
         VALUES ($1, $2, $3, $4::text::json) ON CONFLICT (name) DO NOTHING"
    } else {
        "UPDATE event_handlers SET event = $2, active = $3, json = $4::text::json
         WHERE name = $1"
    };
    let stmt = c.prepare_cached(sql).await?;
    let n = c
        .execute(
            &stmt,
            &[
                &handler.name,
                &handler.event,
                &handler.active,
                &to_json(handler)?,
            ],
        )
        .await?;
    match (n, create_only) {
        (0, true) => Err(StoreError::AlreadyExists(format!(
            "event handler {}",
            handler.name
        ))),
        (0, false) => Err(StoreError::NotFound(format!(
            "event handler {}",
            handler.name
        ))),
        _ => Ok(()),
    }
}

pub(super) async fn list_handlers(c: &impl GenericClient) -> Result<Vec<EventHandler>> {
    let stmt = c
        .prepare_cached("SELECT name, json::text FROM event_handlers ORDER BY name")
        .await?;
    decode(c.query(&stmt, &[]).await?)
}

pub(super) async fn handlers_for(
    c: &impl GenericClient,
    event: &str,
    active_only: bool,
) -> Result<Vec<EventHandler>> {
    let stmt = c
        .prepare_cached(
            "SELECT name, json::text FROM event_handlers
             WHERE event = $1 AND (active OR NOT $2) ORDER BY name",
        )
        .await?;
    decode(c.query(&stmt, &[&event, &active_only]).await?)
}

pub(super) async fn delete_handler(c: &impl GenericClient, name: &str) -> Result<()> {
    let stmt = c
        .prepare_cached("DELETE FROM event_handlers WHERE name = $1")
        .await?;
    if c.execute(&stmt, &[&name]).await? == 0 {
        return Err(StoreError::NotFound(format!("event handler {name}")));
    }
    Ok(())
}

pub(super) async fn record_event(c: &impl GenericClient, event: PublishedEvent) -> Result<i64> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO events (message_id, event, message, time)
             VALUES ($1, $2, $3::text::json, $4) RETURNING id",
        )
        .await?;
    let row = c
        .query_one(
            &stmt,
            &[
                &event.message_id,
                &event.event,
                &to_json(&event.message)?,
                &event.time,
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

pub(super) async fn published_events(
    c: &impl GenericClient,
    event: Option<&str>,
    limit: usize,
) -> Result<Vec<PublishedEvent>> {
    let limit = super::to_i64(limit.clamp(1, MAX_EVENTS_LIMIT));
    let stmt = c
        .prepare_cached(
            "SELECT id, message_id, event, message::text, time FROM events
             WHERE ($1::text IS NULL OR event = $1) ORDER BY id DESC LIMIT $2",
        )
        .await?;
    let mut out = Vec::new();
    for r in c.query(&stmt, &[&event, &limit]).await? {
        let id: i64 = r.try_get(0)?;
        out.push(PublishedEvent {
            id,
            message_id: r.try_get(1)?,
            event: r.try_get(2)?,
            message: from_json(r.try_get(3)?, &format!("published event {id}"))?,
            time: r.try_get(4)?,
        });
    }
    Ok(out)
}
