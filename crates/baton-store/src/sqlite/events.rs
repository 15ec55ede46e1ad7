//! Event handlers (`event_handlers`) and Baton's own event sink (`events`, append-only).
//!
//! The [`Store`](crate::Store) methods of [`SqliteStore`] delegate here: writes go through the
//! writer thread, reads through the reader pool, as everywhere else.

use super::SqliteStore;
use crate::codec::{from_json, to_json};
use crate::{Result, StoreError};
use baton_model::{EventHandler, PublishedEvent};
use rusqlite::{params, Connection, OptionalExtension};

/// Most published events one read returns.
pub(crate) const MAX_EVENTS_LIMIT: usize = 1000;

pub(super) async fn put_handler(
    store: &SqliteStore,
    handler: EventHandler,
    create_only: bool,
) -> Result<()> {
    store
        .write(move |w| write_handler(&w.conn, &handler, create_only))
        .await
}

pub(super) async fn list_handlers(store: &SqliteStore) -> Result<Vec<EventHandler>> {
    store
        .read(|c, _| {
            read_handlers(
                c,
                "SELECT name, json FROM event_handlers ORDER BY name",
                params![],
            )
        })
        .await
}

pub(super) async fn handlers_for(
    store: &SqliteStore,
    event: &str,
    active_only: bool,
) -> Result<Vec<EventHandler>> {
    let event = event.to_string();
    store
        .read(move |c, _| {
            read_handlers(
                c,
                "SELECT name, json FROM event_handlers
                 WHERE event = ?1 AND (active = 1 OR ?2 = 0) ORDER BY name",
                params![event, active_only],
            )
        })
        .await
}

pub(super) async fn delete_handler(store: &SqliteStore, name: &str) -> Result<()> {
    let name = name.to_string();
    store
        .write(move |w| {
            let n = w
                .conn
                .prepare_cached("DELETE FROM event_handlers WHERE name = ?1")?
                .execute([&name])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("event handler {name}")));
            }
            Ok(())
        })
        .await
}

pub(super) async fn record_event(store: &SqliteStore, event: PublishedEvent) -> Result<i64> {
    store
        .write(move |w| {
            w.conn
                .prepare_cached(
                    "INSERT INTO events (message_id, event, message, time) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    event.message_id,
                    event.event,
                    to_json(&event.message)?,
                    event.time
                ])?;
            Ok(w.conn.last_insert_rowid())
        })
        .await
}

pub(super) async fn published_events(
    store: &SqliteStore,
    event: Option<&str>,
    limit: usize,
) -> Result<Vec<PublishedEvent>> {
    let event = event.map(str::to_string);
    let limit = limit.clamp(1, MAX_EVENTS_LIMIT) as i64;
    store
        .read(move |c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT id, message_id, event, message, time FROM events
                 WHERE (?1 IS NULL OR event = ?1) ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![event, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, message_id, event, message, time) = row?;
                out.push(PublishedEvent {
                    id,
                    message_id,
                    event,
                    message: from_json(&message, &format!("published event {id}"))?,
                    time,
                });
            }
            Ok(out)
        })
        .await
}

fn write_handler(conn: &Connection, handler: &EventHandler, create_only: bool) -> Result<()> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM event_handlers WHERE name = ?1")?
        .query_row([&handler.name], |_| Ok(()))
        .optional()?
        .is_some();
    match (create_only, exists) {
        (true, true) => {
            return Err(StoreError::AlreadyExists(format!(
                "event handler {}",
                handler.name
            )))
        }
        (false, false) => {
            return Err(StoreError::NotFound(format!(
                "event handler {}",
                handler.name
            )))
        }
        _ => {}
    }
    conn.prepare_cached(
        "INSERT INTO event_handlers (name, event, active, json) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET event = excluded.event, active = excluded.active,
             json = excluded.json",
    )?
    .execute(params![
        handler.name,
        handler.event,
        handler.active,
        to_json(handler)?
    ])?;
    Ok(())
}

fn read_handlers(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<EventHandler>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(args, |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (name, json) = row?;
        out.push(from_json(&json, &format!("event handler {name}"))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::{SqliteStore, Store, StoreError};
    use baton_model::{EventHandler, PublishedEvent};
    use serde_json::json;

    fn handler(name: &str, event: &str, active: bool) -> EventHandler {
        serde_json::from_value(json!({
            "name": name, "event": event, "active": active,
            "actions": [{"action": "start_workflow", "start_workflow": {"name": "w"}}]
        }))
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn handlers_and_events() {
        let dir = std::env::temp_dir()
            .join("baton-store-tests")
            .join(format!("{}-events.db", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let store = SqliteStore::open_path(&dir).unwrap();

        store
            .put_event_handler(handler("a", "e1", true), true)
            .await
            .unwrap();
        store
            .put_event_handler(handler("b", "e1", false), true)
            .await
            .unwrap();
        let dup = store
            .put_event_handler(handler("a", "e1", true), true)
            .await;
        assert!(matches!(dup, Err(StoreError::AlreadyExists(_))), "{dup:?}");
        let missing = store
            .put_event_handler(handler("zz", "e1", true), false)
            .await;
        assert!(
            matches!(missing, Err(StoreError::NotFound(_))),
            "{missing:?}"
        );

        assert_eq!(store.list_event_handlers().await.unwrap().len(), 2);
        let active = store.event_handlers_for("e1", true).await.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].name, "a");
        assert_eq!(
            store.event_handlers_for("e1", false).await.unwrap().len(),
            2
        );

        // Update moves the handler to another event and deactivates it.
        store
            .put_event_handler(handler("a", "e2", false), false)
            .await
            .unwrap();
        assert!(store
            .event_handlers_for("e1", true)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store.event_handlers_for("e2", false).await.unwrap().len(),
            1
        );

        store.delete_event_handler("a").await.unwrap();
        assert!(matches!(
            store.delete_event_handler("a").await,
            Err(StoreError::NotFound(_))
        ));

        for (i, ev) in ["q1", "q2", "q1"].iter().enumerate() {
            store
                .record_event(PublishedEvent {
                    id: 0,
                    message_id: format!("m{i}"),
                    event: ev.to_string(),
                    message: json!({"i": i}),
                    time: 1000 + i as i64,
                })
                .await
                .unwrap();
        }
        let q1 = store.published_events(Some("q1"), 10).await.unwrap();
        assert_eq!(q1.len(), 2);
        assert_eq!(q1[0].message, json!({"i": 2}), "newest first");
        assert_eq!(store.published_events(None, 10).await.unwrap().len(), 3);
        assert_eq!(store.published_events(None, 1).await.unwrap().len(), 1);

        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let mut p = dir.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
