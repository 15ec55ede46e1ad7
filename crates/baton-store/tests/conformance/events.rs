//! Conformance checks, run by `conformance.rs` on every backend: event handlers and published
//! events.

use super::suite::*;
use baton_store::{Store, StoreError};
use std::sync::Arc;

pub fn handler(name: &str, event: &str, active: bool) -> baton_model::EventHandler {
    serde_json::from_value(serde_json::json!({
        "name": name, "event": event, "active": active,
        "actions": [{"action": "start_workflow", "start_workflow": {"name": "w"}}]
    }))
    .unwrap()
}

pub async fn event_handlers_and_published_events(store: Arc<dyn Store>) {
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

    let mut ids = Vec::new();
    for (i, ev) in ["q1", "q2", "q1"].iter().enumerate() {
        ids.push(
            store
                .record_event(baton_model::PublishedEvent {
                    id: 0,
                    message_id: format!("m{i}"),
                    event: ev.to_string(),
                    message: serde_json::json!({"i": i}),
                    time: NOW + i as i64,
                })
                .await
                .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let q1 = store.published_events(Some("q1"), 10).await.unwrap();
    assert_eq!(q1.len(), 2);
    assert_eq!(q1[0].message, serde_json::json!({"i": 2}), "newest first");
    assert_eq!(q1[0].id, ids[2]);
    assert_eq!(store.published_events(None, 10).await.unwrap().len(), 3);
    assert_eq!(
        store.published_events(None, 0).await.unwrap().len(),
        1,
        "clamped to 1"
    );
}
