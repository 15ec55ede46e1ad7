//! The change feed between nodes on PostgreSQL: `LISTEN`/`NOTIFY` on one channel (ADR 16).
//!
//! Each store handle keeps one connection of its own, outside the pool, that listens on the
//! channel and also sends this node's notices. Commits do not notify inside their own
//! transaction: a transaction that notifies takes a database-wide lock while it commits,
//! which would make every commit of every node wait for the others' WAL flushes. Instead a
//! commit adds what it changed to a pending batch, and this connection sends the batch as
//! soon as the previous one is out (with `synchronous_commit = off`: a notice need not be
//! durable). Under load one notice carries many commits; when idle a commit's notice leaves
//! at once.
//!
//! A notice is a hint (see [`crate::feed`]): a node that crashes between its commit and its
//! notice leaves the others to find the change at their next poll deadline or sweep. When the
//! connection is lost, the handle reconnects with back-off and then reports "everything
//! changed" to its own node, since notices sent meanwhile were missed.

use crate::feed::ClusterChanges;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, Notify};
use tokio_postgres::AsyncMessage;

/// The channel every node listens on.
const CHANNEL: &str = "baton_changes";
/// PostgreSQL refuses payloads from 8000 bytes; batches are split well below that.
const MAX_PAYLOAD: usize = 7000;
/// Names (queues and workflows) waiting to be sent, beyond which the batch becomes
/// "everything changed": bounds memory while the database is away.
const MAX_PENDING_NAMES: usize = 10_000;
/// Batches buffered for this node's runtime; a runtime that falls further behind is told
/// "everything changed" instead.
const SUBSCRIBER_BUFFER: usize = 1024;

/// One notice on the wire: the sending node and what it changed.
#[derive(Serialize, Deserialize)]
struct Notice {
    #[serde(rename = "n")]
    node: String,
    #[serde(flatten)]
    changes: ClusterChanges,
}

pub(super) struct Feed {
    /// This handle's id, so that it ignores its own notices.
    node: String,
    pending: Mutex<ClusterChanges>,
    kick: Notify,
    subscribers: broadcast::Sender<ClusterChanges>,
    closed: AtomicBool,
}

impl Feed {
    /// Starts the feed's connection task for `connect`; it ends when [`Feed::close`] is called.
    pub(super) fn start(connect: super::tls::DbConnect) -> Arc<Feed> {
        let (subscribers, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let feed = Arc::new(Feed {
            node: uuid::Uuid::new_v4().simple().to_string(),
            pending: Mutex::new(ClusterChanges::default()),
            kick: Notify::new(),
            subscribers,
            closed: AtomicBool::new(false),
        });
        tokio::spawn(feed.clone().run(connect));
        feed
    }

    /// A receiver of the batches other nodes send from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<ClusterChanges> {
        self.subscribers.subscribe()
    }

    /// Queues `changes` to be sent to the other nodes.
    pub(super) fn publish(&self, changes: ClusterChanges) {
        if changes.is_empty() {
            return;
        }
        {
            let mut pending = self.pending.lock();
            pending.merge(changes);
            pending.bound(MAX_PENDING_NAMES);
        }
        self.kick.notify_one();
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.kick.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Connects, listens and sends until closed, reconnecting with back-off.
    async fn run(self: Arc<Self>, connect: super::tls::DbConnect) {
        let mut backoff = Duration::from_millis(100);
        let mut connected_before = false;
        while !self.is_closed() {
            match self.session(&connect, connected_before).await {
                Ok(()) => return,
                Err(e) => {
                    if connected_before || backoff >= Duration::from_secs(1) {
                        tracing::warn!(error = %e, "change feed: connection lost; reconnecting");
                    }
                }
            }
            connected_before = true;
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = self.wait_closed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn wait_closed(&self) {
        while !self.is_closed() {
            self.kick.notified().await;
        }
    }

    /// One connection's life: `LISTEN`, then relay notices both ways until the connection
    /// fails (`Err`) or the feed is closed (`Ok`).
    async fn session(
        &self,
        connect: &super::tls::DbConnect,
        reconnected: bool,
    ) -> Result<(), String> {
        let (client, mut connection) = connect
            .config
            .connect(connect.tls.clone())
            .await
            .map_err(|e| super::db_message(&e))?;
        // The connection must be polled for the client's statements to complete; it hands
        // notices over a channel, which it closes when the connection ends.
        let (notices_tx, mut notices) = mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if notices_tx.send(n.payload().to_string()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    // Dropping the sender tells `relay` the connection ended.
                    Some(Err(_)) | None => return,
                }
            }
        });
        let outcome = self.relay(&client, &mut notices, reconnected).await;
        drop(client);
        driver.abort();
        outcome
    }

    async fn relay(
        &self,
        client: &tokio_postgres::Client,
        notices: &mut mpsc::UnboundedReceiver<String>,
        reconnected: bool,
    ) -> Result<(), String> {
        let db = |e: tokio_postgres::Error| super::db_message(&e);
        client
            .batch_execute(&format!("SET synchronous_commit = off; LISTEN {CHANNEL}"))
            .await
            .map_err(db)?;
        if reconnected {
            // Notices sent while this node was not listening are lost.
            let _ = self.subscribers.send(ClusterChanges {
                everything: true,
                ..ClusterChanges::default()
            });
        }
        let send = client
            .prepare(&format!("SELECT pg_notify('{CHANNEL}', $1)"))
            .await
            .map_err(db)?;
        loop {
            if self.is_closed() {
                return Ok(());
            }
            let batch = std::mem::take(&mut *self.pending.lock());
            if !batch.is_empty() {
                for payload in self.payloads(&batch) {
                    if let Err(e) = client.execute(&send, &[&payload]).await {
                        // Sent again after reconnecting (a repeat costs only a re-read).
                        self.pending.lock().merge(batch);
                        return Err(db(e));
                    }
                }
                continue;
            }
            tokio::select! {
                _ = self.kick.notified() => {}
                notice = notices.recv() => match notice {
                    Some(payload) => self.receive(&payload),
                    None => return Err("the connection ended".into()),
                },
            }
        }
    }

    /// Hands another node's notice to this node's subscribers.
    fn receive(&self, payload: &str) {
        match serde_json::from_str::<Notice>(payload) {
            Ok(notice) if notice.node == self.node => {}
            Ok(notice) => {
                let _ = self.subscribers.send(notice.changes);
            }
            Err(e) => {
                tracing::warn!(error = %e, "change feed: unreadable notice ignored");
            }
        }
    }

    /// `batch` as notices of at most [`MAX_PAYLOAD`] bytes.
    fn payloads(&self, batch: &ClusterChanges) -> Vec<String> {
        // The wake-up and flags ride on the first notice.
        let mut current = ClusterChanges {
            earliest_wake: batch.earliest_wake,
            definitions: batch.definitions,
            everything: batch.everything,
            ..ClusterChanges::default()
        };
        let mut out = Vec::new();
        let mut size = 0usize;
        let names = batch
            .queues
            .iter()
            .map(|q| (true, q))
            .chain(batch.workflows.iter().map(|w| (false, w)));
        for (is_queue, name) in names {
            // A name's share of the JSON: the quoted, possibly escaped text and a comma.
            let cost = name.len() * 2 + 4;
            if size + cost > MAX_PAYLOAD && size > 0 {
                out.push(self.encode(std::mem::take(&mut current)));
                size = 0;
            }
            if cost > MAX_PAYLOAD {
                // A name too long for any notice: say "everything" instead.
                current.everything = true;
                continue;
            }
            size += cost;
            if is_queue {
                current.queues.insert(name.clone());
            } else {
                current.workflows.insert(name.clone());
            }
        }
        if !current.is_empty() || out.is_empty() {
            out.push(self.encode(current));
        }
        out
    }

    fn encode(&self, changes: ClusterChanges) -> String {
        serde_json::to_string(&Notice {
            node: self.node.clone(),
            changes,
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> Feed {
        let (subscribers, _) = broadcast::channel(4);
        Feed {
            node: "n1".into(),
            pending: Mutex::new(ClusterChanges::default()),
            kick: Notify::new(),
            subscribers,
            closed: AtomicBool::new(false),
        }
    }

    #[test]
    fn large_batches_split_into_notices_postgres_accepts() {
        let f = feed();
        let mut batch = ClusterChanges {
            earliest_wake: Some(42),
            ..ClusterChanges::default()
        };
        for i in 0..2000 {
            batch
                .workflows
                .insert(format!("workflow-{i:08}-abcdefabcdef"));
        }
        batch.queues.insert("q\"uoted".into());
        let notices = f.payloads(&batch);
        assert!(notices.len() > 1, "{} notices", notices.len());
        let mut seen = ClusterChanges::default();
        for n in &notices {
            assert!(n.len() < 8000, "notice of {} bytes", n.len());
            let parsed: Notice = serde_json::from_str(n).expect("notice parses");
            assert_eq!(parsed.node, "n1");
            seen.merge(parsed.changes);
        }
        assert_eq!(seen, batch);
    }

    #[test]
    fn own_notices_are_ignored_and_others_delivered() {
        let f = feed();
        let mut rx = f.subscribe();
        f.receive(r#"{"n":"n1","q":["a"]}"#);
        f.receive(r#"{"n":"n2","q":["b"],"d":true}"#);
        f.receive("not json");
        let got = rx.try_recv().expect("one batch");
        assert_eq!(got.queues.into_iter().collect::<Vec<_>>(), vec!["b"]);
        assert!(got.definitions);
        assert!(rx.try_recv().is_err());
    }
}
