//! Per-queue wake-ups for long polls. A poller arms its `Notified` before it queries the
//! store, so a task committed between the query and the wait still wakes it.
//!
//! Entries are weak: a queue's `Notify` lives only while a poller holds it, and dead entries
//! are pruned as the map grows, so polling ever new queue names (task types nobody
//! registered) cannot grow memory beyond the pollers waiting at once. Waking a queue nobody
//! waits on does nothing either way (`notify_waiters` stores no permit).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use tokio::sync::Notify;

/// The map is pruned of dead entries whenever it doubles past its size after the last prune
/// (and at least this size), which keeps pruning amortised O(1) per poll.
const PRUNE_FLOOR: usize = 64;

pub(crate) struct QueueWakers {
    inner: Mutex<Wakers>,
}

struct Wakers {
    queues: HashMap<String, Weak<Notify>>,
    prune_at: usize,
}

impl Default for QueueWakers {
    fn default() -> Self {
        QueueWakers {
            inner: Mutex::new(Wakers {
                queues: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            }),
        }
    }
}

impl QueueWakers {
    /// The queue's wake-up; keep it for as long as the poll waits.
    pub(crate) fn get(&self, queue: &str) -> Arc<Notify> {
        let mut w = self.inner.lock();
        if let Some(n) = w.queues.get(queue).and_then(Weak::upgrade) {
            return n;
        }
        if w.queues.len() >= w.prune_at {
            w.queues.retain(|_, n| n.strong_count() > 0);
            w.prune_at = (w.queues.len() * 2).max(PRUNE_FLOOR);
        }
        let n = Arc::new(Notify::new());
        w.queues.insert(queue.to_string(), Arc::downgrade(&n));
        n
    }

    /// Wakes one waiting poller per task that became claimable on `queue`, not every poller:
    /// with many idle workers on a queue, waking them all for one task made each of them
    /// query the store and all but one find nothing. A woken poller that claims nothing
    /// (another took the task) waits again; one that drops its wake-up unused (its request
    /// ended) passes it to the next waiter (`tokio::sync::Notify::notify_one`); with nobody
    /// waiting, the next poller to arm is woken at once.
    pub(crate) fn wake_for(&self, queue: &str, tasks: usize) {
        let n = self.inner.lock().queues.get(queue).and_then(Weak::upgrade);
        if let Some(n) = n {
            for _ in 0..tasks.max(1) {
                n.notify_one();
            }
        }
    }

    /// Wakes every poller waiting on `queue` (another node changed it: how many tasks is not
    /// known).
    pub(crate) fn wake(&self, queue: &str) {
        let n = self.inner.lock().queues.get(queue).and_then(Weak::upgrade);
        if let Some(n) = n {
            n.notify_waiters();
        }
    }

    /// Wakes every waiting poller (changes may have been missed: each re-polls).
    pub(crate) fn wake_all(&self) {
        let live: Vec<Arc<Notify>> = self
            .inner
            .lock()
            .queues
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for n in live {
            n.notify_waiters();
        }
    }

    /// Queue entries held, live or not yet pruned (for tests).
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().queues.len()
    }
}
