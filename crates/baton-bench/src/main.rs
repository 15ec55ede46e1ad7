//! `baton-bench`: starts a Baton server (SQLite backend) and prints headline figures:
//! cold start, idle RSS, W1 chain throughput, W2 fan-out wall time and W3 end-to-end latency.
//!
//! Every server this program spawns is owned by a [`ServerProc`], which kills it on drop, so
//! the server goes away on every exit path (errors, panics, Ctrl-C).

use anyhow::{anyhow, bail, Context};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

mod w1v2;

const TASK_TYPE: &str = "bench_noop";
const CHAIN_WF: &str = "bench_chain";
const FANOUT_WF: &str = "bench_fanout";
const SINGLE_WF: &str = "bench_single";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "baton-bench",
    about = "Start a Baton server and measure cold start, RSS, throughput and latency"
)]
struct Args {
    /// The `baton` binary to benchmark [default: the `baton` beside this binary, i.e. the
    /// same cargo target directory].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Concurrent worker poll loops.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Tasks per batch poll.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Task updates in flight per worker loop.
    #[arg(long, default_value_t = 16)]
    inflight: usize,
    /// SQLite synchronous mode passed to `baton server --sync`.
    #[arg(long, value_enum, default_value_t = SyncMode::Normal)]
    sync: SyncMode,
    /// Cold-start runs per case (the median is reported).
    #[arg(long, default_value_t = 5)]
    cold_runs: usize,
    /// W1: workflows to start.
    #[arg(long, default_value_t = 200)]
    w1_workflows: usize,
    /// W1: sequential tasks per workflow.
    #[arg(long, default_value_t = 10)]
    w1_chain: usize,
    /// W1: concurrent start requests.
    #[arg(long, default_value_t = 16)]
    w1_start_concurrency: usize,
    /// W1: workers complete with `POST /api/tasks/update-v2` (update and next poll in one
    /// call); `--inflight` loops per worker, each holding one task at a time.
    #[arg(long)]
    w1_update_v2: bool,
    /// Run only W1 (no cold start, W2 or W3): for repeated throughput runs.
    #[arg(long)]
    only_w1: bool,
    /// W1: abort after this many seconds.
    #[arg(long, default_value_t = 120)]
    w1_deadline_secs: u64,
    /// W2: fork branches.
    #[arg(long, default_value_t = 100)]
    w2_branches: usize,
    /// W3: sequential start-to-ack measurements.
    #[arg(long, default_value_t = 200)]
    w3_iterations: usize,
    /// Directory for the temporary database files (default: the system temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Run W1 with the official Python SDK worker (needs the compat venv); optional.
    #[arg(long)]
    python_workers: bool,
    /// Directory of the Python venv with conductor-python (for --python-workers).
    #[arg(long, env = "BATON_COMPAT_VENV")]
    python_venv: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SyncMode {
    Normal,
    Full,
}

impl SyncMode {
    fn as_str(self) -> &'static str {
        match self {
            SyncMode::Normal => "normal",
            SyncMode::Full => "full",
        }
    }
}

/// A spawned server; killed (and reaped) on drop.
struct ServerProc {
    child: Child,
    base: String,
}

impl ServerProc {
    fn spawn(args: &Args, db: &Path, log: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = Command::new(args.server_bin.as_deref().unwrap_or(Path::new("baton")))
            .arg("server")
            .arg("--port")
            .arg(port.to_string())
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--db")
            .arg(format!("sqlite://{}", db.display()))
            .arg("--sync")
            .arg(args.sync.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .spawn()
            .with_context(|| format!("spawning {:?}", args.server_bin))?;
        Ok(Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls /health every 1 ms until 200 (bounded by `limit`).
    async fn wait_healthy(
        &mut self,
        client: &reqwest::Client,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let url = format!("{}/health", self.base);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("server exited during start-up: {status}");
            }
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("server not healthy after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// SIGTERM, then SIGKILL if it is still alive after 5 s.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // Drop kills.
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let n = rest.trim().trim_end_matches("kB").trim();
            return n
                .parse()
                .with_context(|| format!("parsing {field}: {rest}"));
        }
    }
    bail!("{field} not found in /proc/{pid}/status")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile of a sorted slice.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<String> {
        let resp = self
            .client
            .post(format!("{}{}", self.base, path))
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        Ok(text)
    }

    async fn register(&self, chain: usize, branches: usize) -> anyhow::Result<()> {
        let taskdefs = json!([{
            "name": TASK_TYPE,
            "description": "baton-bench no-op task",
            "ownerEmail": "bench@example.com",
            "retryCount": 0,
            "timeoutSeconds": 0,
            "responseTimeoutSeconds": 60,
            "timeoutPolicy": "TIME_OUT_WF",
        }]);
        self.post_json("/api/metadata/taskdefs", &taskdefs).await?;
        let simple =
            |r: String| json!({"name": TASK_TYPE, "taskReferenceName": r, "type": "SIMPLE"});
        let wf = |name: &str, tasks: Vec<Value>| {
            json!({
                "name": name,
                "version": 1,
                "schemaVersion": 2,
                "ownerEmail": "bench@example.com",
                "timeoutSeconds": 0,
                "tasks": tasks,
            })
        };
        let chain_tasks = (0..chain).map(|i| simple(format!("t{i}"))).collect();
        let fork = json!({
            "name": "fork",
            "taskReferenceName": "fork",
            "type": "FORK_JOIN",
            "forkTasks": (0..branches).map(|i| vec![simple(format!("b{i}"))]).collect::<Vec<_>>(),
        });
        let join = json!({
            "name": "join",
            "taskReferenceName": "join",
            "type": "JOIN",
            "joinOn": (0..branches).map(|i| format!("b{i}")).collect::<Vec<_>>(),
        });
        for def in [
            wf(CHAIN_WF, chain_tasks),
            wf(FANOUT_WF, vec![fork, join]),
            wf(SINGLE_WF, vec![simple("only".into())]),
        ] {
            self.post_json("/api/metadata/workflow?overwrite=true", &def)
                .await?;
        }
        Ok(())
    }

    async fn start(&self, name: &str) -> anyhow::Result<String> {
        let id = self
            .post_json(&format!("/api/workflow/{name}"), &json!({}))
            .await?;
        let id = id.trim().trim_matches('"').to_string();
        if id.is_empty() {
            bail!("start {name}: empty workflow id");
        }
        Ok(id)
    }

    async fn status(&self, id: &str) -> anyhow::Result<String> {
        let resp = self
            .client
            .get(format!(
                "{}/api/workflow/{id}?includeTasks=false",
                self.base
            ))
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            bail!("GET workflow {id}: {status}: {}", resp.text().await?);
        }
        let v: Value = resp.json().await?;
        Ok(v["status"].as_str().unwrap_or("").to_string())
    }

    async fn poll(
        &self,
        count: usize,
        timeout_ms: u64,
        worker: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let resp = self
            .client
            .get(format!(
                "{}/api/tasks/poll/batch/{TASK_TYPE}?count={count}&timeout={timeout_ms}&workerid={worker}",
                self.base
            ))
            .send()
            .await
            .context("batch poll")?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if status == reqwest::StatusCode::NO_CONTENT || bytes.is_empty() {
            return Ok(Vec::new());
        }
        if !status.is_success() {
            bail!("batch poll: {status}: {}", String::from_utf8_lossy(&bytes));
        }
        let v: Value = serde_json::from_slice(&bytes).context("batch poll body")?;
        match v {
            Value::Array(tasks) => Ok(tasks),
            other => bail!("batch poll: expected an array, got {other}"),
        }
    }

    async fn complete(&self, task: &Value, worker: &str) -> anyhow::Result<()> {
        let body = json!({
            "workflowInstanceId": task["workflowInstanceId"],
            "taskId": task["taskId"],
            "status": "COMPLETED",
            "outputData": {},
            "workerId": worker,
        });
        self.post_json("/api/tasks", &body).await.map(|_| ())
    }
}

// ---------------------------------------------------------------------------------------------
// Worker pool shared by W1 and W2

struct Progress {
    target: usize,
    completed: AtomicUsize,
    done: AtomicBool,
    /// Nanoseconds after `origin` at which the target-th ack arrived.
    last_ack_ns: AtomicU64,
    origin: Instant,
    error: Mutex<Option<String>>,
}

impl Progress {
    fn new(target: usize, origin: Instant) -> Arc<Self> {
        Arc::new(Self {
            target,
            completed: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            last_ack_ns: AtomicU64::new(0),
            origin,
            error: Mutex::new(None),
        })
    }

    fn fail(&self, e: anyhow::Error) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(format!("{e:#}"));
        }
        self.done.store(true, Ordering::SeqCst);
    }

    fn ack(&self) {
        let n = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.target {
            let ns = self.origin.elapsed().as_nanos() as u64;
            self.last_ack_ns.store(ns, Ordering::SeqCst);
            self.done.store(true, Ordering::SeqCst);
        }
    }
}

fn spawn_workers(
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

async fn wait_progress(progress: &Progress, deadline: Instant) -> anyhow::Result<Duration> {
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

// ---------------------------------------------------------------------------------------------
// Workloads

struct W1 {
    secs: f64,
    tasks_per_s: f64,
    workflows_per_s: f64,
    peak_rss_mib: f64,
    /// Server CPU (user + system) from the first start to the last ack, per task.
    cpu_us_per_task: f64,
}

async fn w1_chain(args: &Args, api: &Api, pid: u32, dir: &Path) -> anyhow::Result<W1> {
    let total = args.w1_workflows * args.w1_chain;
    let deadline = Instant::now() + Duration::from_secs(args.w1_deadline_secs);
    let origin = Instant::now();
    let progress = Progress::new(total, origin);
    let mut workers = if args.python_workers {
        JoinSet::new()
    } else if args.w1_update_v2 {
        w1v2::spawn_workers(api, &progress, args.workers, args.inflight, deadline)
    } else {
        spawn_workers(
            api,
            &progress,
            args.workers,
            args.batch,
            args.inflight,
            deadline,
        )
    };
    let python = if args.python_workers {
        let py = PythonWorkers::spawn(args, api, dir)?;
        // Let the interpreter and its worker processes start polling before the clock starts.
        tokio::time::sleep(Duration::from_secs(3)).await;
        Some(py)
    } else {
        None
    };
    // Starts, with bounded concurrency; the clock starts at the first start request.
    let sem = Arc::new(Semaphore::new(args.w1_start_concurrency.max(1)));
    let mut starts = JoinSet::new();
    let cpu_before = w1v2::cpu_micros(pid)?;
    let origin_start = Instant::now();
    for _ in 0..args.w1_workflows {
        let permit = sem.clone().acquire_owned().await?;
        let api = api.clone();
        starts.spawn(async move {
            let r = api.start(CHAIN_WF).await;
            drop(permit);
            r
        });
    }
    let mut ids = Vec::with_capacity(args.w1_workflows);
    while let Some(r) = starts.join_next().await {
        ids.push(r??);
    }
    let elapsed = if let Some(py) = python {
        let done_at = py.wait_all_completed(api, &ids, deadline).await?;
        done_at.saturating_duration_since(origin_start)
    } else {
        let at = wait_progress(&progress, deadline).await?;
        at.saturating_sub(origin_start - origin)
    };
    let cpu_used = w1v2::cpu_micros(pid)?.saturating_sub(cpu_before);
    workers.shutdown().await;
    let peak_rss_mib = mib(proc_status_kib(pid, "VmHWM")?);
    // Verify.
    let mut not_done = Vec::new();
    for chunk in ids.chunks(16) {
        let mut set = JoinSet::new();
        for id in chunk {
            let api = api.clone();
            let id = id.clone();
            set.spawn(async move { api.status(&id).await.map(|s| (id, s)) });
        }
        while let Some(r) = set.join_next().await {
            let (id, s) = r??;
            if s != "COMPLETED" {
                not_done.push(format!("{id}={s}"));
            }
        }
    }
    if !not_done.is_empty() {
        bail!(
            "W1: {} workflows not COMPLETED after the last ack: {:?}",
            not_done.len(),
            &not_done[..not_done.len().min(5)]
        );
    }
    let secs = elapsed.as_secs_f64();
    Ok(W1 {
        secs,
        tasks_per_s: total as f64 / secs,
        workflows_per_s: args.w1_workflows as f64 / secs,
        peak_rss_mib,
        cpu_us_per_task: cpu_used as f64 / total as f64,
    })
}

struct W2 {
    completed_ms: f64,
    last_ack_ms: f64,
}

async fn w2_fanout(args: &Args, api: &Api) -> anyhow::Result<W2> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let origin = Instant::now();
    let progress = Progress::new(args.w2_branches, origin);
    let mut workers = spawn_workers(
        api,
        &progress,
        args.workers,
        args.batch,
        args.inflight,
        deadline,
    );
    let t0 = Instant::now();
    let id = api.start(FANOUT_WF).await?;
    let last_ack = wait_progress(&progress, deadline).await?;
    workers.shutdown().await;
    loop {
        let s = api.status(&id).await?;
        match s.as_str() {
            "COMPLETED" => break,
            "RUNNING" | "PAUSED" => {}
            other => bail!("W2: workflow {id} is {other}"),
        }
        if Instant::now() > deadline {
            bail!("W2: workflow {id} not COMPLETED by the deadline");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(W2 {
        completed_ms: ms(t0.elapsed()),
        last_ack_ms: ms(last_ack.saturating_sub(t0 - origin)),
    })
}

struct W3 {
    p50: f64,
    p99: f64,
    max: f64,
}

async fn w3_latency(args: &Args, api: &Api) -> anyhow::Result<W3> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let worker = "bench-latency";
    let mut lat = Vec::with_capacity(args.w3_iterations);
    for i in 0..args.w3_iterations {
        if Instant::now() > deadline {
            bail!("W3: deadline exceeded after {i} iterations");
        }
        // The worker's long poll is issued first and left waiting in the server.
        let poller = api.clone();
        let mut poll = tokio::spawn(async move { poller.poll(1, 1000, worker).await });
        tokio::time::sleep(Duration::from_millis(3)).await;
        let t0 = Instant::now();
        let id = api.start(SINGLE_WF).await?;
        let task = loop {
            let mut tasks = (&mut poll).await??;
            if let Some(t) = tasks.pop() {
                break t;
            }
            if Instant::now() > deadline {
                bail!("W3: task of {id} never delivered");
            }
            let poller = api.clone();
            poll = tokio::spawn(async move { poller.poll(1, 1000, worker).await });
        };
        if task["workflowInstanceId"].as_str() != Some(id.as_str()) {
            bail!("W3: got a task of another workflow: {task}");
        }
        api.complete(&task, worker).await?;
        lat.push(ms(t0.elapsed()));
        if i % 50 == 0 || i + 1 == args.w3_iterations {
            let s = api.status(&id).await?;
            if s != "COMPLETED" {
                bail!("W3: workflow {id} is {s} right after the ack");
            }
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(W3 {
        p50: percentile(&lat, 50.0),
        p99: percentile(&lat, 99.0),
        max: *lat.last().unwrap_or(&f64::NAN),
    })
}

// ---------------------------------------------------------------------------------------------
// Optional: the official Python SDK as the W1 worker

struct PythonWorkers {
    child: Child,
}

const PY_WORKER: &str = r#"
import os
from conductor.client.automator.task_handler import TaskHandler
from conductor.client.configuration.configuration import Configuration
from conductor.client.worker.worker import Worker


def noop(task):
    return {}


def main():
    cfg = Configuration(server_api_url=os.environ["BATON_API"], debug=False)
    n = int(os.environ.get("BATON_WORKERS", "4"))
    workers = [
        Worker(task_definition_name="bench_noop", execute_function=noop, poll_interval=0.001)
        for _ in range(n)
    ]
    with TaskHandler(workers=workers, configuration=cfg, scan_for_annotated_workers=False) as h:
        h.start_processes()
        h.join_processes()


if __name__ == "__main__":
    main()
"#;

impl PythonWorkers {
    fn spawn(args: &Args, api: &Api, dir: &Path) -> anyhow::Result<Self> {
        let venv = args.python_venv.clone().unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/baton/compat-venv")
        });
        let python = venv.join("bin/python");
        if !python.exists() {
            bail!("--python-workers: {} not found", python.display());
        }
        // multiprocessing's spawn start method re-imports the script: it must be a file.
        let script = dir.join("bench_worker.py");
        std::fs::write(&script, PY_WORKER)?;
        let child = Command::new(python)
            .process_group(0)
            .arg(&script)
            .env("BATON_API", format!("{}/api", api.base))
            .env("BATON_WORKERS", args.workers.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(
                dir.join("python-worker.log"),
            )?))
            .stderr(Stdio::from(std::fs::File::create(
                dir.join("python-worker.err"),
            )?))
            .spawn()
            .context("spawning the Python worker")?;
        Ok(Self { child })
    }

    /// Python workers ack asynchronously, so completion is detected by polling statuses
    /// (every 20 ms); returns when the last workflow was seen COMPLETED.
    async fn wait_all_completed(
        self,
        api: &Api,
        ids: &[String],
        deadline: Instant,
    ) -> anyhow::Result<Instant> {
        let mut pending: Vec<String> = ids.to_vec();
        while !pending.is_empty() {
            if Instant::now() > deadline {
                bail!(
                    "W1 (python): {} workflows not COMPLETED by the deadline",
                    pending.len()
                );
            }
            let mut still = Vec::new();
            for id in pending {
                if api.status(&id).await? != "COMPLETED" {
                    still.push(id);
                }
            }
            pending = still;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(Instant::now())
    }
}

impl Drop for PythonWorkers {
    fn drop(&mut self) {
        // The SDK forks a process per worker: kill the whole process group.
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------

async fn run(mut args: Args) -> anyhow::Result<()> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("baton")))
        .unwrap_or_else(|| PathBuf::from("target/release/baton"));
    let server_bin = args.server_bin.get_or_insert(beside).clone();
    if !server_bin.exists() {
        bail!(
            "{} not found (build it with `cargo build --release -p baton`)",
            server_bin.display()
        );
    }
    let dir = args
        .work_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("baton-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let log = dir.join("server.log");
    let result = run_in(&args, &dir, &log).await;
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("server log kept in {}", log.display());
    }
    result
}

async fn run_in(args: &Args, dir: &Path, log: &Path) -> anyhow::Result<()> {
    let health = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .tcp_nodelay(true)
        .build()?;
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .pool_idle_timeout(Duration::from_secs(60))
        .timeout(Duration::from_secs(30))
        .build()?;

    // 1. Cold start.
    let cold_db = dir.join("cold.db");
    let mut fresh = Vec::new();
    let mut existing = Vec::new();
    let cold_runs = if args.only_w1 {
        0
    } else {
        args.cold_runs.max(1)
    };
    for _ in 0..cold_runs {
        remove_db(&cold_db);
        for out in [&mut fresh, &mut existing] {
            let t0 = Instant::now();
            let mut server = ServerProc::spawn(args, &cold_db, log)?;
            server
                .wait_healthy(&health, Duration::from_secs(10))
                .await?;
            out.push(ms(t0.elapsed()));
            server.stop();
        }
    }
    let cold_fresh = median(&mut fresh);
    let cold_existing = median(&mut existing);
    if !args.only_w1 {
        eprintln!("cold start: fresh {cold_fresh:.1} ms, existing {cold_existing:.1} ms");
    }

    // 2. Idle RSS.
    let db = dir.join("bench.db");
    remove_db(&db);
    let mut server = ServerProc::spawn(args, &db, log)?;
    server
        .wait_healthy(&health, Duration::from_secs(10))
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = server.pid();
    let idle_rss = mib(proc_status_kib(pid, "VmRSS")?);
    eprintln!("idle RSS: {idle_rss:.1} MiB (server pid {pid})");

    let api = Api {
        client,
        base: server.base.clone(),
    };
    api.register(args.w1_chain, args.w2_branches).await?;

    // 3. W1.
    let w1 = w1_chain(args, &api, pid, dir).await.context("W1")?;
    eprintln!(
        "W1: {} tasks in {:.3} s = {:.0} tasks/s",
        args.w1_workflows * args.w1_chain,
        w1.secs,
        w1.tasks_per_s
    );
    eprintln!("W1: server CPU {:.1} us/task", w1.cpu_us_per_task);
    let w1_worker = if args.python_workers {
        "python-sdk"
    } else if args.w1_update_v2 {
        "rust-update-v2"
    } else {
        "rust"
    };
    if args.only_w1 {
        server.stop();
        println!(
            "{}",
            json!({
                "sync": args.sync.as_str(),
                "workers": args.workers,
                "worker_kind": w1_worker,
                "batch": args.batch,
                "inflight": args.inflight,
                "w1_tasks": args.w1_workflows * args.w1_chain,
                "w1_secs": (w1.secs * 1000.0).round() / 1000.0,
                "w1_tasks_per_s": round2(w1.tasks_per_s),
                "w1_cpu_us_per_task": round2(w1.cpu_us_per_task),
                "w1_peak_rss_mib": round2(w1.peak_rss_mib),
            })
        );
        return Ok(());
    }
    // 4. W2.
    let w2 = w2_fanout(args, &api).await.context("W2")?;
    eprintln!("W2: {:.1} ms", w2.completed_ms);
    // 5. W3.
    let w3 = w3_latency(args, &api).await.context("W3")?;
    let final_rss = mib(proc_status_kib(pid, "VmHWM")?);
    server.stop();

    // 6. Summary.
    let worker_kind = w1_worker;
    println!();
    println!(
        "baton-bench  backend=sqlite  sync={}  workers={} ({worker_kind})  batch={}  inflight={}",
        args.sync.as_str(),
        args.workers,
        args.batch,
        args.inflight
    );
    println!("{:-<64}", "");
    let row = |k: &str, v: String| println!("{k:<44} {v:>19}");
    row(
        &format!("cold start, fresh db (median of {})", fresh.len()),
        format!("{cold_fresh:.1} ms"),
    );
    row(
        &format!("cold start, existing db (median of {})", existing.len()),
        format!("{cold_existing:.1} ms"),
    );
    row("idle RSS", format!("{idle_rss:.1} MiB"));
    row(
        &format!("W1 chain {}x{} wall", args.w1_workflows, args.w1_chain),
        format!("{:.3} s", w1.secs),
    );
    row(
        "W1 throughput, tasks",
        format!("{:.0} tasks/s", w1.tasks_per_s),
    );
    row(
        "W1 throughput, workflows",
        format!("{:.1} wf/s", w1.workflows_per_s),
    );
    row(
        "W1 server CPU per task",
        format!("{:.1} us/task", w1.cpu_us_per_task),
    );
    row("W1 peak RSS (VmHWM)", format!("{:.1} MiB", w1.peak_rss_mib));
    row(
        &format!("W2 fan-out {} branches, start->COMPLETED", args.w2_branches),
        format!("{:.1} ms", w2.completed_ms),
    );
    row("W2 start->last ack", format!("{:.1} ms", w2.last_ack_ms));
    row(
        &format!("W3 latency p50 ({} runs)", args.w3_iterations),
        format!("{:.2} ms", w3.p50),
    );
    row("W3 latency p99", format!("{:.2} ms", w3.p99));
    row("W3 latency max", format!("{:.2} ms", w3.max));
    row("peak RSS at end (VmHWM)", format!("{final_rss:.1} MiB"));
    println!("{:-<64}", "");
    let summary = json!({
        "backend": "sqlite",
        "sync": args.sync.as_str(),
        "workers": args.workers,
        "worker_kind": worker_kind,
        "batch": args.batch,
        "inflight": args.inflight,
        "cold_start_fresh_ms": round2(cold_fresh),
        "cold_start_existing_ms": round2(cold_existing),
        "idle_rss_mib": round2(idle_rss),
        "w1_workflows": args.w1_workflows,
        "w1_tasks": args.w1_workflows * args.w1_chain,
        "w1_secs": (w1.secs * 1000.0).round() / 1000.0,
        "w1_tasks_per_s": round2(w1.tasks_per_s),
        "w1_workflows_per_s": round2(w1.workflows_per_s),
        "w1_peak_rss_mib": round2(w1.peak_rss_mib),
        "w1_cpu_us_per_task": round2(w1.cpu_us_per_task),
        "w2_branches": args.w2_branches,
        "w2_ms": round2(w2.completed_ms),
        "w2_last_ack_ms": round2(w2.last_ack_ms),
        "w3_runs": args.w3_iterations,
        "w3_p50_ms": round2(w3.p50),
        "w3_p99_ms": round2(w3.p99),
        "w3_max_ms": round2(w3.max),
        "peak_rss_mib": round2(final_rss),
    });
    println!("{summary}");
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        // Dropping `run` on a signal drops its `ServerProc`, which kills the server.
        tokio::select! {
            r = run(args) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
            _ = term.recv() => Err(anyhow!("terminated")),
        }
    })
}
