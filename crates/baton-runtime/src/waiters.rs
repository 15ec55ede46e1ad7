//! Wake-ups for synchronous executions (`POST /api/workflow/execute`), per workflow: a
//! commit wakes only the callers waiting on the workflows it wrote, so N concurrent
//! executions do not each re-read their workflow on every commit. An entry lives while
//! someone waits on it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Default)]
pub(crate) struct CommitWaiters {
    /// Workflow id → its wake-up and how many callers hold it.
    map: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
}

/// A caller's interest in one workflow's commits; dropping it forgets the entry when it
/// was the last.
pub(crate) struct Watch<'a> {
    waiters: &'a CommitWaiters,
    id: String,
    pub(crate) notify: Arc<Notify>,
}

impl CommitWaiters {
    pub(crate) fn watch(&self, workflow_id: &str) -> Watch<'_> {
        let mut map = self.map.lock();
        let entry = map
            .entry(workflow_id.to_string())
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        Watch {
            waiters: self,
            id: workflow_id.to_string(),
            notify: entry.0.clone(),
        }
    }

    /// `workflow_id` was committed: wake whoever waits on it.
    pub(crate) fn committed(&self, workflow_id: &str) {
        let notify = {
            let map = self.map.lock();
            if map.is_empty() {
                return;
            }
            map.get(workflow_id).map(|(n, _)| n.clone())
        };
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }

    /// Wakes every caller (changes may have been missed: each re-reads its workflow).
    pub(crate) fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = self.map.lock().values().map(|(n, _)| n.clone()).collect();
        for n in all {
            n.notify_waiters();
        }
    }

    /// Workflows with a caller waiting (for tests).
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.map.lock();
        if let Some(entry) = map.get_mut(&self.id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                map.remove(&self.id);
            }
        }
    }
}
