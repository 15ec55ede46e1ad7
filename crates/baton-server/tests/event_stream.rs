//! `GET /api/events/stream`: server-sent events fed by the engine's commits, over real HTTP.
//! A starting workflow, a worker's claim and its completion each arrive as a `change`; a
//! `workflowId` filter keeps one workflow; a listener that falls behind the bounded feed is
//! told so; shutdown ends open streams.

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Bound of every wait here (a hang fails instead of blocking the suite).
const WAIT: Duration = Duration::from_secs(20);

/// An open event stream, read event by event.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(s: &TestServer, query: &str) -> Events {
        let resp = s
            .client
            .get(format!("{}/api/events/stream{query}", s.root))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .expect("open the event stream");
        assert_eq!(resp.status(), reqwest::StatusCode::OK);
        assert_eq!(content_type(&resp), "text/event-stream");
        let mut events = Events {
            resp,
            buf: String::new(),
        };
        let (name, _) = events.next().await.expect("a first event");
        assert_eq!(name, "ready");
        events
    }

    /// The next event (name, data), skipping keep-alive comments; None when the stream ends.
    async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if block.lines().all(|l| l.starts_with(':') || l.is_empty()) {
                    continue;
                }
                return Some((name, data));
            }
            let chunk = tokio::time::timeout(WAIT, self.resp.chunk())
                .await
                .expect("an event within the bound")
                .ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until a keep-alive comment arrives (events before it are dropped).
    async fn keep_alive(&mut self) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if block.starts_with(':') {
                    return;
                }
                continue;
            }
            let chunk = tokio::time::timeout(WAIT, self.resp.chunk())
                .await
                .expect("a keep-alive within the bound")
                .expect("the stream reads")
                .expect("the stream is open");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next `change` whose JSON satisfies `want`.
    async fn change_where(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (name, data) = self.next().await.expect("the stream ended");
            if name != "change" {
                continue;
            }
            let v: Value = serde_json::from_str(&data).expect("change data is JSON");
            if want(&v) {
                return v;
            }
        }
    }
}

fn task_status(change: &Value, reference: &str) -> Option<String> {
    change["tasks"]
        .as_array()?
        .iter()
        .find(|t| t["referenceTaskName"] == reference)
        .and_then(|t| t["status"].as_str())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_a_claim_and_a_completion_each_arrive_as_a_change() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("stream_one", &["stream_task"]))
        .await;
    let mut events = Events::open(&s, "").await;
    let id = s.start("stream_one", json!({})).await;

    let started = events.change_where(|c| c["workflowId"] == id).await;
    assert_eq!(started["workflowType"], "stream_one");
    assert_eq!(started["status"], "RUNNING");
    assert_eq!(
        task_status(&started, "stream_task_ref").as_deref(),
        Some("SCHEDULED")
    );

    let task = s.poll_one("stream_task").await;
    let claimed = events.change_where(|c| c["workflowId"] == id).await;
    assert!(claimed.get("status").is_none(), "{claimed}");
    assert_eq!(
        task_status(&claimed, "stream_task_ref").as_deref(),
        Some("IN_PROGRESS")
    );

    s.complete(&task, json!({"ok": true})).await;
    let done = events.change_where(|c| c["workflowId"] == id).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(
        task_status(&done, "stream_task_ref").as_deref(),
        Some("COMPLETED")
    );
    assert_eq!(s.workflow(&id).await["status"], "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_id_filter_keeps_that_workflows_changes_only() {
    let s = TestServer::spawn().await;
    s.register_workflow(simple_workflow("stream_two", &["stream_task2"]))
        .await;
    // The id is not known before the start, so the watched workflow is the second one and
    // the stream is opened for it after both started; a later change of each follows.
    let other = s.start("stream_two", json!({})).await;
    let watched = s.start("stream_two", json!({})).await;
    let mut events = Events::open(&s, &format!("?workflowId={watched}")).await;
    s.delete(&format!("/workflow/{other}?reason=first")).await;
    s.delete(&format!("/workflow/{watched}?reason=second"))
        .await;
    let (name, data) = events.next().await.expect("an event");
    assert_eq!(name, "change");
    let change: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(change["workflowId"], watched.as_str());
    assert_eq!(change["status"], "TERMINATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_falls_behind_the_bounded_feed_is_told_how_much_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let store = baton_store::SqliteStore::open_path(dir.path().join("t.db")).unwrap();
    let runtime = baton_runtime::Runtime::new(
        Arc::new(store),
        baton_runtime::RuntimeConfig {
            change_feed_capacity: 4,
            ..Default::default()
        },
    );
    let def: baton_model::WorkflowDef =
        serde_json::from_value(simple_workflow("lagging", &["lag_task"])).unwrap();
    runtime.register_workflow_def(def, true).await.unwrap();
    let mut rx = runtime.subscribe_changes();
    for i in 0..10 {
        let req: baton_model::StartWorkflowRequest =
            serde_json::from_value(json!({"name": "lagging", "input": {"i": i}})).unwrap();
        runtime.start_workflow(req).await.unwrap();
    }
    match rx.recv().await {
        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => assert_eq!(missed, 6),
        other => panic!("expected a lag, got {other:?}"),
    }
    // Then the newest records, in order.
    let next = rx.recv().await.expect("a record after the lag");
    assert_eq!(next.workflow_type, "lagging");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams_instead_of_waiting_for_the_drain_deadline() {
    let s = TestServer::with_config(baton_server::ServerConfig {
        // Far longer than the wait below: an open stream holding the drain would show.
        shutdown_timeout: Duration::from_secs(600),
        ..Default::default()
    })
    .await;
    let mut events = Events::open(&s, "").await;
    let _dir = s.stop();
    assert_eq!(events.next().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_outlives_a_short_idle_timeout() {
    let s = TestServer::with_config(baton_server::ServerConfig {
        idle_timeout: Duration::from_millis(600),
        ..Default::default()
    })
    .await;
    s.register_workflow(simple_workflow("stream_idle", &["idle_task"]))
        .await;
    let mut events = Events::open(&s, "").await;
    // Keep-alives come at half the idle timeout; three of them span more than the timeout.
    for _ in 0..3 {
        events.keep_alive().await;
    }
    let id = s.start("stream_idle", json!({})).await;
    let change = events.change_where(|c| c["workflowId"] == id).await;
    assert_eq!(change["status"], "RUNNING");
}
