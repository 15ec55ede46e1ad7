//! Helpers for the operator tests: a scripted local HTTP server, background workers, and
//! small accessors over workflow JSON.

#![allow(dead_code)]

use crate::common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(20);

/// A local HTTP server on 127.0.0.1:0. Every request to `/flaky` answers 500 the first time
/// and 200 with a JSON body afterwards; `/ok` always answers 200 echoing the request body.
pub struct HttpStub {
    pub base: String,
    pub hits: Arc<AtomicUsize>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub async fn http_stub() -> HttpStub {
    use axum::routing::{get, post};
    let hits = Arc::new(AtomicUsize::new(0));
    let flaky_hits = hits.clone();
    let app = axum::Router::new()
        .route(
            "/flaky",
            get(move || {
                let hits = flaky_hits.clone();
                async move {
                    let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
                    if n == 1 {
                        (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            axum::Json(json!({"error": "boom", "hit": n})),
                        )
                    } else {
                        (
                            axum::http::StatusCode::OK,
                            axum::Json(json!({"message": "hello", "hit": n})),
                        )
                    }
                }
            }),
        )
        .route(
            "/ok",
            post(|axum::Json(body): axum::Json<Value>| async move {
                axum::Json(json!({"echo": body, "from": "stub"}))
            }),
        );
    let (base, tx) = serve_stub(app).await;
    HttpStub {
        base,
        hits,
        _shutdown: tx,
    }
}

/// Starts a workflow with a full StartWorkflowRequest; returns the id.
pub async fn start_req(s: &TestServer, req: Value) -> String {
    let resp = s.post_json("/workflow", &req).await;
    expect_status(resp, reqwest::StatusCode::OK).await
}

/// Polls `task_type` until one task is handed out and completes it with `output`.
pub async fn work_one(s: &TestServer, task_type: &str, output: Value) -> Value {
    let t = s.poll_one(task_type).await;
    s.complete(&t, output).await;
    t
}

/// The single task with this reference (panics if absent or repeated).
pub fn task<'a>(wf: &'a Value, reference: &str) -> &'a Value {
    let found = tasks_by_ref(wf, reference);
    assert_eq!(
        found.len(),
        1,
        "expected one task '{reference}' in:\n{}",
        serde_json::to_string_pretty(wf).unwrap()
    );
    found[0]
}

/// Status of the latest attempt with this reference, or "" if none.
pub fn status_of(wf: &Value, reference: &str) -> String {
    tasks_by_ref(wf, reference)
        .last()
        .and_then(|t| t["status"].as_str())
        .unwrap_or("")
        .to_string()
}

pub fn has_task(wf: &Value, reference: &str) -> bool {
    !tasks_by_ref(wf, reference).is_empty()
}

/// Waits until the workflow has a task with `reference` in `status`.
pub async fn wait_task_status(s: &TestServer, id: &str, reference: &str, status: &str) -> Value {
    s.wait_for(id, &format!("{reference} {status}"), WAIT, |w| {
        status_of(w, reference) == status
    })
    .await
}

/// Waits for any terminal status.
pub async fn wait_terminal(s: &TestServer, id: &str) -> Value {
    s.wait_for(id, "a terminal status", WAIT, |w| {
        !matches!(w["status"].as_str(), Some("RUNNING") | Some("PAUSED"))
    })
    .await
}

pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}
