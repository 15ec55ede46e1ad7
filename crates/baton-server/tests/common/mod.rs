//! An in-process Baton server on a loopback port over a fresh SQLite file, plus small helpers
//! that speak the Conductor wire protocol the way an SDK would.
//!
//! `BATON_TEST_BACKEND=postgres` runs the servers on a fresh PostgreSQL database each instead
//! (see `baton-store/tests/support/pg.rs`). The database belongs to the server's [`StoreDir`]:
//! a stopped server hands it back to reopen, and it is dropped with the last of them.

#![allow(dead_code)]

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../../../baton-store/tests/support/pg.rs"]
pub mod pg;

pub mod blocking_stub;
mod store_dir;

pub use store_dir::StoreDir;

pub struct TestServer {
    dir: Option<StoreDir>,
    /// The PostgreSQL store, closed when the server drops (before its database is dropped).
    postgres: Option<baton_store::PostgresStore>,
    /// `http://127.0.0.1:<port>/api`
    pub base: String,
    /// `http://127.0.0.1:<port>`
    pub root: String,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The runtime of an in-process server (not of an attached one).
    pub runtime: Option<Arc<baton_runtime::Runtime>>,
    /// The clock the runtime and store read (manual in [`TestServer::with_manual_clock`]).
    pub clock: baton_runtime::Clock,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Nothing reconnects once the pool is closed; `dir` then drops the database.
        if let Some(store) = self.postgres.take() {
            store.close();
        }
    }
}

/// Whether the servers of this test run use PostgreSQL (`BATON_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("BATON_TEST_BACKEND").as_deref() == Ok("postgres")
}

impl TestServer {
    pub async fn spawn() -> TestServer {
        Self::with_config(baton_server::ServerConfig::default()).await
    }

    pub async fn with_config(config: baton_server::ServerConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::open(dir, config, baton_runtime::RuntimeConfig::default()).await
    }

    pub async fn with_runtime_config(runtime: baton_runtime::RuntimeConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::open(dir, baton_server::ServerConfig::default(), runtime).await
    }

    /// A server whose runtime and store read a manual clock that only [`TestServer::advance`]
    /// moves: timeouts and timers are proved by moving time, not by sleeping.
    pub async fn with_manual_clock(mut runtime: baton_runtime::RuntimeConfig) -> TestServer {
        runtime.clock = baton_runtime::Clock::manual_from_now();
        let dir = tempfile::tempdir().expect("tempdir");
        Self::open(dir, baton_server::ServerConfig::default(), runtime).await
    }

    /// Moves the manual clock forward by `by`, then decides every workflow that became due
    /// and waits for those decisions: afterwards the server is in the state `by` later.
    /// Answers how many workflows were decided.
    pub async fn advance(&self, by: Duration) -> usize {
        assert!(self.clock.is_manual(), "advance needs with_manual_clock");
        self.clock.advance(by);
        self.runtime
            .as_ref()
            .expect("an in-process server")
            .fire_due_timers()
            .await
    }

    /// The database file a server in `dir` uses.
    pub fn db_path(dir: &std::path::Path) -> std::path::PathBuf {
        dir.join("t.db")
    }

    /// A server over the store in `dir` (created if missing, kept if present): its
    /// PostgreSQL database if it has one or `BATON_TEST_BACKEND=postgres`, else SQLite.
    pub async fn open(
        dir: impl Into<StoreDir>,
        config: baton_server::ServerConfig,
        runtime_config: baton_runtime::RuntimeConfig,
    ) -> TestServer {
        let mut dir = dir.into();
        let clock = runtime_config.clock.clone();
        if dir.is_postgres() || on_postgres() {
            let url = dir.postgres_url().await;
            let store = Self::postgres_store(&url, clock).await;
            let mut server =
                Self::serve_store(dir, Arc::new(store.clone()), config, runtime_config).await;
            server.postgres = Some(store);
            return server;
        }
        let store = baton_store::SqliteStore::open(baton_store::SqliteOptions {
            clock: clock.clone(),
            ..baton_store::SqliteOptions::new(Self::db_path(dir.path()))
        })
        .expect("open sqlite store");
        Self::serve_store(dir, Arc::new(store), config, runtime_config).await
    }

    /// One of several servers on the PostgreSQL database at `url` (each its own store
    /// handle: its own pool and change-feed connection, as a separate node would have).
    pub async fn on_postgres_database(
        url: &str,
        runtime_config: baton_runtime::RuntimeConfig,
    ) -> TestServer {
        let store = Self::postgres_store(url, runtime_config.clock.clone()).await;
        let dir = tempfile::tempdir().expect("tempdir").into();
        let config = baton_server::ServerConfig::default();
        let mut server =
            Self::serve_store(dir, Arc::new(store.clone()), config, runtime_config).await;
        server.postgres = Some(store);
        server
    }

    async fn postgres_store(url: &str, clock: baton_runtime::Clock) -> baton_store::PostgresStore {
        let mut opts = baton_store::PostgresOptions::new(url);
        opts.clock = clock;
        opts.max_connections = 8;
        baton_store::PostgresStore::open(opts)
            .await
            .expect("open postgres store")
    }

    async fn serve_store(
        dir: StoreDir,
        store: Arc<dyn baton_store::Store>,
        config: baton_server::ServerConfig,
        runtime_config: baton_runtime::RuntimeConfig,
    ) -> TestServer {
        let clock = runtime_config.clock.clone();
        let runtime = baton_runtime::Runtime::new(store, runtime_config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(baton_server::serve(
            listener,
            runtime.clone(),
            config,
            async {
                let _ = rx.await;
            },
        ));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        TestServer {
            dir: Some(dir),
            postgres: None,
            base: format!("http://{addr}/api"),
            root: format!("http://{addr}"),
            client,
            shutdown: Some(tx),
            runtime: Some(runtime),
            clock,
        }
    }

    /// A client of a server someone else started and stops, at `root` (`http://host:port`).
    pub fn attached(root: &str) -> TestServer {
        TestServer {
            dir: None,
            postgres: None,
            base: format!("{root}/api"),
            root: root.to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            shutdown: None,
            runtime: None,
            clock: baton_runtime::Clock::System,
        }
    }

    /// Shuts the server down and hands back its store (database kept), to reopen it with
    /// [`TestServer::open`] as a restarted server would.
    pub fn stop(mut self) -> StoreDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Left open, as before: the stopped runtime keeps its handle until the test ends.
        self.postgres = None;
        self.dir.take().expect("the directory is kept until stop")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    // ---- raw HTTP ----------------------------------------------------------------------

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("PUT")
    }

    /// POST a raw body labelled `application/json` (for malformed-JSON tests and log lines).
    pub async fn post_raw(&self, path: &str, body: impl Into<String>) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .expect("POST raw")
    }

    /// GET that must answer 200 JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let resp = self.get(path).await;
        expect_json(resp, StatusCode::OK).await
    }

    // ---- metadata ----------------------------------------------------------------------

    pub async fn register_task_def(&self, def: Value) {
        let resp = self
            .post_json("/metadata/taskdefs", &Value::Array(vec![def]))
            .await;
        expect_status(resp, StatusCode::OK).await;
    }

    pub async fn register_workflow(&self, def: Value) {
        let resp = self.post_json("/metadata/workflow", &def).await;
        expect_status(resp, StatusCode::OK).await;
    }

    // ---- workflows ---------------------------------------------------------------------

    pub async fn start(&self, name: &str, input: Value) -> String {
        let resp = self
            .post_json("/workflow", &json!({"name": name, "input": input}))
            .await;
        let body = expect_status(resp, StatusCode::OK).await;
        assert!(!body.is_empty(), "start returned an empty workflow id");
        body
    }

    pub async fn workflow(&self, id: &str) -> Value {
        self.get_json(&format!("/workflow/{id}")).await
    }

    pub async fn history(&self, id: &str) -> Vec<Value> {
        as_array(self.get_json(&format!("/workflow/{id}/history")).await)
    }

    /// Polls GET every 50 ms until the workflow has `status`; panics with the last JSON seen.
    pub async fn wait_for_status(&self, id: &str, status: &str, max: Duration) -> Value {
        let deadline = Instant::now() + max;
        let mut last = Value::Null;
        for _ in 0..10_000 {
            last = self.workflow(id).await;
            if last["status"] == status {
                return last;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "workflow {id} did not reach {status} within {max:?}; last seen:\n{}",
            serde_json::to_string_pretty(&last).unwrap()
        );
    }

    /// Polls GET every 50 ms until `pred` holds for the workflow JSON; panics with the last JSON.
    pub async fn wait_for(
        &self,
        id: &str,
        what: &str,
        max: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + max;
        let mut last = Value::Null;
        for _ in 0..10_000 {
            last = self.workflow(id).await;
            if pred(&last) {
                return last;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "workflow {id}: {what} did not happen within {max:?}; last seen:\n{}",
            serde_json::to_string_pretty(&last).unwrap()
        );
    }

    // ---- worker path -------------------------------------------------------------------

    pub async fn poll_batch(&self, task_type: &str, count: u32, timeout_ms: u64) -> Vec<Value> {
        let resp = self
            .get(&format!(
                "/tasks/poll/batch/{task_type}?count={count}&timeout={timeout_ms}&workerid=test-worker"
            ))
            .await;
        as_array(expect_json(resp, StatusCode::OK).await)
    }

    /// Polls (bounded) until exactly one task of `task_type` is handed out.
    pub async fn poll_one(&self, task_type: &str) -> Value {
        for _ in 0..20 {
            let mut got = self.poll_batch(task_type, 1, 500).await;
            if let Some(t) = got.pop() {
                return t;
            }
        }
        panic!("no {task_type} task became pollable within ~10 s");
    }

    pub async fn update(&self, body: &Value) -> Response {
        self.post_json("/tasks", body).await
    }

    pub async fn complete(&self, task: &Value, output: Value) {
        let resp = self
            .update(&json!({
                "taskId": task["taskId"],
                "workflowInstanceId": task["workflowInstanceId"],
                "workerId": "test-worker",
                "status": "COMPLETED",
                "outputData": output,
            }))
            .await;
        let body = expect_status(resp, StatusCode::OK).await;
        assert_eq!(body, task["taskId"].as_str().unwrap());
    }

    pub async fn fail(&self, task: &Value, reason: &str) {
        self.fail_with(task, "FAILED", reason).await;
    }

    pub async fn fail_with(&self, task: &Value, status: &str, reason: &str) {
        let resp = self
            .update(&json!({
                "taskId": task["taskId"],
                "workflowInstanceId": task["workflowInstanceId"],
                "workerId": "test-worker",
                "status": status,
                "reasonForIncompletion": reason,
            }))
            .await;
        expect_status(resp, StatusCode::OK).await;
    }
}

// ---- response checks ---------------------------------------------------------------------

pub fn content_type(resp: &Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Asserts the status and returns the body text.
pub async fn expect_status(resp: Response, status: StatusCode) -> String {
    let got = resp.status();
    let url = resp.url().to_string();
    let body = resp.text().await.expect("body");
    assert_eq!(got, status, "unexpected status from {url}; body: {body}");
    body
}

/// Asserts the status and an `application/json` body, and returns it parsed.
pub async fn expect_json(resp: Response, status: StatusCode) -> Value {
    let ct = content_type(&resp);
    let body = expect_status(resp, status).await;
    assert!(
        ct.starts_with("application/json"),
        "expected application/json, got '{ct}' (body: {body})"
    );
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("invalid JSON ({e}): {body}"))
}

/// Asserts a Conductor error body with `status` whose message contains every one of `needles`.
pub async fn expect_error(resp: Response, status: StatusCode, needles: &[&str]) -> Value {
    let v = expect_json(resp, status).await;
    assert_eq!(v["status"], status.as_u16(), "error body: {v}");
    let msg = v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {v}"));
    assert!(!msg.is_empty(), "empty error message: {v}");
    let all = v.to_string();
    for n in needles {
        assert!(
            msg.contains(n) || all.contains(n),
            "error for status {status} should name '{n}': {v}"
        );
    }
    v
}

pub fn as_array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => panic!("expected a JSON array, got {other}"),
    }
}

/// A workflow definition of sequential SIMPLE tasks; each ref is `<task>_ref`.
pub fn simple_workflow(name: &str, tasks: &[&str]) -> Value {
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|t| {
            json!({
                "name": t,
                "taskReferenceName": format!("{t}_ref"),
                "type": "SIMPLE",
            })
        })
        .collect();
    json!({"name": name, "version": 1, "schemaVersion": 2, "tasks": tasks})
}

/// Tasks of the workflow JSON with the given reference name, in order.
pub fn tasks_by_ref<'a>(wf: &'a Value, reference: &str) -> Vec<&'a Value> {
    wf["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter(|t| t["referenceTaskName"] == reference)
                .collect()
        })
        .unwrap_or_default()
}

/// `(taskType, status)` of every task of a workflow, in order.
pub fn shape(w: &Value) -> Vec<(String, String)> {
    w["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["taskType"].as_str().unwrap_or_default().to_string(),
                t["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Asserts the `(taskType, status)` of every task of a workflow, in order.
pub fn expect_shape(w: &Value, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(shape(w), expected, "{w:#}");
}

/// `(taskType, status, iteration)` of every task of a workflow, in order.
pub fn steps(w: &Value) -> Vec<(String, String, i64)> {
    w["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["taskType"].as_str().unwrap_or_default().to_string(),
                t["status"].as_str().unwrap_or_default().to_string(),
                t["iteration"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

/// Asserts [`steps`], printing the workflow when they differ.
pub fn expect_steps(w: &Value, expected: &[(&str, &str, i64)]) {
    let expected: Vec<(String, String, i64)> = expected
        .iter()
        .map(|(a, b, i)| (a.to_string(), b.to_string(), *i))
        .collect();
    assert_eq!(steps(w), expected, "{w:#}");
}

/// Serves `app` on a loopback port until the returned sender is dropped: a stand-in for the
/// services HTTP tasks call. Returns `http://127.0.0.1:<port>`.
pub async fn serve_stub(app: axum::Router) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind stub");
    let addr = listener.local_addr().expect("stub addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    (format!("http://{addr}"), stop)
}

/// The single task of a one-task execution (fails the test if there are more or none).
pub fn only_task(w: &Value) -> &Value {
    let tasks = w["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{w:#}");
    &tasks[0]
}
