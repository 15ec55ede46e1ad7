//! What other nodes commit to a shared store reaches this node through the store's change
//! feed (ADR 16): their queued tasks wake this node's long polls, their commits wake its
//! synchronous executions and drop its cached copies, their definition changes clear its
//! definition caches, an earlier wake-up nudges its sweeper, and this node's live listeners
//! (the web UI) hear of their workflow changes.

use super::*;
use baton_store::ClusterChanges;
use tokio::sync::broadcast::error::RecvError;

/// Other nodes' workflow changes read back for this node's live listeners, per batch.
const REMOTE_CHANGES_SHOWN: usize = 64;

impl Runtime {
    /// Applies other nodes' changes until cancelled; returns at once on a store no other
    /// node writes.
    pub(super) async fn follow_cluster(self: Arc<Self>, cancel: CancellationToken) {
        let Some(mut feed) = self.store.change_feed() else {
            return;
        };
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                received = feed.recv() => match received {
                    Ok(changes) => {
                        self.show_remote(&changes);
                        self.apply_remote(changes);
                    }
                    // Fell behind: some notices are gone, so assume everything changed.
                    Err(RecvError::Lagged(_)) => self.apply_remote(ClusterChanges {
                        everything: true,
                        ..ClusterChanges::default()
                    }),
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    /// Passes other nodes' workflow changes on to this node's change listeners (the web
    /// UI's live view), read back from the store: at most [`REMOTE_CHANGES_SHOWN`] per batch,
    /// and only while someone listens.
    fn show_remote(self: &Arc<Self>, changes: &ClusterChanges) {
        if changes.workflows.is_empty() || !self.changes.has_listeners() {
            return;
        }
        let ids: Vec<String> = changes
            .workflows
            .iter()
            .take(REMOTE_CHANGES_SHOWN)
            .cloned()
            .collect();
        let rt = self.clone();
        tokio::spawn(async move {
            let mut out = Vec::new();
            for id in ids {
                if let Ok(Some(w)) = rt.store.get_workflow(&id).await {
                    out.push(crate::changes::WorkflowChange {
                        workflow_id: w.workflow_id,
                        workflow_type: w.workflow_name,
                        version: w.workflow_version,
                        status: Some(w.status),
                        correlation_id: w.correlation_id,
                        update_time: w.update_time,
                        tasks: Vec::new(),
                    });
                }
            }
            rt.changes.publish(out);
        });
    }

    /// Applies one batch of another node's changes.
    pub fn apply_remote(&self, changes: ClusterChanges) {
        if changes.everything {
            self.invalidate_defs();
            self.states.clear();
            self.waiters.wake_all();
            self.queues.wake_all();
            self.sweeper_nudge.notify_one();
            return;
        }
        if changes.definitions {
            self.invalidate_defs();
        }
        for id in &changes.workflows {
            self.states.forget(id);
            self.waiters.committed(id);
        }
        for q in &changes.queues {
            self.queues.wake(q);
        }
        if let Some(at) = changes.earliest_wake {
            if at < self.sweeper_next.load(Ordering::Relaxed) || at <= self.now() {
                self.sweeper_nudge.notify_one();
            }
        }
    }
}
