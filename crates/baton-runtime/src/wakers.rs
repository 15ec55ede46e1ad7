//! Per-queue wake-ups for long polls. A poller arms its `Notified` before it queries the
//! store, so a task committed between the query and the wait still wakes it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Default)]
pub(crate) struct QueueWakers {
    queues: Mutex<HashMap<String, Arc<Notify>>>,
}

impl QueueWakers {
    pub(crate) fn get(&self, queue: &str) -> Arc<Notify> {
        let mut map = self.queues.lock();
        if let Some(n) = map.get(queue) {
            return n.clone();
        }
        let n = Arc::new(Notify::new());
        map.insert(queue.to_string(), n.clone());
        n
    }

    pub(crate) fn wake(&self, queue: &str) {
        let n = self.queues.lock().get(queue).cloned();
        if let Some(n) = n {
            n.notify_waiters();
        }
    }
}
