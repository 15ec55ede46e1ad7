//! Durability: `kill -9` of the server loses nothing it acknowledged (DESIGN.md "Invariants").
//!
//! A real `baton server` process runs on a real SQLite file, and again on a real PostgreSQL
//! database. Workers poll and complete a chain of five tasks in each of 50 workflows over HTTP
//! while a chaos loop SIGKILLs the server at random moments and restarts it on the same
//! database and port. Afterwards every workflow must
//! be COMPLETED with the right output, every acknowledged update must be in the final state,
//! no task attempt may be completed twice, and each workflow's history must be gap-free.

mod common;

#[path = "../../baton-store/tests/support/pg.rs"]
mod pg;

use common::free_port;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WORKFLOWS: i64 = 50;
const CHAIN: usize = 5;
const WORKERS: usize = 4;
const MIN_KILLS: usize = 3;
const MAX_KILLS: usize = 5;
const FINISH_DEADLINE: Duration = Duration::from_secs(90);
const HEALTH_DEADLINE: Duration = Duration::from_secs(10);
/// How long a worker keeps retrying one update through server restarts.
const UPDATE_RETRY_DEADLINE: Duration = Duration::from_secs(20);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// The server child process. Dropping it SIGKILLs the process, so no server outlives the test
/// on any exit path (including a panic).
struct Server {
    bin: PathBuf,
    /// The `--db` URL.
    db: String,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.bin)
            .arg("server")
            .args(["--port", &self.port.to_string()])
            .args(["--host", "127.0.0.1"])
            .args(["--db", &self.db])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL (std's `Child::kill` sends SIGKILL on Unix) and reap.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Wait for `/health`; fails if the process exits first (e.g. the port is taken).
    async fn wait_healthy(&mut self, client: &reqwest::Client) -> Result<Duration, String> {
        let started = Instant::now();
        let url = format!("{}/health", self.base());
        while started.elapsed() < HEALTH_DEADLINE {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("server exited before healthy: {status}"));
                }
            } else {
                return Err("no server process".into());
            }
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().is_success() {
                    if let Ok(body) = resp.json::<Value>().await {
                        if body["healthy"] == json!(true) {
                            return Ok(started.elapsed());
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("server not healthy within {HEALTH_DEADLINE:?}"))
    }

    /// (Re)start on the current port, retrying a few times (the port may linger briefly).
    async fn start(&mut self, client: &reqwest::Client) -> Result<Duration, String> {
        let mut last = String::new();
        for _ in 0..5 {
            self.kill9();
            self.spawn().map_err(|e| format!("spawn: {e}"))?;
            match self.wait_healthy(client).await {
                Ok(d) => return Ok(d),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!("{last}; log tail:\n{}", self.log_tail()))
    }

    fn log_tail(&self) -> String {
        common::log_tail(&self.log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One acknowledged COMPLETED update: the server answered 2xx.
#[derive(Debug, Clone)]
struct Ack {
    workflow_id: String,
    /// When the request that got the 2xx was sent / answered (epoch ms).
    sent_ms: i64,
    recv_ms: i64,
}

#[derive(Default)]
struct Stats {
    polls_failed: AtomicU64,
    update_retries: AtomicU64,
    abandoned: AtomicU64,
    tasks_received: AtomicU64,
}

struct Shared {
    base: String,
    stop: AtomicBool,
    acks: Mutex<HashMap<String, Ack>>,
    /// Non-2xx answers to COMPLETED updates: (task id, status, body).
    rejected: Mutex<Vec<(String, u16, String)>>,
    stats: Stats,
}

async fn worker(client: reqwest::Client, shared: Arc<Shared>, id: usize) {
    let worker_id = format!("dur-worker-{id}");
    let poll_url = format!(
        "{}/api/tasks/poll/batch/dur_task?count=8&timeout=200&workerid={worker_id}",
        shared.base
    );
    let update_url = format!("{}/api/tasks", shared.base);
    while !shared.stop.load(Ordering::SeqCst) {
        let tasks: Vec<Value> = match client.get(&poll_url).send().await {
            Ok(resp) if resp.status().is_success() => match resp.json::<Value>().await {
                Ok(Value::Array(tasks)) => tasks,
                _ => {
                    // Connection cut mid-body (the server was killed): the poll is lost and
                    // those tasks come back through the response timeout.
                    shared.stats.polls_failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            },
            _ => {
                shared.stats.polls_failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        for task in tasks {
            shared.stats.tasks_received.fetch_add(1, Ordering::Relaxed);
            let task_id = task["taskId"].as_str().unwrap_or_default().to_string();
            let workflow_id = task["workflowInstanceId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let n = task["inputData"]["n"]
                .as_i64()
                .unwrap_or_else(|| panic!("task {task_id} has no integer input n: {task}"));
            // "Work": a short random pause so tasks are in flight when the server dies.
            let work_ms = rand::thread_rng().gen_range(20..80);
            tokio::time::sleep(Duration::from_millis(work_ms)).await;
            let body = json!({
                "workflowInstanceId": workflow_id,
                "taskId": task_id,
                "status": "COMPLETED",
                "outputData": {"n": n + 1},
                "workerId": worker_id,
            });
            let first_try = Instant::now();
            loop {
                let sent_ms = now_ms();
                match client.post(&update_url).json(&body).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let recv_ms = now_ms();
                        shared.acks.lock().unwrap().insert(
                            task_id.clone(),
                            Ack {
                                workflow_id: workflow_id.clone(),
                                sent_ms,
                                recv_ms,
                            },
                        );
                        break;
                    }
                    Ok(resp) if resp.status().is_client_error() => {
                        let status = resp.status().as_u16();
                        let text = resp.text().await.unwrap_or_default();
                        shared
                            .rejected
                            .lock()
                            .unwrap()
                            .push((task_id.clone(), status, text));
                        break;
                    }
                    // Connection refused/reset or a 5xx while the server is down: retry.
                    _ => {
                        // Half the time the worker "dies with the server" and abandons the
                        // task: that attempt must time out after restart and be retried.
                        if rand::thread_rng().gen_bool(0.5) {
                            shared.stats.abandoned.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        shared.stats.update_retries.fetch_add(1, Ordering::Relaxed);
                        if first_try.elapsed() > UPDATE_RETRY_DEADLINE {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }
}

async fn must_ok(resp: Result<reqwest::Response, reqwest::Error>, what: &str) -> String {
    let resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{what}: HTTP {status}: {text}");
    text
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let text = must_ok(client.get(url).send().await, url).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: bad JSON ({e}): {text}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn excerpt(history: &[Value], task_id: Option<&str>) -> String {
    history
        .iter()
        .filter(|e| task_id.is_none_or(|t| s(&e["taskId"]) == t))
        .map(|e| {
            format!(
                "  #{} {} {} {} {} t={} worker={}",
                e["id"],
                s(&e["entity"]),
                s(&e["referenceTaskName"]),
                s(&e["taskId"]),
                s(&e["status"]),
                e["time"],
                s(&e["workerId"]),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("durability.db").display());
    kill_dash_nine_on(&db, &dir, Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_nothing_acknowledged_on_postgres() {
    let Some(pg) = pg::PgDb::create("durability").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    kill_dash_nine_on(&pg.url, &dir, Backend::Postgres).await;
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn kill_dash_nine_on(db: &str, dir: &tempfile::TempDir, backend: Backend) {
    let wall = Instant::now();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");

    // ----- start the server on a free port (retry if the port got taken meanwhile) -----
    let mut server = Server {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_baton")),
        db: db.to_string(),
        log: dir.path().join("server.log"),
        port: 0,
        child: None,
    };
    let mut started = None;
    for _ in 0..5 {
        server.port = free_port();
        server.spawn().expect("spawn baton server");
        match server.wait_healthy(&client).await {
            Ok(d) => {
                started = Some(d);
                break;
            }
            Err(e) => {
                eprintln!("start on port {} failed: {e}", server.port);
                server.kill9();
            }
        }
    }
    let cold_start =
        started.unwrap_or_else(|| panic!("server never healthy:\n{}", server.log_tail()));
    let base = server.base();
    eprintln!("server on {base}, healthy after {cold_start:?}");

    // ----- definitions -----
    let taskdefs = json!([{
        "name": "dur_task",
        "retryCount": 5,
        "retryLogic": "FIXED",
        "retryDelaySeconds": 0,
        "responseTimeoutSeconds": 2,
        "timeoutSeconds": 0,
        "timeoutPolicy": "TIME_OUT_WF",
        "ownerEmail": "durability@example.com",
    }]);
    must_ok(
        client
            .post(format!("{base}/api/metadata/taskdefs"))
            .json(&taskdefs)
            .send()
            .await,
        "register taskdef",
    )
    .await;
    let tasks: Vec<Value> = (1..=CHAIN)
        .map(|i| {
            let input = if i == 1 {
                "${workflow.input.n}".to_string()
            } else {
                format!("${{t{}.output.n}}", i - 1)
            };
            json!({
                "name": "dur_task",
                "taskReferenceName": format!("t{i}"),
                "type": "SIMPLE",
                "inputParameters": {"n": input},
            })
        })
        .collect();
    let wfdef = json!({
        "name": "dur_chain",
        "version": 1,
        "schemaVersion": 2,
        "ownerEmail": "durability@example.com",
        "tasks": tasks,
        "outputParameters": {"n": format!("${{t{CHAIN}.output.n}}")},
    });
    must_ok(
        client
            .post(format!("{base}/api/metadata/workflow?overwrite=true"))
            .json(&wfdef)
            .send()
            .await,
        "register workflow",
    )
    .await;

    // ----- start the workflows -----
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..WORKFLOWS {
        let n = i * 100;
        let id = must_ok(
            client
                .post(format!("{base}/api/workflow/dur_chain"))
                .json(&json!({"n": n}))
                .send()
                .await,
            "start workflow",
        )
        .await;
        let id = id.trim().trim_matches('"').to_string();
        assert!(!id.is_empty(), "empty workflow id");
        expected.insert(id, n + CHAIN as i64);
    }

    // ----- workers -----
    let shared = Arc::new(Shared {
        base: base.clone(),
        stop: AtomicBool::new(false),
        acks: Mutex::new(HashMap::new()),
        rejected: Mutex::new(Vec::new()),
        stats: Stats::default(),
    });
    let handles: Vec<_> = (0..WORKERS)
        .map(|i| tokio::spawn(worker(client.clone(), shared.clone(), i)))
        .collect();

    // ----- chaos: SIGKILL at random moments, restart on the same file and port -----
    let kills_planned = rand::thread_rng().gen_range(MIN_KILLS..=MAX_KILLS);
    let mut kills = 0usize;
    let mut restarts = Vec::new();
    for k in 0..kills_planned {
        let delay = rand::thread_rng().gen_range(200..=1200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let acked_before = shared.acks.lock().unwrap().len();
        server.kill9();
        kills += 1;
        let down = Instant::now();
        let healthy = server
            .start(&client)
            .await
            .unwrap_or_else(|e| panic!("restart after kill {}: {e}", k + 1));
        restarts.push(down.elapsed());
        eprintln!(
            "kill #{} after {delay} ms ({acked_before} updates acknowledged so far); healthy again after {healthy:?}",
            k + 1
        );
    }

    // ----- let the workers finish -----
    let finish_start = Instant::now();
    let mut pending: HashSet<String> = expected.keys().cloned().collect();
    while !pending.is_empty() && finish_start.elapsed() < FINISH_DEADLINE {
        let mut done = Vec::new();
        for id in &pending {
            if let Ok(resp) = client
                .get(format!("{base}/api/workflow/{id}?includeTasks=false"))
                .send()
                .await
            {
                if let Ok(wf) = resp.json::<Value>().await {
                    let st = s(&wf["status"]);
                    if st != "RUNNING" && st != "PAUSED" {
                        done.push(id.clone());
                    }
                }
            }
        }
        for id in done {
            pending.remove(&id);
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let finish_wait = finish_start.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    for h in handles {
        // Workers notice `stop` within one poll (200 ms) plus one batch of work.
        let _ = tokio::time::timeout(Duration::from_secs(30), h).await;
    }

    // One more kill -9 after everything settled: the final state must come from the file.
    server.kill9();
    kills += 1;
    server
        .start(&client)
        .await
        .unwrap_or_else(|e| panic!("restart after the final kill: {e}"));

    // ----- checks -----
    let acks = shared.acks.lock().unwrap().clone();
    let rejected = shared.rejected.lock().unwrap().clone();
    let mut failures: Vec<String> = Vec::new();
    let mut fail = |check: &str, msg: String| failures.push(format!("[{check}] {msg}"));

    // 5. enough kills
    if kills - 1 < MIN_KILLS {
        fail(
            "5 kills",
            format!("only {} random kills happened", kills - 1),
        );
    }
    if !rejected.is_empty() {
        fail(
            "updates",
            format!(
                "{} COMPLETED updates were rejected with a 4xx, e.g. {:?}",
                rejected.len(),
                &rejected[..rejected.len().min(5)]
            ),
        );
    }

    let mut all_history_ids: Vec<i64> = Vec::new();
    let mut timed_out_total = 0usize;
    let mut stale_acks = 0usize;
    let mut task_status: HashMap<String, (String, String)> = HashMap::new(); // id -> (wf, status)
    let mut timed_out_at: HashMap<String, i64> = HashMap::new();
    let mut histories: HashMap<String, Vec<Value>> = HashMap::new();

    for (wf_id, want) in &expected {
        let wf = get_json(
            &client,
            &format!("{base}/api/workflow/{wf_id}?includeTasks=true"),
        )
        .await;
        let history = match get_json(&client, &format!("{base}/api/workflow/{wf_id}/history")).await
        {
            Value::Array(events) => events,
            other => panic!("history of {wf_id} is not an array: {other}"),
        };

        // 1. COMPLETED with the chained output
        if s(&wf["status"]) != "COMPLETED" {
            fail(
                "1 completed",
                format!(
                    "workflow {wf_id} is {} (reason {:?})\n{}",
                    s(&wf["status"]),
                    wf["reasonForIncompletion"],
                    excerpt(&history, None)
                ),
            );
        } else if wf["output"] != json!({"n": want}) {
            fail(
                "1 output",
                format!(
                    "workflow {wf_id}: output {} != {{\"n\":{want}}}",
                    wf["output"]
                ),
            );
        }

        let tasks = wf["tasks"].as_array().cloned().unwrap_or_default();
        for t in &tasks {
            task_status.insert(
                s(&t["taskId"]).to_string(),
                (wf_id.clone(), s(&t["status"]).to_string()),
            );
        }

        // 4. history: increasing ids, WORKFLOW RUNNING first / COMPLETED last
        let ids: Vec<i64> = history
            .iter()
            .map(|e| e["id"].as_i64().unwrap_or(-1))
            .collect();
        if ids.windows(2).any(|w| w[0] >= w[1]) {
            fail(
                "4 ids",
                format!("workflow {wf_id}: history ids not increasing: {ids:?}"),
            );
        }
        all_history_ids.extend(&ids);
        if history.iter().any(|e| s(&e["workflowId"]) != wf_id) {
            fail(
                "4 ids",
                format!("workflow {wf_id}: history has events of another workflow"),
            );
        }
        let wf_events: Vec<&str> = history
            .iter()
            .filter(|e| s(&e["entity"]) == "WORKFLOW")
            .map(|e| s(&e["status"]))
            .collect();
        let first_ok = history
            .first()
            .is_some_and(|e| s(&e["entity"]) == "WORKFLOW" && s(&e["status"]) == "RUNNING");
        let last_ok = history
            .last()
            .is_some_and(|e| s(&e["entity"]) == "WORKFLOW" && s(&e["status"]) == "COMPLETED");
        if !first_ok || !last_ok || wf_events != ["RUNNING", "COMPLETED"] {
            fail(
                "4 workflow events",
                format!(
                    "workflow {wf_id}: workflow events {wf_events:?}, first RUNNING {first_ok}, last COMPLETED {last_ok}\n{}",
                    excerpt(&history, None)
                ),
            );
        }

        // 3 + 4. per task id: SCHEDULED, IN_PROGRESS, one terminal status, in that order
        let mut by_task: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
        for e in history.iter().filter(|e| s(&e["entity"]) == "TASK") {
            by_task.entry(s(&e["taskId"])).or_default().push(e);
        }
        let mut completed_by_ref: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (task_id, events) in &by_task {
            let statuses: Vec<&str> = events.iter().map(|e| s(&e["status"])).collect();
            let completed = statuses.iter().filter(|st| **st == "COMPLETED").count();
            if completed > 1 {
                fail(
                    "3 completed twice",
                    format!(
                        "workflow {wf_id} task {task_id} completed {completed} times\n{}",
                        excerpt(&history, Some(task_id))
                    ),
                );
            }
            let ok_shape = matches!(
                statuses.as_slice(),
                ["SCHEDULED", "IN_PROGRESS", "COMPLETED"]
                    | ["SCHEDULED", "IN_PROGRESS", "TIMED_OUT"]
            );
            if !ok_shape {
                fail(
                    "4 task events",
                    format!(
                        "workflow {wf_id} task {task_id}: events {statuses:?}, want SCHEDULED, IN_PROGRESS, COMPLETED|TIMED_OUT\n{}",
                        excerpt(&history, Some(task_id))
                    ),
                );
            }
            let refs: HashSet<&str> = events.iter().map(|e| s(&e["referenceTaskName"])).collect();
            if refs.len() != 1 {
                fail(
                    "4 task events",
                    format!("workflow {wf_id} task {task_id}: several reference names {refs:?}"),
                );
            }
            if let Some(last) = events.last() {
                match s(&last["status"]) {
                    "COMPLETED" => completed_by_ref
                        .entry(s(&last["referenceTaskName"]).to_string())
                        .or_default()
                        .push(task_id.to_string()),
                    "TIMED_OUT" => {
                        timed_out_total += 1;
                        timed_out_at
                            .insert(task_id.to_string(), last["time"].as_i64().unwrap_or(0));
                    }
                    _ => {}
                }
            }
        }
        for i in 1..=CHAIN {
            let r = format!("t{i}");
            let done = completed_by_ref.get(&r).map(Vec::len).unwrap_or(0);
            if done != 1 {
                fail(
                    "3 one completion per ref",
                    format!(
                        "workflow {wf_id} ref {r}: {done} completed attempts\n{}",
                        excerpt(&history, None)
                    ),
                );
            }
        }

        // 4. the final JSON and the history agree on the set of tasks and their status
        for t in &tasks {
            let id = s(&t["taskId"]);
            match by_task.get(id) {
                None => fail(
                    "4 no gap",
                    format!(
                        "workflow {wf_id}: task {id} ({}) has no history",
                        s(&t["referenceTaskName"])
                    ),
                ),
                Some(events) => {
                    if s(&events[0]["status"]) != "SCHEDULED" {
                        fail(
                            "4 no gap",
                            format!("workflow {wf_id}: task {id} history does not start SCHEDULED"),
                        );
                    }
                    let last = s(&events[events.len() - 1]["status"]);
                    if last != s(&t["status"]) {
                        fail(
                            "4 no gap",
                            format!(
                                "workflow {wf_id}: task {id} is {} in the workflow but {last} in the history",
                                s(&t["status"])
                            ),
                        );
                    }
                }
            }
        }
        let json_ids: HashSet<&str> = tasks.iter().map(|t| s(&t["taskId"])).collect();
        for id in by_task.keys() {
            if !json_ids.contains(id) {
                fail(
                    "4 no gap",
                    format!("workflow {wf_id}: history task {id} is missing from the workflow"),
                );
            }
        }
        // Retries are new attempts: per ref, retryCount goes 0, 1, 2, ... in scheduling order.
        let mut per_ref: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for t in &tasks {
            per_ref
                .entry(s(&t["referenceTaskName"]))
                .or_default()
                .push(t["retryCount"].as_i64().unwrap_or(-1));
        }
        for (r, counts) in &per_ref {
            let want: Vec<i64> = (0..counts.len() as i64).collect();
            if *counts != want {
                fail(
                    "3 retries",
                    format!("workflow {wf_id} ref {r}: retryCounts {counts:?}, want {want:?}"),
                );
            }
        }
        histories.insert(wf_id.clone(), history);
    }

    // 4. global: history ids are dense across the whole (single-purpose) store. On SQLite
    //    only: a PostgreSQL sequence never hands a number out twice, but numbers drawn by a
    //    transaction that did not commit (the killed server's) are gone, leaving holes; the
    //    per-task checks above are what prove no event was lost there.
    all_history_ids.sort_unstable();
    if all_history_ids.windows(2).any(|w| w[0] == w[1]) {
        fail("4 no gap", "a history id appears twice".to_string());
    }
    if let (Backend::Sqlite, Some(first), Some(last)) =
        (backend, all_history_ids.first(), all_history_ids.last())
    {
        let span = (last - first + 1) as usize;
        if span != all_history_ids.len() {
            fail(
                "4 no gap",
                format!(
                    "history ids {first}..={last} span {span} ids but {} events exist (lost or duplicated events)",
                    all_history_ids.len()
                ),
            );
        }
    }

    // 2. every acknowledged COMPLETED is COMPLETED in the final state (a 2xx for an attempt
    //    that had already timed out before the update reached the server is a legal no-op).
    for (task_id, ack) in &acks {
        match task_status.get(task_id) {
            Some((_, st)) if st == "COMPLETED" => {}
            Some((_, st)) if st == "TIMED_OUT" && timed_out_at.get(task_id).is_some_and(|t| *t <= ack.recv_ms) => {
                stale_acks += 1;
            }
            other => fail(
                "2 acknowledged lost",
                format!(
                    "task {task_id} of workflow {}: update acknowledged (sent {}, answered {}) but final status {:?}\n{}",
                    ack.workflow_id,
                    ack.sent_ms,
                    ack.recv_ms,
                    other.map(|(_, st)| st.as_str()),
                    histories
                        .get(&ack.workflow_id)
                        .map(|h| excerpt(h, Some(task_id)))
                        .unwrap_or_default()
                ),
            ),
        }
    }

    eprintln!(
        "durability: {kills} kills ({} random + 1 final), restarts took {:?}; {} tasks handed out, {} updates acknowledged ({} were no-ops for already timed-out attempts), {} update retries, {} tasks abandoned on a connection error, {} failed polls; {} response-timeout retries observed; finished {:?} after the last random kill; wall time {:?}",
        kills - 1,
        restarts,
        shared.stats.tasks_received.load(Ordering::Relaxed),
        acks.len(),
        stale_acks,
        shared.stats.update_retries.load(Ordering::Relaxed),
        shared.stats.abandoned.load(Ordering::Relaxed),
        shared.stats.polls_failed.load(Ordering::Relaxed),
        timed_out_total,
        finish_wait,
        wall.elapsed(),
    );
    if !failures.is_empty() {
        let shown = failures.len().min(15);
        panic!(
            "{} durability failures (first {shown}):\n{}\n\nserver log tail:\n{}",
            failures.len(),
            failures[..shown].join("\n"),
            server.log_tail()
        );
    }
    drop(server);
}
