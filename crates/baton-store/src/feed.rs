//! What other nodes changed: the store's change feed (ADR 16).
//!
//! A node wakes its own long polls, synchronous executions and sweeper after each of its
//! commits. On a database several nodes share, the others learn of a commit only through
//! this feed; without it, a long poll on node B would see a task node A queued only at its
//! deadline, and node B would keep using a definition node A replaced. The feed is a hint:
//! what it reports is always read back from the store, so a lost or repeated notice costs
//! latency, never correctness.

use crate::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A batch of changes another node committed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterChanges {
    /// Queues that received tasks, or where a task ended and may have freed a slot under
    /// its type's concurrency limit.
    #[serde(default, rename = "q", skip_serializing_if = "BTreeSet::is_empty")]
    pub queues: BTreeSet<String>,
    /// Workflows committed (for synchronous executions waiting on them, and cached copies).
    #[serde(default, rename = "w", skip_serializing_if = "BTreeSet::is_empty")]
    pub workflows: BTreeSet<String>,
    /// The earliest wake-up these commits stored (for the sweepers).
    #[serde(default, rename = "t", skip_serializing_if = "Option::is_none")]
    pub earliest_wake: Option<Millis>,
    /// Workflow or task definitions, or event handlers, changed.
    #[serde(default, rename = "d", skip_serializing_if = "std::ops::Not::not")]
    pub definitions: bool,
    /// Changes may have been missed (the feed reconnected, or a batch overflowed): treat
    /// every queue, workflow and definition as changed.
    #[serde(default, rename = "r", skip_serializing_if = "std::ops::Not::not")]
    pub everything: bool,
}

impl ClusterChanges {
    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
            && self.workflows.is_empty()
            && self.earliest_wake.is_none()
            && !self.definitions
            && !self.everything
    }

    /// Adds `other` to these changes.
    pub fn merge(&mut self, other: ClusterChanges) {
        self.queues.extend(other.queues);
        self.workflows.extend(other.workflows);
        self.note_wake(other.earliest_wake);
        self.definitions |= other.definitions;
        self.everything |= other.everything;
    }

    /// Keeps the earlier of the wake-ups.
    pub fn note_wake(&mut self, at: Option<Millis>) {
        if let Some(at) = at {
            self.earliest_wake = Some(self.earliest_wake.map_or(at, |e| e.min(at)));
        }
    }

    /// Replaces long lists by "everything changed" once they hold more than `max_names`
    /// names, so what waits to be sent stays bounded however long the database is away.
    pub fn bound(&mut self, max_names: usize) {
        if self.queues.len() + self.workflows.len() > max_names {
            self.queues.clear();
            self.workflows.clear();
            self.everything = true;
        }
    }

    /// What a commit tells other nodes: the queues it pushed to or ended tasks of, the
    /// workflows it wrote, and the earliest wake-up it stored.
    pub fn of_commit(commit: &crate::Commit) -> ClusterChanges {
        let mut out = ClusterChanges::default();
        for w in &commit.workflows {
            out.workflows.insert(w.workflow.workflow_id.clone());
            for q in &w.queue_push {
                out.queues.insert(q.queue.clone());
            }
            for t in w.tasks.iter().filter(|t| t.status.is_terminal()) {
                out.queues.insert(t.queue_name());
            }
            out.note_wake(w.next_wake_at);
        }
        for (_, at) in &commit.wake {
            out.note_wake(Some(*at));
        }
        for r in &commit.reschedule {
            out.note_wake(r.next_wake_at);
        }
        out
    }
}
