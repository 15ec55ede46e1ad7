//! Rust worker loops that complete every benchmark task, and progress counting.

use crate::*;

// Worker pool shared by W1 and W2

pub(crate) struct Progress {
    pub(crate) target: usize,
    pub(crate) completed: AtomicUsize,
    pub(crate) done: AtomicBool,
    /// Nanoseconds after `origin` at which the target-th ack arrived.
    pub(crate) last_ack_ns: AtomicU64,
    pub(crate) origin: Instant,
    pub(crate) error: Mutex<Option<String>>,
}

impl Progress {
    pub(crate) fn new(target: usize, origin: Instant) -> Arc<Self> {
        Arc::new(Self {
            target,
            completed: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            last_ack_ns: AtomicU64::new(0),
            origin,
            error: Mutex::new(None),
        })
    }

    pub(crate) fn fail(&self, e: anyhow::Error) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(format!("{e:#}"));
        }
        self.done.store(true, Ordering::SeqCst);
    }

    pub(crate) fn ack(&self) {
        let n = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.target {
            let ns = self.origin.elapsed().as_nanos() as u64;
            self.last_ack_ns.store(ns, Ordering::SeqCst);
            self.done.store(true, Ordering::SeqCst);
        }
    }
}

pub(crate) fn spawn_workers(
    api: &Api,
    progress: &Arc<Progress>,
    workers: usize,
    batch: usize,
    inflight: usize,
    deadline: Instant,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for w in 0..workers {
        let api = api.clone();
        let progress = progress.clone();
        let worker = format!("bench-w{w}");
        set.spawn(async move {
            let mut updates: JoinSet<anyhow::Result<()>> = JoinSet::new();
            while !progress.done.load(Ordering::SeqCst) {
                if Instant::now() > deadline {
                    progress.fail(anyhow!("deadline exceeded"));
                    break;
                }
                // Reap finished updates.
                while let Some(r) = updates.try_join_next() {
                    match r {
                        Ok(Ok(())) => progress.ack(),
                        Ok(Err(e)) => progress.fail(e),
                        Err(e) => progress.fail(e.into()),
                    }
                }
                // Ask only for as many tasks as this loop can work on now: a task held
                // while waiting for a free slot is latency for its workflow.
                let free = inflight.max(1).saturating_sub(updates.len());
                if free == 0 {
                    match updates.join_next().await {
                        Some(Ok(Ok(()))) => progress.ack(),
                        Some(Ok(Err(e))) => progress.fail(e),
                        Some(Err(e)) => progress.fail(e.into()),
                        None => {}
                    }
                    continue;
                }
                let tasks = match api.poll(batch.min(free), 100, &worker).await {
                    Ok(t) => t,
                    Err(e) => {
                        progress.fail(e);
                        break;
                    }
                };
                for task in tasks {
                    let api = api.clone();
                    let worker = worker.clone();
                    updates.spawn(async move { api.complete(&task, &worker).await });
                }
            }
            while let Some(r) = updates.join_next().await {
                match r {
                    Ok(Ok(())) => progress.ack(),
                    Ok(Err(e)) => progress.fail(e),
                    Err(e) => progress.fail(e.into()),
                }
            }
        });
    }
    set
}

pub(crate) async fn wait_progress(
    progress: &Progress,
    deadline: Instant,
) -> anyhow::Result<Duration> {
    while !progress.done.load(Ordering::SeqCst) {
        if Instant::now() > deadline {
            progress.fail(anyhow!("deadline exceeded"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if let Some(e) = progress
        .error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
    {
        bail!(
            "{e} ({}/{} completions)",
            progress.completed.load(Ordering::SeqCst),
            progress.target
        );
    }
    Ok(Duration::from_nanos(
        progress.last_ack_ns.load(Ordering::SeqCst),
    ))
}
