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

mod api;
mod pgdb;
mod python;
mod sdk;
mod search;
mod server;
mod w1v2;
mod workers;
mod workloads;

use api::*;
use python::*;
use server::*;
use workers::*;
use workloads::*;

const TASK_TYPE: &str = "bench_noop";
const CHAIN_WF: &str = "bench_chain";
const FANOUT_WF: &str = "bench_fanout";
const SINGLE_WF: &str = "bench_single";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "baton-bench",
    about = "Start a Baton server and measure cold start, RSS, throughput and latency"
)]
pub(crate) struct Args {
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
    /// W1: executions to fill the store with first (as the search workload does: a tenth
    /// terminated, the rest running with a task queued that no worker polls), to see how
    /// W1's cost grows with the size of the store.
    #[arg(long, default_value_t = 0)]
    w1_store_executions: usize,
    /// W1: abort after this many seconds.
    #[arg(long, default_value_t = 120)]
    w1_deadline_secs: u64,
    /// W2: fork branches.
    #[arg(long, default_value_t = 100)]
    w2_branches: usize,
    /// W3: sequential start-to-ack measurements.
    #[arg(long, default_value_t = 200)]
    w3_iterations: usize,
    /// Run only the search workload: fill `--search-executions` executions, then time each
    /// kind of search (first and deep page) and the queue sizes.
    #[arg(long)]
    only_search: bool,
    /// Search workload: executions to fill in.
    #[arg(long, default_value_t = 100_000)]
    search_executions: usize,
    /// Search workload: timed requests per kind of search.
    #[arg(long, default_value_t = 50)]
    search_runs: usize,
    /// Run on PostgreSQL: the URL of a database to connect to for creating the benchmark's
    /// own (`baton_bench_<pid>`, dropped at the end), e.g.
    /// `postgres://postgres@127.0.0.1:5432/postgres`. Cold start is then not measured.
    #[arg(long)]
    postgres: Option<String>,
    /// Keep the benchmark's database at the end (its name or path is printed), to look into
    /// the filled store (EXPLAIN) afterwards. Drop or delete it yourself.
    #[arg(long)]
    keep_db: bool,
    /// Baton nodes serving the database (more than one needs --postgres). W1's worker loops
    /// and starts are spread over them; W2 and W3 go through the first.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Directory for the temporary database files (default: the system temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Run W1 with the Rust worker SDK (`baton-worker`): `--workers` runners, each with
    /// `--inflight` tasks at once.
    #[arg(long)]
    sdk_workers: bool,
    /// Run W1 with the official Python SDK worker (needs the compat venv); optional.
    #[arg(long)]
    python_workers: bool,
    /// Directory of the Python venv with conductor-python (for --python-workers).
    #[arg(long, env = "BATON_COMPAT_VENV")]
    python_venv: Option<PathBuf>,
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
    if args.nodes > 1 && args.postgres.is_none() {
        bail!("--nodes above 1 needs --postgres (nodes share one database)");
    }
    let pg = match &args.postgres {
        Some(admin) => Some(pgdb::BenchDb::create(admin).await?),
        None => None,
    };
    let result = run_in(&args, &dir, &log, pg.as_ref().map(|d| d.url.as_str())).await;
    if let Some(db) = pg {
        if args.keep_db {
            eprintln!("database kept: {}", db.url);
        } else {
            db.drop_db().await;
        }
    }
    if result.is_ok() && args.keep_db && args.postgres.is_none() {
        eprintln!("database kept: {}", dir.join("bench.db").display());
    } else if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("server log kept in {}", log.display());
    }
    result
}

async fn run_in(args: &Args, dir: &Path, log: &Path, pg_url: Option<&str>) -> anyhow::Result<()> {
    let backend = if pg_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
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
    let cold_runs = if args.only_w1 || args.only_search || pg_url.is_some() {
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
    if cold_runs > 0 {
        eprintln!("cold start: fresh {cold_fresh:.1} ms, existing {cold_existing:.1} ms");
    }

    // 2. Idle RSS.
    let db = dir.join("bench.db");
    remove_db(&db);
    let db_url = pg_url.map_or_else(|| format!("sqlite://{}", db.display()), str::to_string);
    let mut server = ServerProc::spawn_on(args, &db_url, log)?;
    server
        .wait_healthy(&health, Duration::from_secs(10))
        .await?;
    let mut others = Vec::new();
    for _ in 1..args.nodes.max(1) {
        let mut node = ServerProc::spawn_on(args, &db_url, log)?;
        node.wait_healthy(&health, Duration::from_secs(10)).await?;
        others.push(node);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = server.pid();
    let idle_rss = mib(proc_status_kib(pid, "VmRSS")?);
    eprintln!("idle RSS: {idle_rss:.1} MiB (server pid {pid})");

    let api = Api {
        client,
        base: server.base.clone(),
    };
    api.register(args.w1_chain, args.w2_branches).await?;

    if args.only_search {
        let timed = search::search(args, &api, pg_url).await.context("search")?;
        server.stop();
        println!();
        println!(
            "baton-bench search  backend={backend}  executions={}  runs={}",
            args.search_executions, args.search_runs
        );
        println!("{:-<72}", "");
        println!("{:<48} {:>10} {:>10}", "request", "p50 ms", "p99 ms");
        for t in &timed {
            println!("{:<48} {:>10.2} {:>10.2}", t.name, t.p50, t.p99);
        }
        println!("{:-<72}", "");
        let rows: Vec<Value> = timed
            .iter()
            .map(|t| json!({"request": t.name, "p50_ms": round2(t.p50), "p99_ms": round2(t.p99)}))
            .collect();
        println!(
            "{}",
            json!({"backend": backend,
                "nodes": args.nodes, "executions": args.search_executions, "search": rows})
        );
        return Ok(());
    }

    // 3. W1, on a store filled first when asked.
    if args.w1_store_executions > 0 {
        search::fill_store(args, &api, pg_url, args.w1_store_executions)
            .await
            .context("filling the store")?;
    }
    let mut apis = vec![api.clone()];
    let mut pids = vec![pid];
    for node in &others {
        apis.push(Api {
            client: api.client.clone(),
            base: node.base.clone(),
        });
        pids.push(node.pid());
    }
    let w1 = w1_chain(args, &apis, &pids, dir).await.context("W1")?;
    eprintln!(
        "W1: {} tasks in {:.3} s = {:.0} tasks/s",
        args.w1_workflows * args.w1_chain,
        w1.secs,
        w1.tasks_per_s
    );
    eprintln!("W1: server CPU {:.1} us/task", w1.cpu_us_per_task);
    if let Some(db) = w1.db_cpu_us_per_task {
        eprintln!("W1: PostgreSQL CPU {db:.1} us/task");
    }
    let w1_worker = if args.python_workers {
        "python-sdk"
    } else if args.sdk_workers {
        "rust-sdk"
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
                "backend": backend,
                "nodes": args.nodes,
                "sync": args.sync.as_str(),
                "workers": args.workers,
                "worker_kind": w1_worker,
                "batch": args.batch,
                "inflight": args.inflight,
                "w1_store_executions": args.w1_store_executions,
                "w1_tasks": args.w1_workflows * args.w1_chain,
                "w1_secs": (w1.secs * 1000.0).round() / 1000.0,
                "w1_tasks_per_s": round2(w1.tasks_per_s),
                "w1_cpu_us_per_task": round2(w1.cpu_us_per_task),
                "w1_db_cpu_us_per_task": w1.db_cpu_us_per_task.map(round2),
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
        "baton-bench  backend={backend}  nodes={}  sync={}  workers={} ({worker_kind})  batch={}  inflight={}",
        args.nodes,
        args.sync.as_str(),
        args.workers,
        args.batch,
        args.inflight
    );
    println!("{:-<64}", "");
    let row = |k: &str, v: String| println!("{k:<44} {v:>19}");
    // Not measured on PostgreSQL (the database outlives the server there).
    if !fresh.is_empty() {
        row(
            &format!("cold start, fresh db (median of {})", fresh.len()),
            format!("{cold_fresh:.1} ms"),
        );
        row(
            &format!("cold start, existing db (median of {})", existing.len()),
            format!("{cold_existing:.1} ms"),
        );
    }
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
        "backend": backend,
                "nodes": args.nodes,
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
        "w1_db_cpu_us_per_task": w1.db_cpu_us_per_task.map(round2),
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
