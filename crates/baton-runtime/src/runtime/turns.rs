//! Per-workflow turns (ADR 4): the changes this node makes to one workflow, one at a time.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Serialises the changes this node makes to one workflow. Without it, concurrent updates of
/// one workflow (the branches of a wide fork completing together) would all read the same
/// version, and all but one would lose the commit race and redo their work; with it they
/// take turns, each starting from the state the previous one committed (and cached).
/// Across nodes the version check still decides.
#[derive(Default)]
pub(super) struct WorkflowLocks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds a workflow's turn; releasing the last interest removes the entry.
pub(super) struct WorkflowTurn<'a> {
    locks: &'a WorkflowLocks,
    id: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WorkflowLocks {
    pub(super) async fn lock(&self, id: &str) -> WorkflowTurn<'_> {
        let lock = self
            .map
            .lock()
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        let mut turn = WorkflowTurn {
            locks: self,
            id: id.to_string(),
            lock: lock.clone(),
            guard: None,
        };
        turn.guard = Some(lock.lock_owned().await);
        turn
    }
}

impl Drop for WorkflowTurn<'_> {
    fn drop(&mut self) {
        self.guard = None;
        let mut map = self.locks.map.lock();
        // Two references: the map's and ours. Nobody else waits; forget the entry.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.id);
        }
    }
}
