//! A stand-in for the service HTTP tasks call, on a loopback port: `/block` holds each call
//! until the test releases it (so a system task stays IN_PROGRESS as long as the test wants),
//! `/quick` answers at once. Both count their calls; `/block` also records the most calls it
//! held at once and reports each call as it starts.

use super::serve_stub;
use axum::routing::get;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

pub struct BlockingStub {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    block_calls: Arc<AtomicUsize>,
    quick_calls: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
    /// One message per call of `/block` (its number), sent when it starts waiting.
    entered: mpsc::UnboundedReceiver<usize>,
    release: Arc<Semaphore>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl BlockingStub {
    pub async fn start() -> BlockingStub {
        let block_calls = Arc::new(AtomicUsize::new(0));
        let quick_calls = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most_in_flight = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Semaphore::new(0));
        let (tx, entered) = mpsc::unbounded_channel();
        let app = axum::Router::new()
            .route(
                "/block",
                get({
                    let (calls, in_flight, most) = (
                        block_calls.clone(),
                        in_flight.clone(),
                        most_in_flight.clone(),
                    );
                    let release = release.clone();
                    move || async move {
                        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        let _ = tx.send(n);
                        // Each release lets exactly one call through.
                        if let Ok(permit) = release.acquire().await {
                            permit.forget();
                        }
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        axum::Json(json!({"call": n}))
                    }
                }),
            )
            .route(
                "/quick",
                get({
                    let calls = quick_calls.clone();
                    move || async move {
                        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                        axum::Json(json!({"call": n}))
                    }
                }),
            );
        let (base, stop) = serve_stub(app).await;
        BlockingStub {
            base,
            block_calls,
            quick_calls,
            most_in_flight,
            entered,
            release,
            _shutdown: stop,
        }
    }

    /// `<base>/block`.
    pub fn block_url(&self) -> String {
        format!("{}/block", self.base)
    }

    /// `<base>/quick`.
    pub fn quick_url(&self) -> String {
        format!("{}/quick", self.base)
    }

    /// Waits (up to `max`) for the next call of `/block` to start; returns its number.
    pub async fn next_call(&mut self, max: Duration) -> usize {
        tokio::time::timeout(max, self.entered.recv())
            .await
            .expect("the blocking endpoint was not called in time")
            .expect("stub running")
    }

    /// Lets `n` held (or future) calls of `/block` answer.
    pub fn release(&self, n: usize) {
        self.release.add_permits(n);
    }

    /// Calls of `/block` so far.
    pub fn block_calls(&self) -> usize {
        self.block_calls.load(Ordering::SeqCst)
    }

    /// Calls of both endpoints so far.
    pub fn calls(&self) -> usize {
        self.block_calls() + self.quick_calls.load(Ordering::SeqCst)
    }

    /// The most calls of `/block` held at once.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for BlockingStub {
    fn drop(&mut self) {
        // A call still held would keep the server's execution (and its shutdown) waiting.
        self.release.add_permits(Semaphore::MAX_PERMITS / 2);
    }
}
