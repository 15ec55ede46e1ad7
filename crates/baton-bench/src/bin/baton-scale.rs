//! `baton-scale`: how the engine's cost grows with a workflow's size (issue 10).
//!
//! Each run spawns a fresh `baton server` (own SQLite file, so peak RSS is per case), drives
//! one workload with a few worker loops, and reads the server's CPU time from
//! `/proc/<pid>/stat`. Cases: sequential chains, 20 in flight at a time (CPU per task), FORK_JOIN and
//! FORK_JOIN_DYNAMIC fan-outs (wall time start → COMPLETED), DO_WHILE loops with a one-task
//! body (CPU per iteration, peak RSS), with and without `keepLastN`. Figures are the median
//! of `--runs`; a case that misses `--deadline-secs` is reported as such and its larger
//! sizes are skipped.

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASK: &str = "scale_noop";
const CHILD: &str = "scale_child";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "baton-scale",
    about = "Measure Baton's cost per task as workflows grow"
)]
struct Args {
    #[arg(long, default_value = "target/release/baton")]
    server_bin: PathBuf,
    /// Runs per case (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A run slower than this is abandoned (and larger sizes of its case skipped).
    #[arg(long, default_value_t = 120)]
    deadline_secs: u64,
    /// Cases to run: chain, fork, dynamic, subflow, loop, loop-keep (comma separated).
    #[arg(long, default_value = "chain,fork,dynamic,subflow,loop,loop-keep")]
    cases: String,
    /// Tasks per chain case in total (workflows = this / steps).
    #[arg(long, default_value_t = 20_000)]
    chain_total: usize,
    #[arg(long, default_value = "10,100,1000")]
    chain_steps: String,
    #[arg(long, default_value = "100,1000,10000")]
    fan_out: String,
    /// Sub-workflows one parent starts at once (case subflow).
    #[arg(long, default_value = "10,100,1000")]
    children: String,
    #[arg(long, default_value = "100,1000,10000")]
    iterations: String,
    /// Chains in flight at once (a new batch starts when one completes), so every chain
    /// length runs at the same concurrency.
    #[arg(long, default_value_t = 20)]
    chain_concurrency: usize,
    /// Worker poll loops.
    #[arg(long, default_value_t = 4)]
    workers: usize,
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn spawn(bin: &Path, db: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(bin)
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--db")
            .arg(format!("sqlite://{}", db.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        Ok(Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// utime + stime in clock ticks.
    fn cpu_ticks(&self) -> anyhow::Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| -> anyhow::Result<u64> {
            Ok(fields.get(i).context("short /proc stat")?.parse()?)
        };
        Ok(field(11)? + field(12)?)
    }

    fn peak_rss_mib(&self) -> f64 {
        let text =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<String> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {}", &text[..text.len().min(300)]);
        }
        Ok(text)
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        for _ in 0..5000 {
            if let Ok(r) = self
                .client
                .get(format!("{}/health", self.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        bail!("server not healthy")
    }

    async fn register(&self, name: &str, tasks: Vec<Value>) -> anyhow::Result<()> {
        self.post(
            "/api/metadata/taskdefs",
            &json!([{"name": TASK, "ownerEmail": "b@example.com", "retryCount": 0,
                     "responseTimeoutSeconds": 600, "timeoutSeconds": 0}]),
        )
        .await?;
        // The child of the sub-workflow case: one worker task.
        let child = json!({"name": CHILD, "version": 1, "schemaVersion": 2,
                           "ownerEmail": "b@example.com", "tasks": [simple("only".into())]});
        self.post("/api/metadata/workflow?overwrite=true", &child)
            .await?;
        let wf = json!({"name": name, "version": 1, "schemaVersion": 2,
                        "ownerEmail": "b@example.com", "tasks": tasks});
        self.post("/api/metadata/workflow?overwrite=true", &wf)
            .await
            .map(|_| ())
    }

    async fn start(&self, name: &str, input: &Value) -> anyhow::Result<String> {
        let id = self.post(&format!("/api/workflow/{name}"), input).await?;
        Ok(id.trim().trim_matches('"').to_string())
    }

    async fn status(&self, id: &str) -> anyhow::Result<String> {
        // The status summary: the workflow row without its input (a dynamic fork's input
        // holds every branch).
        let url = format!("{}/api/workflow/{id}/status", self.base);
        let v: Value = self.client.get(url).send().await?.json().await?;
        Ok(v["status"].as_str().unwrap_or_default().to_string())
    }
}

fn simple(reference: String) -> Value {
    json!({"name": TASK, "taskReferenceName": reference, "type": "SIMPLE"})
}

/// Worker loops that complete every task of `TASK` until stopped.
fn spawn_workers(api: &Api, loops: usize, stop: &Arc<AtomicBool>, acks: &Arc<AtomicUsize>) {
    for w in 0..loops {
        let (api, stop, acks) = (api.clone(), stop.clone(), acks.clone());
        tokio::spawn(async move {
            let url = format!(
                "{}/api/tasks/poll/batch/{TASK}?count=32&timeout=100&workerid=w{w}",
                api.base
            );
            while !stop.load(Ordering::Relaxed) {
                let Ok(resp) = api.client.get(&url).send().await else {
                    continue;
                };
                let tasks: Vec<Value> = resp.json().await.unwrap_or_default();
                let mut set = tokio::task::JoinSet::new();
                for t in tasks {
                    let api = api.clone();
                    set.spawn(async move {
                        let body = json!({"workflowInstanceId": t["workflowInstanceId"],
                            "taskId": t["taskId"], "status": "COMPLETED", "outputData": {"n": 1}});
                        api.post("/api/tasks", &body).await
                    });
                }
                while let Some(r) = set.join_next().await {
                    if matches!(r, Ok(Ok(_))) {
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
}

struct Sample {
    wall_s: f64,
    cpu_us_per_unit: f64,
    peak_rss_mib: f64,
}

/// One run: fresh server, register, start `starts`, wait until all are COMPLETED.
async fn run_once(
    args: &Args,
    dir: &Path,
    tasks: Vec<Value>,
    starts: Vec<Value>,
    units: usize,
    batch: usize,
) -> anyhow::Result<Option<Sample>> {
    let db = dir.join("scale.db");
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", db.display()));
    }
    let server = Server::spawn(&args.server_bin, &db)?;
    let api = Api {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?,
        base: server.base.clone(),
    };
    api.wait_healthy().await?;
    api.register("scale_wf", tasks).await?;
    let (stop, acks) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let cpu0 = server.cpu_ticks()?;
    let t0 = Instant::now();
    spawn_workers(&api, args.workers, &stop, &acks);
    let deadline = t0 + Duration::from_secs(args.deadline_secs);
    for chunk in starts.chunks(batch.max(1)) {
        let started = Instant::now();
        let mut pending = Vec::new();
        for input in chunk {
            pending.push(api.start("scale_wf", input).await?);
        }
        while !pending.is_empty() {
            if Instant::now() > deadline {
                stop.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            let mut still = Vec::new();
            for id in pending {
                match api.status(&id).await?.as_str() {
                    "COMPLETED" => {}
                    "RUNNING" => still.push(id),
                    other => bail!("workflow {id} ended {other}"),
                }
            }
            pending = still;
            if !pending.is_empty() {
                // Reads of the whole workflow (with its input, which for a dynamic fork holds
                // every branch) every 2 ms cost the server more than the fork; the summary
                // leaves the input out, and a pause of 1% of the time waited so far keeps the
                // added wall time near 1%.
                let pause = (started.elapsed() / 100)
                    .clamp(Duration::from_millis(2), Duration::from_millis(100));
                tokio::time::sleep(pause).await;
            }
        }
    }
    let wall_s = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let ticks = server.cpu_ticks()? - cpu0;
    // Linux reports utime/stime in USER_HZ, which is 100 per second.
    let cpu_us = ticks as f64 * 10_000.0;
    Ok(Some(Sample {
        wall_s,
        cpu_us_per_unit: cpu_us / units.max(1) as f64,
        peak_rss_mib: server.peak_rss_mib(),
    }))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn sizes(list: &str) -> Vec<usize> {
    list.split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// The definition, the start inputs and the unit count of one case at one size.
fn workload(case: &str, size: usize, chain_total: usize) -> (Vec<Value>, Vec<Value>, usize) {
    match case {
        "chain" => {
            let wfs = (chain_total / size).max(1);
            let tasks = (0..size).map(|i| simple(format!("t{i}"))).collect();
            (tasks, vec![json!({}); wfs], wfs * size)
        }
        "fork" => {
            let branches: Vec<Vec<Value>> =
                (0..size).map(|i| vec![simple(format!("b{i}"))]).collect();
            let join_on: Vec<String> = (0..size).map(|i| format!("b{i}")).collect();
            let tasks = vec![
                json!({"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN", "forkTasks": branches}),
                json!({"name": "join", "taskReferenceName": "join", "type": "JOIN", "joinOn": join_on}),
            ];
            (tasks, vec![json!({})], size)
        }
        "dynamic" => {
            let tasks = vec![
                json!({"name": "dyn", "taskReferenceName": "dyn", "type": "FORK_JOIN_DYNAMIC",
                       "dynamicForkTasksParam": "dynamicTasks",
                       "dynamicForkTasksInputParamName": "dynamicTasksInput",
                       "inputParameters": {"dynamicTasks": "${workflow.input.tasks}",
                                           "dynamicTasksInput": "${workflow.input.inputs}"}}),
                json!({"name": "join", "taskReferenceName": "join", "type": "JOIN"}),
            ];
            let forked: Vec<Value> = (0..size).map(|i| simple(format!("d{i}"))).collect();
            (tasks, vec![json!({"tasks": forked, "inputs": {}})], size)
        }
        "subflow" => {
            let (tasks, _, _) = workload("dynamic", 0, chain_total);
            let forked: Vec<Value> = (0..size)
                .map(|i| {
                    json!({"name": CHILD, "taskReferenceName": format!("s{i}"),
                           "type": "SUB_WORKFLOW", "subWorkflowParam": {"name": CHILD, "version": 1}})
                })
                .collect();
            (tasks, vec![json!({"tasks": forked, "inputs": {}})], size)
        }
        _ => {
            let mut params = json!({});
            if case == "loop-keep" {
                params = json!({"keepLastN": 2});
            }
            let tasks = vec![
                json!({"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
                "inputParameters": params,
                "loopCondition": format!("$.loop['iteration'] < {size}"),
                "loopOver": [simple("step".into())]}),
            ];
            (tasks, vec![json!({})], size)
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("baton-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "case       size   wall_s  cpu_us/unit  peak_rss_MiB   (median of {})",
        args.runs
    );
    for case in args.cases.split(',').map(str::trim) {
        let list = match case {
            "chain" => sizes(&args.chain_steps),
            "fork" | "dynamic" => sizes(&args.fan_out),
            "subflow" => sizes(&args.children),
            _ => sizes(&args.iterations),
        };
        for size in list {
            let mut samples = Vec::new();
            let mut missed = false;
            for _ in 0..args.runs {
                let (tasks, starts, units) = workload(case, size, args.chain_total);
                let batch = if case == "chain" {
                    args.chain_concurrency
                } else {
                    starts.len()
                };
                match run_once(&args, &dir, tasks, starts, units, batch).await? {
                    Some(s) => samples.push(s),
                    None => {
                        missed = true;
                        break;
                    }
                }
            }
            if missed {
                println!(
                    "{case:<10} {size:>6}   > {}s (deadline)",
                    args.deadline_secs
                );
                break;
            }
            let wall = median(samples.iter().map(|s| s.wall_s).collect());
            let cpu = median(samples.iter().map(|s| s.cpu_us_per_unit).collect());
            let rss = median(samples.iter().map(|s| s.peak_rss_mib).collect());
            println!("{case:<10} {size:>6} {wall:>8.3} {cpu:>12.0} {rss:>13.1}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
