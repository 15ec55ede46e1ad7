//! A task definition's limits bound the system tasks named like it, as Conductor's
//! `AsyncSystemTaskExecutor` does: an HTTP task named `lim_http` is bound by the
//! `concurrentExecLimit` and the rate limit of the task definition `lim_http`. The tasks
//! held back stay SCHEDULED and run once they may; system tasks of other names are not held
//! up. The endpoint is a stub on loopback that counts calls and the most in flight at once.
//!
//! Each scenario schedules its HTTP tasks in one commit (the branches of a fork), so that
//! the server's system worker sees them together: without the limits it would take them
//! all in one poll.

mod common;

use axum::routing::get;
use common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

const WAIT: Duration = Duration::from_secs(15);

/// `/block` holds each call until released; `/quick` answers at once. Both count calls.
struct Stub {
    base: String,
    calls: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
    entered: mpsc::UnboundedReceiver<usize>,
    release: Arc<Semaphore>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Stub {
    async fn start() -> Stub {
        let calls = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most_in_flight = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Semaphore::new(0));
        let (tx, entered) = mpsc::unbounded_channel();
        let app = axum::Router::new()
            .route(
                "/block",
                get({
                    let (calls, in_flight, most) =
                        (calls.clone(), in_flight.clone(), most_in_flight.clone());
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
                    let calls = calls.clone();
                    move || async move {
                        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                        axum::Json(json!({"call": n}))
                    }
                }),
            );
        let (base, stop) = serve_stub(app).await;
        Stub {
            base,
            calls,
            most_in_flight,
            entered,
            release,
            _shutdown: stop,
        }
    }

    async fn next_call(&mut self) -> usize {
        tokio::time::timeout(WAIT, self.entered.recv())
            .await
            .expect("the blocking endpoint was not called in time")
            .expect("stub running")
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.release.add_permits(Semaphore::MAX_PERMITS / 2);
    }
}

fn http(name: &str, reference: &str, uri: &str) -> Value {
    json!({"name": name, "taskReferenceName": reference, "type": "HTTP",
           "inputParameters": {"http_request": {"uri": uri, "method": "GET",
                                                "connectionTimeOut": 2000, "readTimeOut": 30000}}})
}

/// A fork with one HTTP task per branch, joined.
fn fan_out(name: &str, branches: Vec<Value>) -> Value {
    let refs: Vec<Value> = branches
        .iter()
        .map(|b| b["taskReferenceName"].clone())
        .collect();
    let fork: Vec<Value> = branches.into_iter().map(|b| json!([b])).collect();
    json!({"name": name, "version": 1, "tasks": [
        {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": fork},
        {"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": refs}
    ]})
}

/// `(reference, status)` of the HTTP tasks.
fn http_tasks(w: &Value) -> Vec<(String, String)> {
    w["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter(|t| t["taskType"] == "HTTP")
        .map(|t| {
            (
                t["referenceTaskName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                t["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn count(w: &Value, prefix: &str, status: &str) -> usize {
    http_tasks(w)
        .iter()
        .filter(|(r, s)| r.starts_with(prefix) && s == status)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limited_http_task_runs_one_at_a_time_and_others_are_not_held_up() {
    let mut stub = Stub::start().await;
    let s = TestServer::spawn().await;
    s.register_task_def(json!({"name": "lim_http", "retryCount": 0, "concurrentExecLimit": 1}))
        .await;
    let block = format!("{}/block", stub.base);
    let quick = format!("{}/quick", stub.base);
    s.register_workflow(fan_out(
        "lim_conc",
        vec![
            http("lim_http", "lim_a", &block),
            http("lim_http", "lim_b", &block),
            http("lim_http", "lim_c", &block),
            http("free_http", "free", &quick),
        ],
    ))
    .await;
    let id = s.start("lim_conc", json!({})).await;

    stub.next_call().await;
    // The unlimited task runs although the limited ones wait.
    let w = s
        .wait_for(&id, "the unlimited task completes", WAIT, |w| {
            count(w, "free", "COMPLETED") == 1
        })
        .await;
    assert_eq!(count(&w, "lim_", "IN_PROGRESS"), 1, "{w:#}");
    assert_eq!(count(&w, "lim_", "SCHEDULED"), 2, "{w:#}");

    // Each release lets the next one run, never two at once.
    for done in 1..=3 {
        stub.release.add_permits(1);
        if done < 3 {
            stub.next_call().await;
            let w = s
                .wait_for(&id, "one more completed", WAIT, |w| {
                    count(w, "lim_", "COMPLETED") == done
                })
                .await;
            assert_eq!(count(&w, "lim_", "IN_PROGRESS"), 1, "{w:#}");
        }
    }
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(count(&w, "lim_", "COMPLETED"), 3, "{w:#}");
    assert_eq!(stub.most_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(stub.calls(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_http_task_waits_for_the_next_window() {
    let stub = Stub::start().await;
    let s = TestServer::with_manual_clock(baton_runtime::RuntimeConfig::default()).await;
    s.register_task_def(json!({"name": "rate_http", "retryCount": 0,
                               "rateLimitPerFrequency": 2, "rateLimitFrequencyInSeconds": 10}))
        .await;
    let quick = format!("{}/quick", stub.base);
    s.register_workflow(fan_out(
        "lim_rate",
        vec![
            http("rate_http", "rate_a", &quick),
            http("rate_http", "rate_b", &quick),
            http("rate_http", "rate_c", &quick),
        ],
    ))
    .await;
    let id = s.start("lim_rate", json!({})).await;

    // Two in this window; the third stays SCHEDULED (the clock does not move by itself).
    let w = s
        .wait_for(&id, "two completed", WAIT, |w| {
            count(w, "rate_", "COMPLETED") == 2
        })
        .await;
    assert_eq!(count(&w, "rate_", "SCHEDULED"), 1, "{w:#}");
    assert_eq!(stub.calls(), 2);

    // The window has passed: it runs.
    s.advance(Duration::from_secs(11)).await;
    let w = s.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(count(&w, "rate_", "COMPLETED"), 3, "{w:#}");
    assert_eq!(stub.calls(), 3);
}

/// Two nodes on one PostgreSQL database, each with its own system workers: the concurrency
/// limit holds across them. Skipped, saying so, where no PostgreSQL answers (unless
/// BATON_REQUIRE_PG is set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_holds_across_two_nodes() {
    let Some(db) = common::pg::PgDb::create("system_limits_nodes").await else {
        return;
    };
    let config = baton_runtime::RuntimeConfig::default();
    let a = TestServer::on_postgres_database(&db.url, config.clone()).await;
    let b = TestServer::on_postgres_database(&db.url, config).await;
    let mut stub = Stub::start().await;
    a.register_task_def(json!({"name": "lim_http", "retryCount": 0, "concurrentExecLimit": 1}))
        .await;
    let block = format!("{}/block", stub.base);
    let branches = (0..4)
        .map(|i| http("lim_http", &format!("lim_{i}"), &block))
        .collect();
    a.register_workflow(fan_out("lim_nodes", branches)).await;
    // Node B learns of the definitions through the change feed.
    let id = b.start("lim_nodes", json!({})).await;

    stub.next_call().await;
    for done in 1..=4 {
        let w = a
            .wait_for(&id, "one running, the rest waiting", WAIT, |w| {
                count(w, "lim_", "IN_PROGRESS") == 1 && count(w, "lim_", "COMPLETED") == done - 1
            })
            .await;
        assert_eq!(count(&w, "lim_", "SCHEDULED"), 4 - done, "{w:#}");
        stub.release.add_permits(1);
        if done < 4 {
            stub.next_call().await;
        }
    }
    let w = a.wait_for_status(&id, "COMPLETED", WAIT).await;
    assert_eq!(count(&w, "lim_", "COMPLETED"), 4, "{w:#}");
    assert_eq!(stub.most_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(stub.calls(), 4);
}
