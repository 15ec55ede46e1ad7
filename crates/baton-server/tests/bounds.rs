//! Bounds on what grows with input or load, and nothing done for nothing (issue 10): idle
//! decisions commit nothing, polls of unknown task types leave bounded state, the state
//! cache keeps to its byte budget, HTTP task responses and dynamic forks are capped, and
//! shutdown returns with work in flight.

mod common;

use baton_runtime::{Runtime, RuntimeConfig};
use baton_server::ServerConfig;
use baton_store::{SqliteStore, Store};
use common::{expect_json, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(20);

/// A server whose runtime and store the test keeps, to look inside them.
struct Harness {
    _dir: tempfile::TempDir,
    server: TestServer,
    runtime: Arc<Runtime>,
    store: SqliteStore,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Harness {
    async fn start(runtime_config: RuntimeConfig, config: ServerConfig) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_path(dir.path().join("t.db")).expect("open store");
        let runtime = Runtime::new(Arc::new(store.clone()), runtime_config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(baton_server::serve(
            listener,
            runtime.clone(),
            config,
            async {
                let _ = rx.await;
            },
        ));
        let server = TestServer::attached(&format!("http://{addr}"));
        Harness {
            _dir: dir,
            server,
            runtime,
            store,
            served,
            stop: Some(tx),
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn task<'a>(w: &'a Value, reference: &str) -> &'a Value {
    w["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["referenceTaskName"] == reference))
        .unwrap_or_else(|| panic!("no task {reference} in {w}"))
}

// ---------------------------------------------------------------- nothing done for nothing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deciding_a_parent_waiting_on_a_running_child_commits_nothing() {
    let h = Harness::start(RuntimeConfig::default(), ServerConfig::default()).await;
    let s = &h.server;
    s.register_workflow(json!({
        "name": "idle_child", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "idle_never_polled", "taskReferenceName": "never", "type": "SIMPLE"}]
    }))
    .await;
    s.register_workflow(json!({
        "name": "idle_parent", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
                   "subWorkflowParam": {"name": "idle_child", "version": 1}}]
    }))
    .await;
    let id = s.start("idle_parent", json!({})).await;
    s.wait_for(&id, "the child started", WAIT, |w| {
        w["tasks"][0]["status"] == "IN_PROGRESS" && w["tasks"][0]["subWorkflowId"].is_string()
    })
    .await;
    // Settle: the system worker decides the parent once more after starting the child.
    let mut version = 0;
    for _ in 0..100 {
        let v = h.store.load_workflow(&id).await.unwrap().unwrap().version;
        if v == version {
            break;
        }
        version = v;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = s.workflow(&id).await;
    let history = s.history(&id).await.len();

    // Direct decisions (the parent wake-up path) and sweeper passes (a due wake-up).
    for _ in 0..3 {
        h.runtime.decide(&id).await.expect("decide");
    }
    for _ in 0..2 {
        let due = baton_runtime::Clock::System.now_ms();
        h.store
            .commit(baton_store::Commit {
                wake: vec![(id.clone(), due)],
                ..Default::default()
            })
            .await
            .expect("make the parent due");
        // The sweeper sleeps at most a second; wait until it has moved the wake-up on.
        let deadline = Instant::now() + WAIT;
        while h
            .store
            .due_workflows(due + 1, 10)
            .await
            .unwrap()
            .contains(&id)
        {
            assert!(
                Instant::now() < deadline,
                "the sweeper never decided the parent"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let after = h.store.load_workflow(&id).await.unwrap().unwrap();
    assert_eq!(
        after.version, version,
        "an idle decision bumped the version"
    );
    let after_json = s.workflow(&id).await;
    assert_eq!(after_json["updateTime"], before["updateTime"]);
    assert_eq!(
        s.history(&id).await.len(),
        history,
        "an idle decision wrote history"
    );
    assert_eq!(after_json["status"], "RUNNING");
}

// ---------------------------------------------------------------- bounded poll bookkeeping

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_ten_thousand_unregistered_task_types_stays_bounded() {
    let h = Harness::start(RuntimeConfig::default(), ServerConfig::default()).await;
    let s = &h.server;
    s.register_task_def(json!({"name": "bounds_registered"}))
        .await;
    let resp = s
        .get("/tasks/poll/batch/bounds_registered?count=1&timeout=0&workerid=w")
        .await;
    assert!(resp.status().is_success());

    const TYPES: usize = 10_000;
    let mut running = tokio::task::JoinSet::new();
    for i in 0..TYPES {
        if running.len() >= 32 {
            let status = running.join_next().await.unwrap().unwrap();
            assert!(
                status == StatusCode::OK || status == StatusCode::NO_CONTENT,
                "{status}"
            );
        }
        let url = s.url(&format!(
            "/tasks/poll/batch/bounds_random_{i}?count=1&timeout=0"
        ));
        let client = s.client.clone();
        running.spawn(async move { client.get(url).send().await.expect("poll").status() });
    }
    while let Some(r) = running.join_next().await {
        let status = r.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::NO_CONTENT,
            "{status}"
        );
    }

    let (queue_wakers, _) = h.runtime.wakeup_map_sizes();
    assert!(
        queue_wakers <= 256,
        "{queue_wakers} queue wake-ups kept for {TYPES} types"
    );
    let marks = h.store.poll_marks();
    assert!(
        marks <= baton_store::sqlite::POLL_MARKS_SOFT_CAP,
        "{marks} poll-data marks kept for {TYPES} types"
    );
    let rows = expect_json(s.get("/tasks/queue/polldata/all").await, StatusCode::OK).await;
    let rows = rows.as_array().expect("poll data list");
    let unregistered = rows
        .iter()
        .filter(|r| r["queueName"] != "bounds_registered")
        .count();
    assert!(
        unregistered <= baton_store::sqlite::MAX_UNREGISTERED_POLL_DATA + 64,
        "{unregistered} poll_data rows kept for {TYPES} unregistered types"
    );
    assert!(
        rows.iter().any(|r| r["queueName"] == "bounds_registered"),
        "the registered type's poll data was dropped"
    );
}

// ---------------------------------------------------------------- bounded state cache

/// A small byte budget keeps the cached states under it (starts past it not admitted, ADR
/// 44; each workflow still run to its end from the store), and updates naming workflows that do not exist
/// leave nothing behind (they once left an entry each, never evicted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_cache_keeps_to_its_byte_budget() {
    const BUDGET: usize = 64 << 10;
    let config = RuntimeConfig {
        state_cache_bytes: BUDGET,
        ..RuntimeConfig::default()
    };
    let h = Harness::start(config, ServerConfig::default()).await;
    let s = &h.server;
    s.register_workflow(common::simple_workflow("cache_wf", &["cache_a", "cache_b"]))
        .await;
    // About 16 KiB of input each: ten of them are more than twice the budget.
    let blob = "x".repeat(16 << 10);
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(s.start("cache_wf", json!({"blob": blob})).await);
    }
    let stats = h.runtime.state_cache_stats();
    assert!(stats.bytes <= BUDGET, "{stats:?}");
    // Starts are asked for no more often than the entries they would replace.
    assert!(stats.not_admitted >= 5, "{stats:?}");

    for task_type in ["cache_a", "cache_b"] {
        for _ in 0..ids.len() {
            let task = s.poll_one(task_type).await;
            s.complete(&task, json!({"n": 1})).await;
        }
    }
    for id in &ids {
        s.wait_for_status(id, "COMPLETED", WAIT).await;
    }

    for i in 0..100 {
        let update = json!({"workflowInstanceId": format!("no-such-workflow-{i}"),
                            "taskId": "no-such-task", "status": "COMPLETED"});
        let resp = s.update(&update).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    let stats = h.runtime.state_cache_stats();
    assert_eq!((stats.out_with_turns, stats.workflows), (0, 0), "{stats:?}");

    let metrics = metrics_text(s).await;
    for line in [
        "baton_state_cache{what=\"bytes\"} 0",
        "baton_state_cache{what=\"workflows\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
    for (reason, total) in [
        ("bytes", stats.evicted_for_bytes),
        ("not_admitted", stats.not_admitted),
    ] {
        let line = format!("baton_state_cache_evictions_total{{reason=\"{reason}\"}} {total}");
        assert!(metrics.contains(&line), "{line} not in {metrics}");
    }
}

/// A state unused for the idle time is dropped by the sweeper (by the runtime's clock: here a
/// manual one), and its workflow still runs on from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_states_leave_the_cache() {
    let config = RuntimeConfig {
        state_cache_idle: Duration::from_secs(300),
        ..RuntimeConfig::default()
    };
    let s = TestServer::with_manual_clock(config).await;
    let rt = s.runtime.clone().expect("an in-process server");
    s.register_workflow(common::simple_workflow("idle_wf", &["idle_a"]))
        .await;
    let ids = [
        s.start("idle_wf", json!({})).await,
        s.start("idle_wf", json!({})).await,
    ];
    assert_eq!(rt.state_cache_stats().workflows, 2);
    s.advance(Duration::from_secs(299)).await;
    assert_eq!(
        rt.state_cache_stats().workflows,
        2,
        "not idle for 300 s yet"
    );
    s.advance(Duration::from_secs(2)).await;
    let stats = rt.state_cache_stats();
    assert_eq!((stats.workflows, stats.evicted_idle), (0, 2), "{stats:?}");
    let metrics = metrics_text(&s).await;
    let line = "baton_state_cache_evictions_total{reason=\"idle\"} 2";
    assert!(metrics.contains(line), "{line} not in {metrics}");
    for _ in &ids {
        let task = s.poll_one("idle_a").await;
        s.complete(&task, json!({"n": 1})).await;
    }
    for id in &ids {
        s.wait_for_status(id, "COMPLETED", WAIT).await;
    }
}

/// The server's `/metrics` page.
async fn metrics_text(s: &TestServer) -> String {
    s.client
        .get(format!("{}/metrics", s.root))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text")
}

// ---------------------------------------------------------------- HTTP response cap

/// Answers every connection with `body` (with a Content-Length, or chunked without one).
async fn http_responder(body: Vec<u8>, chunked: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let mut out = Vec::new();
                if chunked {
                    out.extend_from_slice(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                    );
                    for piece in body.chunks(1000) {
                        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                        out.extend_from_slice(piece);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                } else {
                    out.extend_from_slice(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    );
                    out.extend_from_slice(&body);
                }
                let _ = sock.write_all(&out).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_task_response_over_the_cap_fails_naming_the_limit() {
    let config = RuntimeConfig {
        max_http_task_response_bytes: 4096,
        ..RuntimeConfig::default()
    };
    let s = TestServer::with_runtime_config(config).await;
    let small = http_responder(vec![b'a'; 4096], false).await;
    let sized = http_responder(vec![b'b'; 10_000], false).await;
    let chunked = http_responder(vec![b'c'; 10_000], true).await;
    s.register_workflow(json!({
        "name": "bounds_http", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "bounds_http_call", "taskReferenceName": "call", "type": "HTTP",
                   "inputParameters": {"http_request": {
                       "uri": "${workflow.input.uri}", "method": "GET"}}}]
    }))
    .await;
    let ok = s.start("bounds_http", json!({"uri": small})).await;
    let w = s.wait_for_status(&ok, "COMPLETED", WAIT).await;
    assert_eq!(
        task(&w, "call")["outputData"]["response"]["body"]
            .as_str()
            .map(str::len),
        Some(4096),
        "a body at the limit is kept whole"
    );
    for uri in [sized, chunked] {
        let id = s.start("bounds_http", json!({"uri": uri})).await;
        let w = s
            .wait_for(&id, "the HTTP task failed", WAIT, |w| {
                w["tasks"][0]["status"] == "FAILED"
            })
            .await;
        let t = &w["tasks"][0];
        let reason = t["reasonForIncompletion"].as_str().unwrap_or_default();
        assert!(
            reason.contains("limit of 4096 bytes")
                && reason.contains("--max-http-task-response-bytes"),
            "{reason}"
        );
        assert!(
            t["outputData"].get("response").is_none(),
            "no part of an oversized body is stored: {t}"
        );
    }
}

// ---------------------------------------------------------------- dynamic fork cap

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_fork_over_the_branch_cap_fails_terminally_and_forks_nothing() {
    let config = RuntimeConfig {
        max_fork_branches: 3,
        ..RuntimeConfig::default()
    };
    let s = TestServer::with_runtime_config(config).await;
    s.register_workflow(json!({
        "name": "bounds_dynfork", "version": 1, "schemaVersion": 2,
        "tasks": [
            {"name": "dfork", "taskReferenceName": "dfork", "type": "FORK_JOIN_DYNAMIC",
             "inputParameters": {"forkTaskName": "bounds_branch",
                                 "forkTaskInputs": "${workflow.input.items}"}},
            {"name": "djoin", "taskReferenceName": "djoin", "type": "JOIN"}
        ]
    }))
    .await;
    // At the limit: forked.
    let at = s.start("bounds_dynfork", json!({"items": [1, 2, 3]})).await;
    let w = s
        .wait_for(&at, "three branches", WAIT, |w| {
            w["tasks"].as_array().is_some_and(|ts| {
                ts.iter()
                    .filter(|t| t["taskType"] == "bounds_branch")
                    .count()
                    == 3
            })
        })
        .await;
    assert_eq!(task(&w, "dfork")["status"], "COMPLETED");
    // Over it: fails for good, nothing forked.
    let over = s
        .start("bounds_dynfork", json!({"items": [1, 2, 3, 4]}))
        .await;
    let w = s.wait_for_status(&over, "FAILED", WAIT).await;
    let fork = task(&w, "dfork");
    assert_eq!(fork["status"], "FAILED_WITH_TERMINAL_ERROR", "{fork}");
    let reason = fork["reasonForIncompletion"].as_str().unwrap_or_default();
    assert!(
        reason.contains("branch limit of 3") && reason.contains("--max-fork-branches"),
        "{reason}"
    );
    let tasks = w["tasks"].as_array().unwrap();
    assert!(
        tasks.iter().all(|t| t["taskType"] != "bounds_branch"),
        "branches were forked: {w}"
    );
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t["referenceTaskName"] == "dfork")
            .count(),
        1,
        "the fork was retried"
    );
}

// ---------------------------------------------------------------- shutdown with work in flight

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_returns_within_its_deadline_with_work_in_flight() {
    // An HTTP endpoint that accepts and never answers; it reports each connection's end.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = silent.accept().await {
            let _ = accepted_tx.send(());
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                // Read until the client goes away; never answer.
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = closed_tx.send(());
            });
        }
    });

    let config = ServerConfig {
        shutdown_timeout: Duration::from_millis(1000),
        ..ServerConfig::default()
    };
    let mut h = Harness::start(RuntimeConfig::default(), config).await;
    let s = &h.server;
    s.register_workflow(json!({
        "name": "bounds_hang", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "bounds_hang_call", "taskReferenceName": "call", "type": "HTTP",
                   "inputParameters": {"http_request": {
                       "uri": format!("http://{silent_addr}/never"), "method": "GET",
                       "connectionTimeOut": 60000, "readTimeOut": 60000}}}]
    }))
    .await;
    s.register_workflow(json!({
        "name": "bounds_wait", "version": 1, "schemaVersion": 2,
        "tasks": [{"name": "bounds_nobody", "taskReferenceName": "t", "type": "SIMPLE"}]
    }))
    .await;
    // 1. An HTTP system task stuck on the silent endpoint.
    s.start("bounds_hang", json!({})).await;
    tokio::time::timeout(WAIT, accepted_rx.recv())
        .await
        .expect("the HTTP task never connected");
    // 2. A long poll and 3. a synchronous execute, both waiting.
    let client = reqwest::Client::new();
    let poll = tokio::spawn(
        client
            .get(s.url("/tasks/poll/batch/bounds_idle?count=1&timeout=5000"))
            .send(),
    );
    let execute = tokio::spawn(
        client
            .post(s.url("/workflow/execute/bounds_wait/1?waitForSeconds=300"))
            .json(&json!({}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished() && !execute.is_finished());

    // Shut down: serve must return (the hang guard is far above the 1 s deadline).
    let _ = h.stop.take().expect("running").send(());
    let served = tokio::time::timeout(Duration::from_secs(30), &mut h.served)
        .await
        .expect("serve did not return after its shutdown deadline");
    served.expect("serve task").expect("serve");
    // The requests in flight were ended (answered or dropped), not left hanging...
    for (what, handle) in [("long poll", poll), ("execute", execute)] {
        let _answer_or_error = tokio::time::timeout(Duration::from_secs(30), handle)
            .await
            .unwrap_or_else(|_| panic!("the {what} request still hangs after serve returned"))
            .expect("request task");
    }
    // ...and the HTTP call was aborted, not left running detached until its 60 s timeout.
    tokio::time::timeout(Duration::from_secs(10), closed_rx.recv())
        .await
        .expect("the HTTP system task still holds its connection after serve returned");
}
