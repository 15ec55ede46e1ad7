//! `GET /api/events/stream`: server-sent events fed by the runtime's change feed, so a
//! client (the web UI) hears of every committed change instead of polling.
//!
//! Events: `change` (data: a [`baton_runtime::WorkflowChange`] as JSON) and `resync`
//! (data: `{"missed": n}`) when this stream fell more than the feed's capacity behind and
//! the client should re-read what it shows. `?workflowId=` keeps one workflow's changes
//! only. A comment line every [`KEEP_ALIVE`] (or half the server's idle timeout, if that is
//! shorter: a streaming response counts as idle between writes) keeps the stream open.
//! Streams end when the server starts shutting down, when the token they were opened with
//! expires (the client reconnects with a fresh one, or is asked to sign in again), and soon
//! after the key behind that token is revoked.

use super::params::{text, QueryMap};
use crate::auth::Principal;
use crate::AppState;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Waits until `at`, or forever when there is no deadline.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub async fn stream(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    Query(q): Query<QueryMap>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let only = text(&q, "workflowId");
    // The token's expiry, read from the wall clock the token was signed against.
    let key_id = principal.as_ref().map(|Extension(p)| p.key_id.clone());
    let expires = principal.and_then(|Extension(p)| p.expires_at).map(|secs| {
        let now_ms = baton_runtime::Clock::System.now_ms();
        let left_ms = secs.saturating_mul(1000).saturating_sub(now_ms).max(0);
        tokio::time::Instant::now() + Duration::from_millis(left_ms.unsigned_abs())
    });
    let rx = s.runtime.subscribe_changes();
    let stopping = s.shutdown.clone();
    // The first event tells the client the stream is live: anything it reads after this
    // is either current or arrives as a later event.
    let hello = stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let auth = s.auth.clone();
    let mut recheck = tokio::time::interval(auth.recheck_interval());
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let changes = stream::unfold((rx, only, recheck), move |(mut rx, only, mut recheck)| {
        let stopping = stopping.clone();
        let auth = auth.clone();
        let key_id = key_id.clone();
        async move {
            loop {
                let next = tokio::select! {
                    _ = stopping.cancelled() => return None,
                    _ = until(expires) => return None,
                    _ = recheck.tick(), if key_id.is_some() => {
                        // A revoked key's stream ends, not only its next request.
                        match &key_id {
                            Some(id) if !auth.still_valid(id).await => return None,
                            _ => continue,
                        }
                    }
                    next = rx.recv() => next,
                };
                let event = match next {
                    Ok(change) => {
                        if only.as_ref().is_some_and(|id| *id != change.workflow_id) {
                            continue;
                        }
                        match serde_json::to_string(&*change) {
                            Ok(json) => Event::default().event("change").data(json),
                            Err(_) => continue,
                        }
                    }
                    Err(RecvError::Lagged(missed)) => Event::default()
                        .event("resync")
                        .data(format!("{{\"missed\":{missed}}}")),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (rx, only, recheck)));
            }
        }
    });
    let interval = KEEP_ALIVE
        .min(s.config.idle_timeout / 2)
        .max(Duration::from_millis(100));
    Sse::new(futures_util::StreamExt::chain(hello, changes))
        .keep_alive(KeepAlive::new().interval(interval))
}
